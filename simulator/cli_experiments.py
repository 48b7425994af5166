"""`fabrique sweep`, `fabrique results`, `fabrique calibrate` (registered on the main app)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .params import ParameterError

console = Console()
err = Console(stderr=True)


def _fail(msg: str) -> None:
    err.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def sweep(file: Path = typer.Argument(..., help="Experiment file (experiments/*.toml) or a shipped experiment name"),
          out: Path = typer.Option(..., "--out", help="Results store folder"),
          workers: Optional[int] = typer.Option(None, help="Worker processes (default: all cores)"),
          scheduler: Optional[str] = typer.Option(None, help="Address of a running Dask scheduler, tcp://HOST:PORT"),
          cluster: Optional[str] = typer.Option(None, help="'local': start a Dask LocalCluster with --workers"),
          resume: bool = typer.Option(False, help="Skip the runs already complete in --out"),
          scale: Optional[float] = typer.Option(None, help="Override the experiment's scale (quick checks)"),
          max_runs: Optional[int] = typer.Option(None, help="Run at most N of the pending runs now"),
          as_json: bool = typer.Option(False, "--json", help="Print the sweep report as JSON")) -> None:
    """Run every run of an experiment (scenarios x design x replicates) into a resumable store."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
    from .experiment import load_experiment, plan
    from .runner import SweepInterrupted, completed_runs
    from .runner import sweep as run_sweep
    try:
        exp = load_experiment(file).with_overrides(scale=scale)
        total = len(plan(exp))
        already = len(completed_runs(out)) if resume else 0
        todo = total - already if max_runs is None else min(max_runs, total - already)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("failed {task.fields[failed]}"), TimeElapsedColumn(), TextColumn("ETA"),
                      TimeRemainingColumn(), console=err, disable=as_json or not sys.stderr.isatty()) as prog:
            task = prog.add_task(f"{exp.name}", total=max(todo, 0), failed=0)

            def tick(payload, rep):
                prog.update(task, completed=rep.done + rep.failed, failed=rep.failed)
                if not payload["ok"]:
                    last = payload["traceback"].strip().splitlines()[-1]
                    prog.console.print(f"[yellow]run {payload['run_id']} failed:[/] {last}", highlight=False)
            rep = run_sweep(exp, out, workers=workers, scheduler=scheduler, cluster=cluster, resume=resume,
                            max_runs=max_runs, on_result=tick)
    except SweepInterrupted as exc:
        err.print(f"[bold yellow]{exc}[/]", highlight=False)
        raise typer.Exit(code=130)
    except ParameterError as exc:
        _fail(str(exc))
    if as_json:
        print(json.dumps(rep.to_dict(), indent=1))
    else:
        pend = rep.total - rep.skipped - rep.done - rep.failed
        console.print(f"[bold]{rep.experiment}[/]: {rep.done} run(s) done, {rep.failed} failed, {rep.skipped} "
                      f"already complete, {pend} pending, of {rep.total} - {rep.backend} backend, {rep.workers} "
                      f"worker(s), {rep.seconds:.1f} s ({rep.runs_per_minute:.1f} runs/min). Store: {out}")
        if rep.failed:
            console.print(f"failed runs are recorded in {out}/failed/ with their traceback; "
                          f"--resume retries them")
    if rep.failed:
        raise typer.Exit(code=1)


def results(store: Path = typer.Argument(..., help="Results store folder (written by fabrique sweep)"),
            as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON"),
            export: Optional[Path] = typer.Option(None, help="Write the tidy table to .parquet or .csv"),
            stats: Optional[Path] = typer.Option(None, help="Write replicate statistics to .parquet or .csv"),
            baseline: Optional[str] = typer.Option(None, help="Paired differences against this scenario"),
            metric: List[str] = typer.Option([], help="Metric(s) to show (default: the experiment's outcomes)"),
            year: Optional[int] = typer.Option(None, help="Year to show (default: the last)")) -> None:
    """Summarise a results store: runs, failures, replicate statistics, paired differences, sensitivity."""
    from . import analysis as A
    from .experiment import load_experiment
    from .runner import load_results, store_summary
    try:
        summ = store_summary(store)
        exp = load_experiment(Path(store) / "experiment.toml")
        df = load_results(store)
    except ParameterError as exc:
        _fail(str(exc))
    outcomes = list(metric) or exp.spec.analysis.outcomes or \
        [m for m in ("population", "employment_rate_15_64", "mean_commute_min") if m in set(df.get("metric", []))]
    group = exp.spec.analysis.group
    out: dict = {"summary": summ}
    try:
        if export is not None:
            _write(df, export)
        if len(df):
            st = A.replicate_stats(df)
            if stats is not None:
                _write(st, stats)
            yr = year if year is not None else int(df["year"].max())
            sel = st[(st["metric"].isin(outcomes)) & (st["group"] == group) & (st["year"] == yr)]
            out["replicate_stats"] = sel.to_dict(orient="records")
            base = baseline or exp.spec.analysis.baseline or \
                ("baseline" if "baseline" in summ["scenarios"] and len(summ["scenarios"]) > 1 else None)
            if base:
                pdiff = A.paired_differences(df, baseline=base)
                out["paired_differences"] = pdiff[(pdiff["metric"].isin(outcomes)) & (pdiff["group"] == group)
                                                  & (pdiff["year"] == yr)].to_dict(orient="records")
            if summ["design"]["type"] in ("sobol", "morris") and summ["pending"] == 0 and summ["failed"] == 0:
                sens = A.sensitivity(store, outcomes=outcomes, year=exp.spec.analysis.year or yr, group=group)
                out["sensitivity"] = sens.to_dict(orient="records")
    except ParameterError as exc:
        _fail(str(exc))
    if as_json:
        print(json.dumps(out, indent=1, default=float))
        return
    console.print(f"[bold]{summ['experiment']}[/] ({summ['store']}): {summ['completed']}/{summ['total']} runs "
                  f"complete, {summ['failed']} failed, {summ['pending']} pending; design "
                  f"{summ['design']['type']} over {[p['name'] for p in summ['parameters']] or 'no parameters'}; "
                  f"scenarios {summ['scenarios']}; {summ['model_seconds']:.0f} s of model time")
    for rid, last in summ["failures"].items():
        console.print(f"  [red]failed[/] {rid}: {last}", highlight=False)
    _table_print("Replicate statistics (mean, 90 % interval of replicates)", out.get("replicate_stats", []),
                 ["scenario", "point", "year", "metric", "n", "mean", "p05", "p95"])
    _table_print("Paired differences vs baseline (common random numbers, 90 % interval of the mean)",
                 out.get("paired_differences", []),
                 ["scenario", "point", "year", "metric", "n", "mean_diff", "lo90", "hi90", "rel_diff"])
    sens = out.get("sensitivity", [])
    if sens and "S1" in sens[0]:
        _table_print("Sobol indices (95 % half-widths)", sens, ["outcome", "parameter", "S1", "S1_conf", "ST", "ST_conf"])
    elif sens:
        _table_print("Morris elementary effects", sens, ["outcome", "parameter", "mu_star", "mu_star_conf", "sigma"])


