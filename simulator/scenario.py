"""Scenario files: schema, `extends`, parameter overrides, validation on load.

A scenario is a TOML file in `scenarios/` (or any path)::

    name = "transit_doubling"
    description = "Engagement 2: ..."
    description_fr = "Engagement 2 : ..."
    extends = "baseline"            # optional, a shipped name or a path

    [params.demography]             # plain-value overrides of any model parameter
    net_migration = { value = 0, source = "assumption: ..." }

    [engagements.e2_transit]        # engagement levers (see simulator.engagements)
    start_year = 2018
    ...

Every override is checked against the parameter's declared unit and range;
unknown keys, processes or engagements are refused with one message naming
the file, the key and what is allowed. Nothing runs before the whole
scenario (and everything it extends) has been validated.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .params import ParameterError, check_override, check_source, data_root, read_toml

TOP_KEYS = {"name", "description", "description_fr", "extends", "params", "engagements",
            "start_year", "end_year"}


def scenarios_dir() -> Path:
    return data_root() / "scenarios"


def process_specs() -> dict[str, dict]:
    """Parameter specs of every process, keyed by parameter-file name."""
    import importlib
    import importlib.util
    from .population import POP_SPECS
    from .processes import demography
    specs = {"population": POP_SPECS, "demography": demography.SPECS}
    for name in ("economy", "labour", "housing", "mobility"):
        if importlib.util.find_spec(f"simulator.processes.{name}") is None:
            continue
        specs[name] = importlib.import_module(f"simulator.processes.{name}").SPECS
    return specs


def engagement_specs() -> dict[str, Any]:
    import importlib
    import importlib.util
    if importlib.util.find_spec("simulator.engagements") is None:
        return {}
    return importlib.import_module("simulator.engagements").ENGAGEMENTS


@dataclass
class Scenario:
    name: str
    description: str
    description_fr: str
    path: str
    chain: list[str]                                    # names from the root to this scenario
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)   # process -> key -> value
    override_sources: dict[str, dict[str, str]] = field(default_factory=dict)
    engagements: dict[str, dict[str, Any]] = field(default_factory=dict)
    start_year: int = 2017
    end_year: int = 2040

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "chain": self.chain,
                "overrides": self.overrides, "engagements": self.engagements,
                "start_year": self.start_year, "end_year": self.end_year}


NOT_SCENARIOS = {"engagements"}  # data files living beside the scenarios


def list_scenarios() -> list[Path]:
    return sorted(p for p in scenarios_dir().glob("*.toml") if p.stem not in NOT_SCENARIOS)


def resolve_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" and p.exists():
        return p
    shipped = scenarios_dir() / f"{name_or_path}.toml"
    if shipped.exists() and name_or_path not in NOT_SCENARIOS:
        return shipped
    names = [q.stem for q in list_scenarios()]
    if p.suffix == ".toml":
        raise ParameterError(f"scenario file '{name_or_path}' not found")
    raise ParameterError(f"unknown scenario '{name_or_path}'; shipped scenarios: {names} "
                         f"(or give the path of a .toml scenario file)")


def load_scenario(name_or_path: str = "baseline", _seen: tuple[str, ...] = ()) -> Scenario:
    path = resolve_path(name_or_path)
    where = str(path)
    if str(path.resolve()) in _seen:
        raise ParameterError(f"{where}: 'extends' forms a cycle: {' -> '.join(_seen)}")
    data = read_toml(path)
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise ParameterError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(TOP_KEYS)}")
    for key in ("name", "description"):
        if not isinstance(data.get(key), str) or not data.get(key):
            raise ParameterError(f"{where}: key '{key}' is required and must be a non-empty string")
    base: Scenario | None = None
    if data.get("extends"):
        if not isinstance(data["extends"], str):
            raise ParameterError(f"{where}: key 'extends' must be a scenario name or path")
        ext = data["extends"]
        ext_path = Path(ext) if Path(ext).suffix == ".toml" and not Path(ext).is_absolute() and \
            (path.parent / ext).exists() else None
        target = str(path.parent / ext) if ext_path else ext
        try:
            resolve_path(target)
        except ParameterError as exc:
            raise ParameterError(f"{where}: key 'extends': {exc}") from None
        base = load_scenario(target, _seen + (str(path.resolve()),))
    sc = Scenario(name=data["name"], description=data["description"],
                  description_fr=data.get("description_fr", data["description"]), path=where,
                  chain=(base.chain if base else []) + [data["name"]],
                  overrides={k: dict(v) for k, v in (base.overrides if base else {}).items()},
                  override_sources={k: dict(v) for k, v in (base.override_sources if base else {}).items()},
                  engagements={k: dict(v) for k, v in (base.engagements if base else {}).items()},
                  start_year=base.start_year if base else 2017, end_year=base.end_year if base else 2040)
    for key in ("start_year", "end_year"):
        if key in data:
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, int) or not 2017 <= v <= 2060:
                raise ParameterError(f"{where}: key '{key}' must be a year in [2017, 2060], got {v!r}")
            setattr(sc, key, v)
    if sc.end_year <= sc.start_year:
        raise ParameterError(f"{where}: end_year {sc.end_year} must be after start_year {sc.start_year}")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise ParameterError(f"{where}: 'params' must be a table of processes")
    specs = process_specs()
    for proc, table in params.items():
        if proc not in specs:
            raise ParameterError(f"{where}: unknown process 'params.{proc}'; allowed: {sorted(specs)}")
        if not isinstance(table, dict):
            raise ParameterError(f"{where}: 'params.{proc}' must be a table")
        for key, entry in table.items():
            loc = f"{where}: params.{proc}"
            if not isinstance(entry, dict) or set(entry) != {"value", "source"}:
                raise ParameterError(f"{loc}: key '{key}' must be a table {{ value = ..., source = \"...\" }}")
            check_source(entry["source"], f"{loc}: key '{key}'")
            val = check_override(key, entry["value"], specs[proc], loc)
            sc.overrides.setdefault(proc, {})[key] = val
            sc.override_sources.setdefault(proc, {})[key] = entry["source"]
    engs = data.get("engagements", {})
    if not isinstance(engs, dict):
        raise ParameterError(f"{where}: 'engagements' must be a table of engagements")
    allowed = engagement_specs()
    for eid, table in engs.items():
        if eid not in allowed:
            raise ParameterError(f"{where}: unknown engagement 'engagements.{eid}'; allowed: {sorted(allowed)}")
        sc.engagements[eid] = allowed[eid].validate(table, f"{where}: engagements.{eid}")
    return sc


def resolved_params(scenario: Scenario) -> dict[str, dict[str, Any]]:
    """Default parameter files of every process with the scenario's overrides applied."""
    from .params import load_params, params_dir
    out = {}
    for proc, specs in process_specs().items():
        vals = load_params(params_dir() / f"{proc}.toml", specs)
        vals.update(scenario.overrides.get(proc, {}))
        out[proc] = vals
    return out


def scenario_hash(scenario: Scenario, params: dict[str, dict[str, Any]]) -> str:
    blob = json.dumps({"scenario": scenario.to_dict(), "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
