"""Analyses of a results store: replicate statistics, paired differences,
Sobol and Morris sensitivity (SALib), and calibration to the 2017 targets.

All functions take the tidy table of :func:`simulator.load_results` (or a
store folder) and return tidy DataFrames, ready for the report.

- :func:`replicate_stats`: mean, standard deviation, the 5 % and 95 %
  quantiles of the replicates (a 90 % interval of outcomes) and a 90 %
  Student-t interval of the mean, per (scenario, point, year, metric, group).
- :func:`paired_differences`: scenario minus baseline for runs that share
  the same seed (common random numbers: replicate r has the same seed in
  every scenario), with a 90 % t interval of the mean difference.
- :func:`sobol_indices` / :func:`morris_indices`: SALib's analysers
  (Saltelli 2002/2010 and Jansen 1999 estimators; Morris 1991 with
  Campolongo et al. 2007's mu*) on the design saved at sweep time.
- :func:`fit`: scipy.optimize.least_squares with a soft-L1 (robust) loss
  over target deviations ``(achieved - target) / tolerance``; :func:`model_targets`
  evaluates the model's 2017 targets (population marginals + the
  ``calibration(model)`` hooks of the processes).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .params import ParameterError

KEYS = ["scenario", "point", "year", "metric", "group"]


def _table(df_or_store: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(df_or_store, pd.DataFrame):
        return df_or_store
    from .runner import load_results
    return load_results(df_or_store)


def _param_columns(df: pd.DataFrame) -> list[str]:
    """Design-parameter columns of a load_results table (constant within a design point)."""
    known = {"run_id", "point", "scenario", "replicate", "seed", "year", "metric", "group", "value"}
    return [c for c in df.columns if c not in known]


def _t90(n: np.ndarray) -> np.ndarray:
    from scipy.stats import t
    n = np.asarray(n, dtype=float)
    out = np.full(n.shape, np.nan)
    ok = n > 1
    out[ok] = t.ppf(0.95, n[ok] - 1)
    return out


# --------------------------------------------------------------------------- replicates
def replicate_stats(df: pd.DataFrame | str | Path, by: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and 90 % intervals over replicates per (scenario, point, year, metric, group)."""
    df = _table(df)
    by = [c for c in (by or KEYS + _param_columns(df)) if c in df.columns]
    g = df.groupby(by, sort=True, observed=True)["value"]
    out = g.agg(n="count", mean="mean", sd="std").reset_index()
    q = g.quantile([0.05, 0.95]).unstack()
    out["p05"] = q[0.05].to_numpy()
    out["p95"] = q[0.95].to_numpy()
    half = _t90(out["n"].to_numpy()) * out["sd"].to_numpy() / np.sqrt(out["n"].to_numpy())
    out["mean_lo90"] = out["mean"] - half
    out["mean_hi90"] = out["mean"] + half
    return out


def paired_differences(df: pd.DataFrame | str | Path, baseline: str = "baseline") -> pd.DataFrame:
    """Scenario minus baseline, paired by seed (common random numbers) and design point.

    Returns per (scenario, point, year, metric, group): n pairs, mean
    difference, sd, 90 % t interval of the mean difference, the 5-95 %
    quantiles of the paired differences, and the relative difference of
    means (diff / baseline mean).
    """
    df = _table(df)
    if baseline not in set(df["scenario"]):
        raise ParameterError(f"paired differences: baseline scenario '{baseline}' is not in the results; "
                             f"scenarios: {sorted(set(df['scenario']))}")
    keys = [c for c in ("point", "seed", "year", "metric", "group") if c in df.columns]
    base = df[df["scenario"] == baseline][keys + ["value"]].rename(columns={"value": "base"})
    other = df[df["scenario"] != baseline]
    m = other.merge(base, on=keys, how="inner", validate="many_to_one")
    m["diff"] = m["value"] - m["base"]
    by = [c for c in KEYS if c in m.columns]
    g = m.groupby(by, sort=True, observed=True)
    out = g.agg(n=("diff", "count"), mean_diff=("diff", "mean"), sd=("diff", "std"),
                base_mean=("base", "mean")).reset_index()
    q = g["diff"].quantile([0.05, 0.95]).unstack()
    out["p05"] = q[0.05].to_numpy()
    out["p95"] = q[0.95].to_numpy()
    half = _t90(out["n"].to_numpy()) * out["sd"].to_numpy() / np.sqrt(out["n"].to_numpy())
    out["lo90"] = out["mean_diff"] - half
    out["hi90"] = out["mean_diff"] + half
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rel_diff"] = np.where(out["base_mean"] != 0, out["mean_diff"] / out["base_mean"], np.nan)
    out.insert(0, "baseline", baseline)
    return out