def _write(df, path: Path) -> None:
    path = Path(path)
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        raise ParameterError(f"{path}: export to .parquet or .csv")


def _table_print(title: str, rows: list, cols: list) -> None:
    if not rows:
        return
    t = Table(title=title)
    for c in cols:
        t.add_column(c, justify="left" if c in ("scenario", "metric", "outcome", "parameter") else "right")
    for r in rows[:60]:
        t.add_row(*[_fmt(r.get(c)) for c in cols])
    console.print(t)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    return str(v)


def calibrate(param: List[str] = typer.Option(..., "--param", help="process.key or process.key=low:high (repeat)"),
              target: List[str] = typer.Option([], help="Target (marginal) names to fit (default: all)"),
              scenario: str = typer.Option("baseline", help="Scenario the fit starts from"),
              scale: float = typer.Option(0.01, help="Fraction of the real population"),
              seeds: str = typer.Option("1", help="Comma-separated seeds averaged at every evaluation"),
              max_evals: int = typer.Option(60, help="Maximum model evaluations"),
              out: Path = typer.Option(Path("calibrated.toml"), help="Scenario file with the fitted values"),
              as_json: bool = typer.Option(False, "--json", help="Print the fit as JSON")) -> None:
    """Fit behavioural parameters to the 2017 targets (FACTS.md/DATA.md) and write a scenario file."""
    from . import analysis as A
    if not 0 < scale <= 1:
        _fail(f"--scale must be in (0, 1], got {scale}")
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        _fail(f"--seeds must be comma-separated integers, got {seeds!r}")
    try:
        from .results import check_writable
        from .scenario import load_scenario
        load_scenario(scenario)
        check_writable(Path(out).parent if str(Path(out).parent) else Path("."))
        ps = A.fit_parameters_from_names(param)
        res = A.fit(ps, lambda v: A.model_targets(v, scale=scale, seeds=seed_list, scenario=scenario),
                    targets=list(target) or None, max_evals=max_evals)
        cmd = " ".join(f"--param {p}" for p in param) + f" --scale {scale} --seeds {seeds}"
        A.write_calibrated(res, out, extends=scenario, command=cmd)
    except ParameterError as exc:
        _fail(str(exc))
    if as_json:
        print(json.dumps({"values": res.values, "loss": res.loss, "initial_loss": res.initial_loss,
                          "evaluations": res.evaluations, "success": res.success, "out": str(out),
                          "targets": res.targets}, indent=1, default=float))
        return
    t = Table(title=f"Calibration: loss {res.initial_loss:.4g} -> {res.loss:.4g} in {res.evaluations} evaluations")
    for c in ("target", "unit", "target value", "achieved", "deviation (tol)", "ok"):
        t.add_column(c, justify="left" if c == "target" else "right")
    for r in res.targets:
        t.add_row(r["marginal"], str(r.get("unit", "")), _fmt(float(r["target"])), _fmt(float(r["achieved"])),
                  f"{r['deviation_tol']:+.2f}", "[green]ok[/]" if r["ok"] else "[red]OUT[/]")
    console.print(t)
    for p in res.parameters:
        console.print(f"{p.name} = {res.values[p.name]:.6g} {p.unit} (start {p.x0:g}, bounds [{p.low:g}, {p.high:g}])")
    console.print(f"written to [bold]{out}[/]: use it with `fabrique run --scenario {out}` "
                  f"or list it in an experiment's scenarios")


def register(app: typer.Typer) -> None:
    app.command(name="sweep")(sweep)
    app.command(name="results")(results)
    app.command(name="calibrate")(calibrate)

