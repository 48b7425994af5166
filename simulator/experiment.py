"""Experiment files: scenarios x parameter design x replicates x outputs.

An experiment is a TOML file (``experiments/*.toml``)::

    name = "transit_doubling_sweep"
    description = "..."
    seed = 2040                 # experiment seed: every run's seed derives from it
    scale = 0.01                # fraction of the real population
    replicates = 10
    end_year = 2040             # optional (default: the scenario's)
    scenarios = ["baseline"]    # shipped names or paths of scenario files

    [design]
    type = "grid"               # none | grid | lhs | sobol | morris
    levels = 3                  # grid: points per low/high range; morris: grid levels
    n = 64                      # lhs: points; sobol: base sample N; morris: trajectories

    [design.parameters."demography.fertility_factor"]
    low = 0.9
    high = 1.3
    unit = "1"                  # must equal the parameter's declared unit
    # or: values = [0.9, 1.1, 1.3]   (grid only)

    [outputs]                   # optional
    metrics = ["population"]    # keep only these metrics (default: all)
    tables = ["metrics", "personas", "flows"]

    [analysis]                  # optional: what `fabrique results` analyses
    outcomes = ["population"]
    year = 2040
    group = "all"

Parameters are addressed ``process.key`` (any key of
``simulator.scenario.process_specs()``) or ``engagement.<id>.<key>`` for an
engagement of ``simulator.engagements.ENGAGEMENTS``: key ``start_year``
(unit "yr"), ``ramp_years`` ("yr"), ``intensity`` ("1", 0..2) or
``levers.<process.key>`` (the lever's value; unit of the lever). A design
point that sets an engagement key switches that engagement on in the run's
scenario (on top of the scenario's own timeline for it). Everything is validated on
load -- structure, names, units, ranges against the declared specs -- and any
problem raises one :class:`~simulator.params.ParameterError` naming the
file, the key and what is allowed. Designs use ``scipy.stats.qmc`` (Latin
hypercube) and SALib (Sobol/Saltelli, Morris); nothing is sampled by hand.

Seeds (common random numbers): the seed of replicate ``r`` is
``SeedSequence(seed).spawn(replicates)[r]`` turned into one 32-bit integer
(``generate_state(1)[0]``). It does not depend on the scenario or on the
design point (``seeds = "common"``, the default), so paired differences
between scenarios and between design points compare like with like; with
``seeds = "per_point"`` point ``p`` uses the child ``spawn_key = (p, r)``.
Seeds never depend on the number of workers or on the backend.
"""
from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .params import ParameterError, read_toml

FABRIQUE = "fabrique"
TABLES = ("metrics", "personas", "flows")


# --------------------------------------------------------------------------- schema
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParamRange(_Strict):
    """One design parameter: a range (low, high) or a list of values (grid only)."""

    low: float | None = None
    high: float | None = None
    values: list[Any] | None = None
    unit: str


class Design(_Strict):
    type: Literal["none", "grid", "lhs", "sobol", "morris"] = "none"
    n: int | None = Field(None, ge=1, le=1_000_000)
    levels: int | None = Field(None, ge=2, le=100)
    second_order: bool = False
    parameters: dict[str, ParamRange] = Field(default_factory=dict)


class Outputs(_Strict):
    metrics: list[str] | None = None
    tables: list[Literal["metrics", "personas", "flows"]] = Field(default_factory=lambda: list(TABLES))


class Analysis(_Strict):
    outcomes: list[str] = Field(default_factory=list)
    year: int | None = None
    group: str = "all"
    baseline: str | None = None


class ExperimentFile(_Strict):
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    seed: int = Field(ge=0, le=2**63 - 1)
    scale: float = Field(gt=0, le=1)
    replicates: int = Field(1, ge=1, le=100_000)
    start_year: int | None = Field(None, ge=2017, le=2060)
    end_year: int | None = Field(None, ge=2017, le=2060)
    scenarios: list[str] = Field(default_factory=lambda: ["baseline"], min_length=1)
    model: str = FABRIQUE
    seeds: Literal["common", "per_point"] = "common"
    strict: bool = False
    design: Design = Field(default_factory=Design)
    outputs: Outputs = Field(default_factory=Outputs)
    analysis: Analysis = Field(default_factory=Analysis)