# --------------------------------------------------------------------------- sensitivity
def _design(store: str | Path) -> dict[str, Any]:
    f = Path(store) / "design.json"
    if not f.exists():
        raise ParameterError(f"{store}: not a results store (no design.json)")
    return json.loads(f.read_text(encoding="utf-8"))


def _problem(design: dict[str, Any]) -> dict[str, Any]:
    ps = design["parameters"]
    return {"num_vars": len(ps), "names": [p["name"] for p in ps], "bounds": [[p["low"], p["high"]] for p in ps]}


def _outcome_matrix(store: str | Path, outcome: str, year: int | None, group: str, scenario: str | None,
                    df: pd.DataFrame | None = None) -> tuple[dict, np.ndarray, np.ndarray, str]:
    """Design matrix X (points x params) and outcome Y (mean over replicates), for one scenario."""
    design = _design(store)
    df = df if df is not None else _table(store)
    scenarios = sorted({r["scenario"] for r in design["runs"]})
    scen = scenario or scenarios[0]
    if scen not in scenarios:
        raise ParameterError(f"{store}: scenario '{scen}' is not in this experiment; scenarios: {scenarios}")
    sub = df[(df["scenario"] == scen) & (df["metric"] == outcome) & (df["group"] == group)]
    if sub.empty:
        have = sorted(set(df["metric"]))
        raise ParameterError(f"{store}: no rows for metric '{outcome}' (group '{group}'); metrics: {have}")
    yr = int(year if year is not None else sub["year"].max())
    sub = sub[sub["year"] == yr]
    y = sub.groupby("point")["value"].mean()
    runs = [r for r in design["runs"] if r["scenario"] == scen]
    points = sorted({r["point"] for r in runs})
    missing = [p for p in points if p not in y.index]
    if missing:
        raise ParameterError(f"{store}: {len(missing)} design point(s) of '{scen}' have no completed run for "
                             f"{outcome} in {yr} (e.g. point {missing[0]}); complete the sweep with --resume")
    names = [p["name"] for p in design["parameters"]]
    first = {}
    for r in runs:
        first.setdefault(r["point"], r["params"])
    X = np.array([[float(first[p][n]) for n in names] for p in points])
    return _problem(design), X, y.loc[points].to_numpy(dtype=float), scen


def sobol_indices(store: str | Path, outcome: str, year: int | None = None, group: str = "all",
                  scenario: str | None = None, df: pd.DataFrame | None = None, seed: int = 1) -> pd.DataFrame:
    """First-order and total Sobol indices (with 95 % bootstrap half-widths) of one outcome."""
    from SALib.analyze import sobol
    design = _design(store)
    if design["design"]["type"] != "sobol":
        raise ParameterError(f"{store}: Sobol indices need a sobol design, this store has '{design['design']['type']}'")
    problem, _, Y, scen = _outcome_matrix(store, outcome, year, group, scenario, df)
    so = bool(design["design"].get("second_order", False))
    res = sobol.analyze(problem, Y, calc_second_order=so, num_resamples=200, conf_level=0.95, seed=seed)
    return pd.DataFrame({"scenario": scen, "outcome": outcome, "parameter": problem["names"],
                         "S1": res["S1"], "S1_conf": res["S1_conf"], "ST": res["ST"], "ST_conf": res["ST_conf"]})


def morris_indices(store: str | Path, outcome: str, year: int | None = None, group: str = "all",
                   scenario: str | None = None, df: pd.DataFrame | None = None, seed: int = 1) -> pd.DataFrame:
    """Morris elementary effects: mu, mu* (with 95 % half-width) and sigma of one outcome."""
    from SALib.analyze import morris
    design = _design(store)
    if design["design"]["type"] != "morris":
        raise ParameterError(f"{store}: Morris indices need a morris design, this store has "
                             f"'{design['design']['type']}'")
    problem, X, Y, scen = _outcome_matrix(store, outcome, year, group, scenario, df)
    res = morris.analyze(problem, X, Y, num_resamples=200, conf_level=0.95,
                         num_levels=int(design["design"].get("levels") or 4), seed=seed)
    return pd.DataFrame({"scenario": scen, "outcome": outcome, "parameter": problem["names"], "mu": res["mu"],
                         "mu_star": res["mu_star"], "mu_star_conf": res["mu_star_conf"], "sigma": res["sigma"]})


