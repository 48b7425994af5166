"""Load one or many result folders into one bundle of tidy tables.

Accepted inputs: run folders (holding ``metrics.parquet``), folders that
contain run folders at any depth (sweeps, ``DIR/runs/<run_id>/``), or a mix.
Metrics, personas and flows are concatenated; manifests, stories and
contributions are kept per run. The territory (poles, roads, transit lines)
comes from the first ``territory.json`` found; failing that, from the
territory data files of the repository (``scenarios/territory/*.toml``).

Nothing here imports the model: the report is built from results only.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..params import ParameterError
from ..results import FLOW_COLUMNS, METRIC_COLUMNS


@dataclass
class ReportData:
    metrics: pd.DataFrame
    personas: pd.DataFrame
    flows: pd.DataFrame
    manifests: list[dict[str, Any]]
    territory: dict[str, Any] | None
    stories: dict[tuple[str, int], dict[str, dict[str, str]]] = field(default_factory=dict)
    contributions: list[dict[str, Any]] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)

    @property
    def scenarios(self) -> list[str]:
        seen: list[str] = []
        for s in list(self.metrics["scenario"].astype(str).unique()):
            if s not in seen:
                seen.append(s)
        return seen

    @property
    def last_year(self) -> int:
        return int(self.metrics["year"].max())

    @property
    def first_year(self) -> int:
        return int(self.metrics["year"].min())

    def has(self, metric: str) -> bool:
        return metric in self._metric_set

    def __post_init__(self) -> None:
        self._metric_set = set(self.metrics["metric"].astype(str).unique()) if len(self.metrics) else set()


def find_run_folders(inputs: list[Path] | Path) -> list[Path]:
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    out: list[Path] = []
    for p in inputs:
        p = Path(p)
        if not p.exists():
            raise ParameterError(f"{p}: no such result folder")
        if p.is_file():
            if p.name == "metrics.parquet":
                p = p.parent
            else:
                raise ParameterError(f"{p}: expected a result folder (with metrics.parquet), got a file")
        if (p / "metrics.parquet").exists():
            out.append(p)
        else:
            found = sorted({m.parent for m in p.rglob("metrics.parquet") if ".writing-" not in str(m)})
            if not found:
                raise ParameterError(f"{p}: no metrics.parquet in this folder or below (not a result folder)")
            out.extend(found)
    uniq: list[Path] = []
    for f in out:
        if f.resolve() not in {u.resolve() for u in uniq}:
            uniq.append(f)
    return uniq


def _read_json(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ParameterError(f"{path}: unreadable JSON ({exc})") from exc


def territory_from_repo() -> dict[str, Any] | None:
    """Fallback: read poles and links from scenarios/territory/*.toml (data files, not the model)."""
    root = Path(__file__).resolve().parents[2] / "scenarios" / "territory"
    try:
        poles = tomllib.loads((root / "poles.toml").read_text(encoding="utf-8"))
        links = tomllib.loads((root / "links.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return {
        "poles": [{k: p.get(k) for k in ("id", "name", "lat", "lon", "population", "kind")}
                  for p in poles.get("pole", [])],
        "road": [{k: r.get(k) for k in ("from", "to", "capacity_veh_h")} for r in links.get("road", [])],
        "transit": [{k: r.get(k) for k in ("id", "name", "mode", "stops")} for r in links.get("transit", [])],
        "source": "scenarios/territory (repository data files)",
    }


def load(inputs: list[Path] | Path, territory_fallback: bool = True) -> ReportData:
    folders = find_run_folders(inputs)
    mets, pers, flows, mans = [], [], [], []
    territory = None
    stories: dict[tuple[str, int], dict] = {}
    contrib: list[dict[str, Any]] = []
    for f in folders:
        m = pd.read_parquet(f / "metrics.parquet")
        missing = [c for c in METRIC_COLUMNS if c not in m.columns]
        if missing:
            raise ParameterError(f"{f / 'metrics.parquet'}: missing columns {missing}")
        man = _read_json(f / "manifest.json", {})
        man = dict(man)
        man.setdefault("scenario", str(m["scenario"].iloc[0]) if len(m) else f.name)
        man.setdefault("seed", int(m["seed"].iloc[0]) if len(m) else None)
        man.setdefault("replicate", int(m["replicate"].iloc[0]) if len(m) else 0)
        man["_folder"] = str(f)
        mans.append(man)
        mets.append(m[METRIC_COLUMNS])
        if (f / "personas.parquet").exists():
            pers.append(pd.read_parquet(f / "personas.parquet"))
        if (f / "flows.parquet").exists():
            fl = pd.read_parquet(f / "flows.parquet")
            if all(c in fl.columns for c in FLOW_COLUMNS):
                flows.append(fl[FLOW_COLUMNS])
        if territory is None and (f / "territory.json").exists():
            territory = _read_json(f / "territory.json", None)
        st = _read_json(f / "stories.json", None)
        if st:
            stories[(str(man["scenario"]), int(man.get("replicate") or 0))] = st
        c = _read_json(f / "contributions.json", None)
        if c:
            for row in (c if isinstance(c, list) else c.get("contributions", [])):
                row = dict(row)
                row.setdefault("scenario", man["scenario"])
                contrib.append(row)
    coverage: dict[str, Any] = {}
    for extra in {p for p in ([inputs] if isinstance(inputs, (str, Path)) else inputs)}:
        # contributions.json / territory.json may also sit at the top of a sweep folder
        ep = Path(extra)
        if ep.is_dir() and not (ep / "metrics.parquet").exists():
            if territory is None and (ep / "territory.json").exists():
                territory = _read_json(ep / "territory.json", None)
            cov = _read_json(ep / "coverage.json", None)
            if cov and not coverage:
                coverage = cov
            c = _read_json(ep / "contributions.json", None)
            if c and not contrib:
                contrib.extend(c if isinstance(c, list) else c.get("contributions", []))
    if territory is None and territory_fallback:
        territory = territory_from_repo()
    metrics = pd.concat(mets, ignore_index=True)
    metrics = metrics.drop_duplicates(subset=["scenario", "replicate", "seed", "year", "metric", "group"])
    metrics["scenario"] = metrics["scenario"].astype(str)
    metrics["group"] = metrics["group"].astype(str)
    metrics["metric"] = metrics["metric"].astype(str)
    metrics["year"] = metrics["year"].astype(int)
    metrics["value"] = pd.to_numeric(metrics["value"], errors="coerce")
    personas = pd.concat(pers, ignore_index=True) if pers else pd.DataFrame()
    if len(personas):
        personas = personas.drop_duplicates(subset=[c for c in ("scenario", "replicate", "seed", "year", "persona")
                                                     if c in personas.columns])
    fl = pd.concat(flows, ignore_index=True) if flows else pd.DataFrame(columns=FLOW_COLUMNS)
    return ReportData(metrics=metrics, personas=personas, flows=fl, manifests=mans, territory=territory,
                      stories=stories, contributions=contrib, folders=folders, coverage=coverage)
