"""Scenario comparison: scenarios x replicates with common random numbers, paired differences.

`fabrique compare baseline fabrique2040 --replicates 10` is an experiment
without a parameter design, run by the same runner as sweeps (local pool or
Dask), so its store is a normal results store (`DIR/runs/*/`) that the
report reads.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .params import ParameterError


def run_comparison(scenarios: list[str], replicates: int, scale: float, seed: int, out: Path,
                   workers: int | None = None, end_year: int | None = None, quiet: bool = False,
                   scheduler: str | None = None, cluster: str | None = None) -> pd.DataFrame:
    """Run every scenario with the same replicate seeds; returns the tidy metrics of all runs."""
    from .experiment import experiment_from_dict
    from .runner import completed_runs, load_results, sweep
    from .scenario import load_scenario
    for s in scenarios:
        load_scenario(s)  # validate every scenario before anything runs
    spec = {"name": "compare-" + "-".join(Path(s).stem for s in scenarios), "seed": int(seed),
            "description": f"comparison of {', '.join(scenarios)} ({replicates} replicates)",
            "scale": float(scale), "replicates": int(replicates), "scenarios": list(scenarios),
            "analysis": {"baseline": scenarios[0]}}
    if end_year is not None:
        spec["end_year"] = int(end_year)
    exp = experiment_from_dict(spec, "<compare>")
    out = Path(out)
    resume = out.exists() and bool(completed_runs(out))
    rep = sweep(exp, out, workers=workers, resume=resume, scheduler=scheduler, cluster=cluster)
    if rep.failed:
        raise ParameterError(f"{rep.failed} run(s) failed; tracebacks in {out}/failed/")
    return load_results(out)


def compare_table(df: pd.DataFrame, baseline: str, year: int) -> pd.DataFrame:
    """Mean paired difference (scenario - baseline, same seed) and its 90 % interval in `year`.

    The interval is the 5th-95th percentile of the paired differences across
    replicates ("9 runs in 10"), the spread a decision-maker should read;
    `lo90_mean`/`hi90_mean` is the t interval of the mean difference.
    """
    from .analysis import paired_differences
    yrs = sorted(df["year"].unique())
    if year not in yrs:
        raise ParameterError(f"year {year} is not in the results (years {yrs[0]}-{yrs[-1]})")
    d = paired_differences(df[df["year"] == year], baseline=baseline)
    out = d.rename(columns={"mean_diff": "mean", "p05": "low", "p95": "high", "lo90": "lo90_mean",
                            "hi90": "hi90_mean"})
    cols = [c for c in ("scenario", "year", "metric", "group", "n", "mean", "low", "high", "lo90_mean",
                        "hi90_mean", "base_mean", "rel_diff") if c in out.columns]
    return out[cols].reset_index(drop=True)