def sensitivity(store: str | Path, outcomes: Sequence[str] | None = None, year: int | None = None,
                group: str | None = None) -> pd.DataFrame:
    """Sobol or Morris table for every outcome named in the experiment's [analysis] (or given)."""
    from .experiment import load_experiment
    design = _design(store)
    exp = load_experiment(Path(store) / "experiment.toml")
    outs = list(outcomes or exp.spec.analysis.outcomes)
    if not outs:
        raise ParameterError(f"{store}: no outcomes given and the experiment's [analysis] lists none")
    yr = year if year is not None else exp.spec.analysis.year
    grp = group or exp.spec.analysis.group
    df = _table(store)
    fn = {"sobol": sobol_indices, "morris": morris_indices}.get(design["design"]["type"])
    if fn is None:
        raise ParameterError(f"{store}: sensitivity needs a sobol or morris design, not '{design['design']['type']}'")
    return pd.concat([fn(store, o, yr, grp, df=df) for o in outs], ignore_index=True)


# --------------------------------------------------------------------------- synthetic models
def ishigami(params: dict[str, float], seed: int = 0, replicate: int = 0, scenario: str = "") -> dict[str, float]:
    """Ishigami-Homma test function (a = 7, b = 0.1) on x1..x3 in [-pi, pi].

    Analytic Sobol indices: S1 = (0.3139, 0.4424, 0), ST = (0.5576, 0.4424, 0.2437).
    Used by the tests to check the whole sweep -> store -> SALib path
    (experiment key ``model = "simulator.analysis:ishigami"``).
    """
    x = [params[k] for k in sorted(params)]
    y = math.sin(x[0]) + 7.0 * math.sin(x[1]) ** 2 + 0.1 * x[2] ** 4 * math.sin(x[0])
    return {"y": y}


# --------------------------------------------------------------------------- calibration
@dataclass
class FitParameter:
    name: str            # "process.key"
    low: float
    high: float
    x0: float
    unit: str = "1"


@dataclass
class FitResult:
    parameters: list[FitParameter]
    values: dict[str, float]
    loss: float
    evaluations: int
    success: bool
    message: str
    targets: list[dict[str, Any]] = field(default_factory=list)   # target vs achieved at the fitted values
    initial_loss: float = float("nan")


def residual(row: dict[str, Any]) -> float:
    """Deviation of one target in tolerance units: absolute for shares, relative for counts."""
    tol = float(row["tolerance"])
    if row.get("unit") == "share" or tol <= 0:
        scale = tol if tol > 0 else 1.0
    else:
        scale = tol * max(abs(float(row["target"])), 1e-12)
    return (float(row["achieved"]) - float(row["target"])) / scale


def _soft_l1(r: np.ndarray) -> float:
    return float(np.sum(2.0 * (np.sqrt(1.0 + r ** 2) - 1.0)))


def fit(parameters: Sequence[FitParameter], evaluate: Callable[[dict[str, float]], list[dict[str, Any]]],
        targets: Sequence[str] | None = None, max_evals: int = 200, diff_step: float = 0.02) -> FitResult:
    """Fit parameters so that evaluate(values) meets its targets (robust soft-L1 least squares).

    ``evaluate`` returns rows {marginal, unit, target, achieved, tolerance};
    ``targets`` selects rows by their 'marginal' name (default: all).
    Parameters are scaled to [0, 1] inside their bounds; ``diff_step`` is
    the finite-difference step on that scale (large enough to see through
    the sampling noise of a stochastic model with a fixed seed).
    """
    from scipy.optimize import least_squares
    ps = list(parameters)
    if not ps:
        raise ParameterError("calibration: give at least one parameter to fit")
    lo = np.array([p.low for p in ps], dtype=float)
    hi = np.array([p.high for p in ps], dtype=float)
    for p in ps:
        if not p.low < p.high or not p.low <= p.x0 <= p.high:
            raise ParameterError(f"calibration: parameter '{p.name}': need low < high and x0 in [low, high], "
                                 f"got low={p.low}, high={p.high}, x0={p.x0}")
    n_eval = 0
    wanted = set(targets) if targets else None

    def values_of(u: np.ndarray) -> dict[str, float]:
        return {p.name: float(v) for p, v in zip(ps, lo + np.clip(u, 0, 1) * (hi - lo))}

    def rows_of(u: np.ndarray) -> list[dict[str, Any]]:
        nonlocal n_eval
        n_eval += 1
        rows = evaluate(values_of(u))
        if wanted is not None:
            rows = [r for r in rows if r["marginal"] in wanted]
            missing = wanted - {r["marginal"] for r in rows}
            if missing:
                raise ParameterError(f"calibration: unknown target(s) {sorted(missing)}")
        if not rows:
            raise ParameterError("calibration: no targets to fit")
        return rows

    def fun(u: np.ndarray) -> np.ndarray:
        return np.array([residual(r) for r in rows_of(u)])

    u0 = (np.array([p.x0 for p in ps]) - lo) / (hi - lo)
    r0 = fun(u0)
    sol = least_squares(fun, u0, bounds=(0.0, 1.0), loss="soft_l1", f_scale=1.0, diff_step=diff_step,
                        max_nfev=max_evals, x_scale=1.0)
    final = rows_of(sol.x)
    r = np.array([residual(x) for x in final])
    for row, ri in zip(final, r):
        row["deviation_tol"] = float(ri)
        row["ok"] = bool(abs(ri) <= 1.0)
    return FitResult(parameters=ps, values=values_of(sol.x), loss=_soft_l1(r), evaluations=n_eval,
                     success=bool(sol.success), message=str(sol.message), targets=final, initial_loss=_soft_l1(r0))


