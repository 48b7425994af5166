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


CONTRIBUTION_METRICS = ("commute_time_min", "employment_rate", "housing_access_rate", "mode_share_transit",
                        "mobility_cost_eur_month", "unemployment_rate", "social_housing_wait_years")


def contributions(df: pd.DataFrame, combined: str, engagements: list[str], baseline: str, year: int,
                  metrics: tuple[str, ...] = CONTRIBUTION_METRICS) -> list[dict]:
    """Each engagement's effect alone (vs baseline, paired by seed) and the interaction term.

    interaction = (combined - baseline) - sum over engagements of (engagement alone - baseline),
    per seed; reported with the 5-95 % range of the paired values across replicates.
    """
    d = df[(df["year"] == year) & (df["group"] == "all") & df["metric"].isin(metrics)]
    piv = d.pivot_table(index=["seed", "metric"], columns="scenario", values="value", aggfunc="first")
    rows = []
    for m in metrics:
        if m not in piv.index.get_level_values("metric"):
            continue
        sub = piv.xs(m, level="metric")
        if baseline not in sub or combined not in sub:
            continue
        total = sub[combined] - sub[baseline]
        alone_sum = 0.0
        for e in engagements:
            if e not in sub:
                continue
            diff = sub[e] - sub[baseline]
            alone_sum = alone_sum + diff
            rows.append({"engagement": e, "metric": m, "delta": float(diff.mean()),
                         "low": float(diff.quantile(0.05)), "high": float(diff.quantile(0.95)), "n": int(diff.size)})
        inter = total - alone_sum
        rows.append({"engagement": "interactions", "metric": m, "delta": float(inter.mean()),
                     "low": float(inter.quantile(0.05)), "high": float(inter.quantile(0.95)), "n": int(inter.size)})
        rows.append({"engagement": combined, "metric": m, "delta": float(total.mean()),
                     "low": float(total.quantile(0.05)), "high": float(total.quantile(0.95)), "n": int(total.size)})
    return rows


def write_stories(out: Path, combined: str, scale: float, seeds: list[int], end_year: int | None = None) -> Path | None:
    """Stories (fr, en) of the eight personas in the combined scenario's first replicate.

    The engagements that changed each path are found by counterfactual runs
    (the combined scenario without one engagement at a time, same seeds as
    the first replicates), kept when the change is consistent across seeds
    (simulator.stories.robust_changes).
    """
    import json
    from .engagements import catalogue
    from .personas import load_personas
    from .results import read_result
    from .scenario import load_scenario
    from .stories import persona_path, robust_changes, runs_without_each_engagement, story
    runs = {}
    for f in sorted(p.parent for p in (Path(out) / "runs").glob("*/manifest.json")):
        man = json.loads((f / "manifest.json").read_text())
        if man["scenario"] == combined and int(man["seed"]) in seeds:
            runs[int(man["seed"])] = f
    if seeds[0] not in runs:
        return None
    with_runs = {s: read_result(f).personas for s, f in runs.items()}
    first = read_result(runs[seeds[0]])
    sc = load_scenario(combined)
    cat = catalogue()
    without = runs_without_each_engagement(combined, scale, sorted(runs), end_year)
    poles = {p["id"]: p["name"] for p in first.territory.get("poles", [])}
    stories = {}
    for persona in load_personas():
        texts = {}
        for lang in ("fr", "en"):
            names = {e: f"E{cat[e].number} {cat[e].name_fr if lang == 'fr' else cat[e].name_en}"
                     for e in sc.engagements}
            changes = robust_changes(persona.id, with_runs, without, names)
            texts[lang] = story(persona.id, persona_path(first.personas, persona.id), lang, poles, changes,
                                name=persona.name)
        stories[persona.id] = texts
    dest = runs[seeds[0]] / "stories.json"
    tmp = dest.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(stories, indent=1, ensure_ascii=False))
    tmp.replace(dest)
    return dest
