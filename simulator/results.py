"""Run the model and write tidy results: metrics, personas, flows, manifest.

Files are written into a temporary folder next to the destination and
moved into place only when all of them are complete, so an interrupted
write never leaves a half-written result behind.
"""
from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from . import __version__
from .params import ParameterError

METRIC_COLUMNS = ["scenario", "replicate", "seed", "year", "metric", "group", "value"]
FLOW_COLUMNS = ["scenario", "replicate", "seed", "year", "home_pole", "work_pole", "mode", "commuters"]


class OutputError(ParameterError):
    """Results could not be written (disk full, permissions, ...); no partial result is left behind."""


def output_error(out: Path, exc: OSError, what: str = "writing the results") -> OutputError:
    code = errno.errorcode.get(exc.errno or 0, "")
    return OutputError(f"--out {out}: {what} failed: {exc.strerror or exc}" + (f" ({code})" if code else ""))


@dataclass
class RunResult:
    metrics: pd.DataFrame
    personas: pd.DataFrame
    flows: pd.DataFrame
    manifest: dict[str, Any]
    marginals: list[dict[str, Any]] = field(default_factory=list)
    territory: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Headline figures of the first and last year (overall group)."""
        m = self.metrics[self.metrics["group"] == "all"]
        years = sorted(m["year"].unique())
        first, last = years[0], years[-1]
        out: dict[str, Any] = {"scenario": self.manifest["scenario"], "seed": self.manifest["seed"],
                               "scale": self.manifest["scale"], "first_year": int(first),
                               "last_year": int(last), "metrics": {}}
        for name, grp in m.groupby("metric", sort=True):
            v = grp.set_index("year")["value"]
            out["metrics"][name] = {"first": float(v.get(first, float("nan"))),
                                    "last": float(v.get(last, float("nan")))}
        return out


def git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def run(scenario: str = "baseline", scale: float = 0.01, seed: int = 1, replicate: int = 0,
        start_year: int | None = None, end_year: int | None = None, strict: bool = False,
        overrides: dict[str, dict[str, Any]] | None = None,
        progress: Callable[[int], None] | None = None, **kwargs) -> RunResult:
    """Run one scenario and return its tidy tables as DataFrames.

    >>> res = run("baseline", scale=0.01, seed=1)   # doctest: +SKIP
    >>> res.metrics.query("metric == 'population' and group == 'all'")
    """
    from .model import FabriqueModel
    t0 = time.perf_counter()
    model = FabriqueModel(scenario=scenario, scale=scale, seed=seed, replicate=replicate,
                          start_year=start_year, end_year=end_year, strict=strict, overrides=overrides, **kwargs)
    if progress:
        progress(model.year)
    while model.running:
        model.step()
        if progress:
            progress(model.year)
    res = collect_result(model, time.perf_counter() - t0)
    release_model(model)
    return res


def release_model(model) -> None:
    """Let a finished model be garbage-collected.

    mesa 3.3 keeps every model ever built alive through the class-level
    ``Agent._ids`` counter keyed by model (mesa issue #3179, fixed upstream
    by PR #3180), so a sweep worker running hundreds of runs would grow
    without bound (tests/test_memory.py); drop that reference.
    """
    import mesa
    ids = getattr(mesa.Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)


def collect_result(model, wall_s: float) -> RunResult:
    name = model.scenario.name
    met = pd.DataFrame(model.metric_rows, columns=["year", "metric", "group", "value"])
    met.insert(0, "seed", model.seed)
    met.insert(0, "replicate", model.replicate)
    met.insert(0, "scenario", name)
    met = met[METRIC_COLUMNS]
    met["year"] = met["year"].astype("int32")
    per = pd.DataFrame(model.persona_rows)
    per.insert(0, "seed", model.seed)
    per.insert(0, "replicate", model.replicate)
    per.insert(0, "scenario", name)
    flows = pd.DataFrame(model.flow_rows, columns=["year", "home_pole", "work_pole", "mode", "commuters"])
    flows.insert(0, "seed", model.seed)
    flows.insert(0, "replicate", model.replicate)
    flows.insert(0, "scenario", name)
    manifest = {
        "package": "fabrique2040", "version": __version__, "git_commit": git_commit(),
        "scenario": name, "scenario_chain": model.scenario.chain, "scenario_path": model.scenario.path,
        "scenario_hash": model.scenario_hash, "seed": model.seed, "replicate": model.replicate,
        "scale": model.scale, "start_year": model.start_year, "end_year": model.end_year,
        "engagements": sorted(model.scenario.engagements),
        "persons_rows": int(model.persons.n), "households_rows": int(model.households.n),
        "rake_iterations": model.rake_iterations, "rake_max_rel_error": model.rake_max_rel_error,
        "wall_time_s": {k: round(v, 4) for k, v in model.timings.items()},
        "wall_time_total_s": round(wall_s, 4), "python": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return RunResult(metrics=met, personas=per, flows=flows, manifest=manifest, marginals=model.marginals(),
                     territory=territory_snapshot(model.territory))


def territory_snapshot(terr) -> dict[str, Any]:
    """Poles, road links and transit lines as plain data, for maps in the report."""
    road = [{"from": terr.ids[int(a)], "to": terr.ids[int(b)], "capacity_veh_h": float(c), "name": n}
            for k, (a, b, c, n) in enumerate(zip(terr.road_from, terr.road_to, terr.road_capacity_veh_h,
                                                 terr.road_name)) if k % 2 == 0]
    return {
        "poles": [{"id": i, "name": n, "lat": float(la), "lon": float(lo), "population": float(p), "kind": k}
                  for i, n, la, lo, p, k in zip(terr.ids, terr.names, terr.lat, terr.lon, terr.population,
                                                terr.kind)],
        "road": road,
        "transit": [{"id": ln.id, "name": ln.name, "mode": ln.mode, "stops": [terr.ids[int(s)] for s in ln.stops],
                     "headway_min": float(ln.headway_min), "opened": int(ln.opened)} for ln in terr.lines],
    }


def check_writable(out: Path) -> None:
    """Fail before running if the output folder cannot be created or written (nothing is left behind)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {out}: exists and is not a folder")
    anc = out
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise ParameterError(f"--out {out}: {anc} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=anc):
            pass
    except OSError as exc:
        raise ParameterError(f"--out {out}: folder {anc} is not writable ({exc.strerror})") from None


def write_result(res: RunResult, out: Path) -> Path:
    """Write metrics.parquet, personas.parquet, flows.parquet and manifest.json atomically."""
    out = Path(out)
    top = None                              # the first folder this call creates (removed again on failure)
    if not out.exists():
        top = out
        while not top.parent.exists():
            top = top.parent
    tmp = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".writing-", dir=out))
        res.metrics.to_parquet(tmp / "metrics.parquet", index=False)
        res.personas.to_parquet(tmp / "personas.parquet", index=False)
        res.flows.to_parquet(tmp / "flows.parquet", index=False)
        (tmp / "marginals.json").write_text(json.dumps(res.marginals, indent=1))
        (tmp / "territory.json").write_text(json.dumps(res.territory, indent=1, ensure_ascii=False))
        (tmp / "manifest.json").write_text(json.dumps(res.manifest, indent=1, sort_keys=True))
        for f in ("metrics.parquet", "personas.parquet", "flows.parquet", "marginals.json", "territory.json",
                  "manifest.json"):
            os.replace(tmp / f, out / f)
    except OSError as exc:                  # disk full, quota, permissions: one clear error, nothing half-written
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if top is not None:
            shutil.rmtree(top, ignore_errors=True)
        raise output_error(out, exc) from exc
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_result(folder: Path) -> RunResult:
    folder = Path(folder)
    if not (folder / "metrics.parquet").exists():
        raise ParameterError(f"{folder}: no metrics.parquet here (not a run folder)")
    man = json.loads((folder / "manifest.json").read_text())
    flows = pd.read_parquet(folder / "flows.parquet") if (folder / "flows.parquet").exists() else \
        pd.DataFrame(columns=FLOW_COLUMNS)
    marg = json.loads((folder / "marginals.json").read_text()) if (folder / "marginals.json").exists() else []
    terr = json.loads((folder / "territory.json").read_text()) if (folder / "territory.json").exists() else {}
    return RunResult(metrics=pd.read_parquet(folder / "metrics.parquet"),
                     personas=pd.read_parquet(folder / "personas.parquet"), flows=flows, manifest=man,
                     marginals=marg, territory=terr)