def model_targets(values: dict[str, float], scale: float = 0.01, seeds: Sequence[int] = (1,),
                  scenario: str = "baseline") -> list[dict[str, Any]]:
    """2017 targets vs achieved for a parameter set: population marginals + process calibration hooks.

    Achieved values are averaged over ``seeds`` (the same seeds at every
    evaluation: common random numbers keep the objective smooth enough).
    """
    from .experiment import split_overrides
    from .model import FabriqueModel
    procs, levers = split_overrides(values)
    if levers:
        raise ParameterError("calibration fits model parameters ('process.key'), not engagement levers")
    acc: dict[str, dict[str, Any]] = {}
    for s in seeds:
        m = FabriqueModel(scenario=scenario, scale=scale, seed=int(s), overrides=procs or None)
        rows = list(m.marginals())
        for mod in m.processes.values():
            if hasattr(mod, "calibration"):
                rows += list(mod.calibration(m))
        for r in rows:
            a = acc.setdefault(r["marginal"], {k: r.get(k) for k in ("marginal", "unit", "target", "tolerance")}
                               | {"achieved": 0.0})
            a["achieved"] += float(r["achieved"]) / len(seeds)
    return list(acc.values())


def fit_parameters_from_names(names: Sequence[str]) -> list[FitParameter]:
    """'process.key' or 'process.key=low:high' -> FitParameter (bounds default to the declared range)."""
    from .params import load_params, params_dir
    from .scenario import process_specs
    specs = process_specs()
    out = []
    for raw in names:
        name, _, rng = raw.partition("=")
        parts = name.split(".")
        if len(parts) != 2 or parts[0] not in specs:
            raise ParameterError(f"--param {raw}: expected 'process.key[=low:high]' with process in {sorted(specs)}")
        proc, key = parts
        if key not in specs[proc]:
            raise ParameterError(f"--param {raw}: unknown parameter '{key}' of '{proc}'; allowed: {sorted(specs[proc])}")
        sp = specs[proc][key]
        if sp.kind not in ("number", "int"):
            raise ParameterError(f"--param {raw}: only numeric parameters can be fitted; allowed: {sp.allowed()}")
        x0 = float(load_params(params_dir() / f"{proc}.toml", specs[proc])[key])
        lo, hi = sp.ge, sp.le
        if rng:
            try:
                lo, hi = (float(v) for v in rng.split(":"))
            except ValueError:
                raise ParameterError(f"--param {raw}: bounds must read low:high, e.g. {name}=0.5:1.5") from None
            sp.check(lo, f"--param {raw}: low")
            sp.check(hi, f"--param {raw}: high")
        if lo is None or hi is None:
            raise ParameterError(f"--param {raw}: the declared range is open; give bounds, e.g. {name}=0.5:1.5")
        out.append(FitParameter(name=name, low=float(lo), high=float(hi), x0=min(max(x0, lo), hi), unit=sp.unit))
    return out


def write_calibrated(res: FitResult, path: str | Path, extends: str = "baseline", command: str = "") -> Path:
    """Write the fitted values as a scenario file: `fabrique run --scenario calibrated.toml` uses them."""
    import tomli_w
    path = Path(path)
    stamp = time.strftime("%Y-%m-%d")
    params: dict[str, dict[str, Any]] = {}
    for p in res.parameters:
        proc, key = p.name.split(".")
        v = res.values[p.name]
        params.setdefault(proc, {})[key] = {
            "value": v, "source": f"calibrated: fabrique calibrate {stamp}{(' ' + command) if command else ''}, "
                                  f"loss={res.loss:.4g} (start {res.initial_loss:.4g}), unit {p.unit}, "
                                  f"bounds [{p.low:g}, {p.high:g}], {len(res.targets)} targets of 2017"}
    doc = {"name": path.stem, "description": f"{extends} with parameters calibrated to the 2017 targets "
                                             f"(soft-L1 loss {res.loss:.4g})",
           "extends": extends, "params": params}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".writing-{path.name}")
    tmp.write_text(tomli_w.dumps(doc), encoding="utf-8")
    tmp.replace(path)
    return path