# --------------------------------------------------------------------------- resolved experiment
@dataclass
class Parameter:
    """A validated design parameter."""

    name: str                 # "process.key" or "engagement.<id>.<key>"
    unit: str
    low: float | None
    high: float | None
    values: list[Any] | None
    kind: str = "number"      # number | int | other (grid values only)

    @property
    def target(self) -> tuple[str, ...]:
        return tuple(self.name.split("."))


@dataclass
class Experiment:
    spec: ExperimentFile
    path: str
    parameters: list[Parameter] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    def to_dict(self) -> dict[str, Any]:
        return self.spec.model_dump(mode="json", exclude_none=True)

    def to_toml(self) -> str:
        import tomli_w
        return tomli_w.dumps(self.to_dict())

    def hash(self) -> str:
        """Identity of the experiment (what a store's runs belong to)."""
        blob = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def with_overrides(self, scale: float | None = None) -> "Experiment":
        if scale is None:
            return self
        if not 0 < scale <= 1:
            raise ParameterError(f"--scale must be in (0, 1] (fraction of the real population), got {scale}")
        out = copy.deepcopy(self)
        out.spec.scale = float(scale)
        return out


def _fmt_errors(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            parts.append(f"unknown key '{loc}'")
        elif e["type"] == "missing":
            parts.append(f"key '{loc}' is required")
        else:
            parts.append(f"key '{loc}': {e['msg']}" + (f" (got {e['input']!r})" if "input" in e else ""))
    return "; ".join(parts)


def engagement_registry() -> dict[str, Any] | None:
    if importlib.util.find_spec("simulator.engagements") is None:
        return None
    mod = importlib.import_module("simulator.engagements")
    return getattr(mod, "ENGAGEMENTS", None)


TIMELINE_SPECS = {"start_year": ("yr", 2017, 2060, "int"), "ramp_years": ("yr", 0, 40, "int"),
                  "intensity": ("1", 0, 2, "number")}


def _engagement_spec(name: str, where: str) -> Any:
    """Spec of 'engagement.<id>.<start_year|ramp_years|intensity>' or 'engagement.<id>.levers.<process.key>'."""
    from .params import spec
    from .scenario import process_specs
    parts = name.split(".")
    reg = engagement_registry()
    if reg is None:
        raise ParameterError(f"{where}: engagement levers ('{name}') need simulator.engagements, which this "
                             f"version does not have; address model parameters as 'process.key'")
    if len(parts) < 3:
        raise ParameterError(f"{where}: engagement parameters are addressed 'engagement.<id>.<key>' with key "
                             f"start_year, ramp_years, intensity or levers.<process.key>; got '{name}'")
    try:
        known = sorted(reg)
    except ParameterError as exc:
        raise ParameterError(f"{where}: cannot read the engagement catalogue: {exc}") from None
    eid, key = parts[1], ".".join(parts[2:])
    if eid not in known:
        raise ParameterError(f"{where}: unknown engagement '{eid}'; allowed: {known}")
    if key in TIMELINE_SPECS:
        unit, lo, hi, kind = TIMELINE_SPECS[key]
        return spec(unit, lo, hi, kind=kind)
    levers = {lv.target: lv for lv in getattr(reg[eid], "levers", [])}
    if not key.startswith("levers.") or key[len("levers."):] not in levers:
        raise ParameterError(f"{where}: unknown key '{key}' of engagement '{eid}'; allowed: "
                             f"{sorted(TIMELINE_SPECS) + ['levers.' + t for t in sorted(levers)]}")
    lv = levers[key[len("levers."):]]
    if lv.mode == "set" and lv.entry is None:
        return process_specs()[lv.process][lv.key]
    return spec(lv.unit)


def _spec_of(name: str, where: str) -> Any:
    """The declared Spec of a design parameter, or a clear error."""
    from .scenario import process_specs
    parts = name.split(".")
    if parts[0] in ("engagement", "engagements"):
        return _engagement_spec(name, where)
    specs = process_specs()
    if len(parts) != 2:
        raise ParameterError(f"{where}: parameters are addressed 'process.key' (or 'engagement.<id>.<key>'), "
                             f"got '{name}'; processes: {sorted(specs)}")
    proc, key = parts
    if proc not in specs:
        raise ParameterError(f"{where}: unknown process '{proc}'; allowed: {sorted(specs)}")
    if key not in specs[proc]:
        raise ParameterError(f"{where}: unknown parameter '{key}' of process '{proc}'; allowed: {sorted(specs[proc])}")
    return specs[proc][key]


def _check_parameter(name: str, pr: ParamRange, dtype: str, model: str, file: str) -> Parameter:
    where = f"{file}: design.parameters.'{name}'"
    has_range = pr.low is not None or pr.high is not None
    if has_range and pr.values is not None:
        raise ParameterError(f"{where}: give either low/high or values, not both")
    if not has_range and pr.values is None:
        raise ParameterError(f"{where}: give low and high (a range) or values = [...]")
    if has_range and (pr.low is None or pr.high is None):
        raise ParameterError(f"{where}: a range needs both 'low' and 'high'")
    if has_range and not pr.low < pr.high:
        raise ParameterError(f"{where}: low ({pr.low}) must be below high ({pr.high})")
    if pr.values is not None and dtype != "grid":
        raise ParameterError(f"{where}: 'values' lists are for grid designs; a {dtype} design needs low and high")
    if pr.values is not None and not pr.values:
        raise ParameterError(f"{where}: 'values' is empty")
    if model != FABRIQUE:     # synthetic model (tests, method checks): no specs to check against
        return Parameter(name, pr.unit, pr.low, pr.high, pr.values, "number")
    sp = _spec_of(name, where)
    if pr.unit != sp.unit:
        raise ParameterError(f"{where}: unit '{pr.unit}' does not match the parameter's unit; allowed: {sp.allowed()}")
    kind = sp.kind if sp.kind in ("number", "int") else "other"
    if kind == "other" and has_range:
        raise ParameterError(f"{where}: a {sp.kind} parameter cannot take a range; use a grid with values = [...]; "
                             f"allowed: {sp.allowed()}")
    for v in ([pr.low, pr.high] if has_range else pr.values):
        if kind == "int" and has_range:
            v = int(round(v))
        sp.check(v, where)
    return Parameter(name, pr.unit, pr.low, pr.high, list(pr.values) if pr.values is not None else None, kind)


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file (a path, or a name in experiments/)."""
    p = Path(path)
    if not p.exists() and p.suffix != ".toml":
        from .params import data_root
        cand = data_root() / "experiments" / f"{path}.toml"
        if cand.exists():
            p = cand
    file = str(p)
    data = read_toml(p)
    return experiment_from_dict(data, file)


def experiment_from_dict(data: dict[str, Any], file: str = "<experiment>") -> Experiment:
    try:
        spec = ExperimentFile.model_validate(data)
    except ValidationError as exc:
        raise ParameterError(f"{file}: {_fmt_errors(exc)}") from None
    d = spec.design
    if d.type == "none" and d.parameters:
        raise ParameterError(f"{file}: design.type 'none' takes no parameters; use grid, lhs, sobol or morris")
    if d.type != "none" and not d.parameters:
        raise ParameterError(f"{file}: design.type '{d.type}' needs at least one entry in design.parameters")
    if d.type in ("lhs", "sobol", "morris") and d.n is None:
        raise ParameterError(f"{file}: design.n is required for a {d.type} design "
                             f"(lhs: points; sobol: base sample N; morris: trajectories)")
    if d.type in ("sobol", "morris") and len(d.parameters) < 2:
        raise ParameterError(f"{file}: a {d.type} design needs at least two parameters")
    if d.type == "sobol" and d.n & (d.n - 1):
        raise ParameterError(f"{file}: design.n = {d.n} must be a power of 2 for a Sobol design (e.g. 64, 128, 256)")
    if spec.model != FABRIQUE and ":" not in spec.model:
        raise ParameterError(f"{file}: key 'model' must be 'fabrique' or 'module:function', got {spec.model!r}")
    if spec.start_year and spec.end_year and spec.end_year < spec.start_year:
        raise ParameterError(f"{file}: end_year {spec.end_year} is before start_year {spec.start_year}")
    if spec.model == FABRIQUE:
        from .scenario import load_scenario
        for sc in spec.scenarios:
            try:
                load_scenario(sc)
            except ParameterError as exc:
                raise ParameterError(f"{file}: scenarios: {exc}") from None
    if len(set(spec.scenarios)) != len(spec.scenarios):
        raise ParameterError(f"{file}: scenarios lists a scenario twice: {spec.scenarios}")
    params = [_check_parameter(n, pr, d.type, spec.model, file) for n, pr in d.parameters.items()]
    return Experiment(spec=spec, path=file, parameters=params)


# --------------------------------------------------------------------------- design
def salib_problem(exp: Experiment) -> dict[str, Any]:
    return {"num_vars": len(exp.parameters), "names": [p.name for p in exp.parameters],
            "bounds": [[p.low, p.high] for p in exp.parameters]}


def design_matrix(exp: Experiment) -> list[dict[str, Any]]:
    """The design points, in a fixed order: a list of {parameter name: value}."""
    d, ps = exp.spec.design, exp.parameters
    if d.type == "none":
        return [{}]
    if d.type == "grid":
        axes = []
        for p in ps:
            if p.values is not None:
                axes.append(list(p.values))
            else:
                axes.append(list(np.linspace(p.low, p.high, d.levels or 3)))
        X = [dict(zip([p.name for p in ps], combo)) for combo in itertools.product(*axes)]
        return [{k: _cast(p, v) for p, (k, v) in zip(ps, x.items())} for x in X]
    problem = salib_problem(exp)
    seed = int(np.random.SeedSequence(exp.spec.seed, spawn_key=(2**31 - 1,)).generate_state(1)[0])
    if d.type == "lhs":
        from scipy.stats import qmc
        u = qmc.LatinHypercube(d=len(ps), seed=np.random.default_rng(seed)).random(d.n)
        X = qmc.scale(u, [p.low for p in ps], [p.high for p in ps])
    elif d.type == "sobol":
        from SALib.sample import sobol as sobol_sample
        X = sobol_sample.sample(problem, d.n, calc_second_order=d.second_order, scramble=True, seed=seed)
    else:
        from SALib.sample import morris as morris_sample
        X = morris_sample.sample(problem, d.n, num_levels=d.levels or 4, seed=seed)
    return [{p.name: _cast(p, float(v)) for p, v in zip(ps, row)} for row in np.asarray(X)]


def _cast(p: Parameter, v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if p.kind == "int":
        return int(round(v))
    if p.kind == "number" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return v


def replicate_seed(exp_seed: int, replicate: int, point: int | None = None) -> int:
    """Seed of one run: SeedSequence(exp_seed).spawn(...)[replicate] (or child (point, replicate))."""
    key = (replicate,) if point is None else (point, replicate)
    return int(np.random.SeedSequence(exp_seed, spawn_key=key).generate_state(1)[0])


def plan(exp: Experiment) -> list[dict[str, Any]]:
    """Every run of the experiment as a plain dict (picklable task spec), in a fixed order.

    Order: scenario, then design point, then replicate. ``index`` and
    ``run_id`` depend only on the experiment file, never on how it runs.
    """
    s = exp.spec
    points = design_matrix(exp)
    runs = []
    i = 0
    for scen in s.scenarios:
        for pt, params in enumerate(points):
            for r in range(s.replicates):
                seed = replicate_seed(s.seed, r, pt if s.seeds == "per_point" else None)
                ident = json.dumps({"scenario": scen, "params": params, "replicate": r, "seed": seed},
                                   sort_keys=True, default=str)
                rid = f"{i:06d}-{hashlib.sha1(ident.encode()).hexdigest()[:8]}"
                runs.append({"index": i, "run_id": rid, "scenario": scen, "point": pt, "params": params,
                             "replicate": r, "seed": seed, "scale": s.scale, "start_year": s.start_year,
                             "end_year": s.end_year, "strict": s.strict, "model": s.model,
                             "metrics": s.outputs.metrics, "tables": list(s.outputs.tables),
                             "experiment": s.name})
                i += 1
    return runs


def split_overrides(params: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """{'proc.key': v, 'engagement.id.key': v} -> (process overrides, engagement levers)."""
    procs: dict[str, dict[str, Any]] = {}
    engs: dict[str, dict[str, Any]] = {}
    for name, v in params.items():
        parts = name.split(".")
        if parts[0] in ("engagement", "engagements"):
            key = ".".join(parts[2:])
            if key.startswith("levers."):
                engs.setdefault(parts[1], {}).setdefault("levers", {})[key[len("levers."):]] = v
            else:
                engs.setdefault(parts[1], {})[key] = v
        else:
            procs.setdefault(parts[0], {})[parts[1]] = v
    return procs, engs
