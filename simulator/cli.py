"""`fabrique` command line.

Every command validates its inputs before running anything; bad input ends
with one line ``error: ...`` naming the file, key and allowed values, and
exit code 2.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .params import ParameterError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Fabrique 2040: simulate how AMP's engagements shift commute time, employment "
                       "and housing access, 2017-2040.")
console = Console()
err = Console(stderr=True)


def fail(msg: str) -> None:
    err.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _scale(scale: float) -> float:
    if not 0 < scale <= 1:
        fail(f"--scale must be in (0, 1] (fraction of the real population), got {scale}")
    return scale


def _lang(lang: str) -> str:
    if lang not in ("fr", "en"):
        fail(f"--lang must be 'fr' or 'en', got {lang!r}")
    return lang


@app.command()
def run(scenario: str = typer.Option("baseline", help="Shipped scenario name or path of a scenario .toml"),
        scale: float = typer.Option(0.01, help="Fraction of the real population (1.0 = ~1.87 M persons)"),
        seed: int = typer.Option(1, help="Random seed"),
        replicate: int = typer.Option(0, help="Replicate number recorded in the results"),
        out: Path = typer.Option(Path("results/run"), help="Output folder"),
        end_year: Optional[int] = typer.Option(None, help="Last simulated year (default: the scenario's)"),
        strict: bool = typer.Option(False, help="Check the model invariants every year"),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON")) -> None:
    """Run one scenario and write metrics.parquet, personas.parquet, flows.parquet, manifest.json."""
    from .results import check_writable, run as run_model, write_result
    _scale(scale)
    try:
        check_writable(out)
        from .scenario import load_scenario
        sc = load_scenario(scenario)
        end = end_year or sc.end_year
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[year]}"),
                      TimeElapsedColumn(), console=err, disable=as_json or not sys.stderr.isatty()) as prog:
            task = prog.add_task(f"{sc.name} scale={scale} seed={seed}", total=end - sc.start_year, year="")
            res = run_model(scenario=scenario, scale=scale, seed=seed, replicate=replicate, end_year=end_year,
                            strict=strict,
                            progress=lambda y: prog.update(task, completed=y - sc.start_year, year=str(y)))
        write_result(res, out)
    except ParameterError as exc:
        fail(str(exc))
    summary = res.summary()
    summary["out"] = str(out)
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    t = Table(title=f"Scenario {summary['scenario']} — scale {scale}, seed {seed}")
    t.add_column("metric (all AMP)")
    t.add_column(str(summary["first_year"]), justify="right")
    t.add_column(str(summary["last_year"]), justify="right")
    for name, v in summary["metrics"].items():
        t.add_row(name, f"{v['first']:,.3f}" if abs(v["first"]) < 10 else f"{v['first']:,.0f}",
                  f"{v['last']:,.3f}" if abs(v["last"]) < 10 else f"{v['last']:,.0f}")
    console.print(t)
    console.print(f"results written to [bold]{out}[/] (metrics.parquet, personas.parquet, flows.parquet, "
                  f"manifest.json); wall time {res.manifest['wall_time_total_s']:.2f} s")


@app.command()
def personas(as_json: bool = typer.Option(False, "--json", help="Print the cards as JSON"),
             lang: str = typer.Option("en", help="fr or en")) -> None:
    """Print the eight persona cards and the segment each stands for."""
    from .personas import load_personas, personas_json, personas_table
    _lang(lang)
    try:
        ps = load_personas()
    except ParameterError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(personas_json(ps), indent=1, ensure_ascii=False))
    else:
        console.print(personas_table(ps, lang=lang))


@app.command()
def population(scale: float = typer.Option(0.01, help="Fraction of the real population"),
               seed: int = typer.Option(1, help="Random seed"),
               as_json: bool = typer.Option(False, "--json", help="Print the marginals as JSON")) -> None:
    """Synthesise the 2017 population and print target vs achieved for every marginal."""
    from .model import FabriqueModel
    _scale(scale)
    try:
        m = FabriqueModel(scale=scale, seed=seed, end_year=2017)
    except ParameterError as exc:
        fail(str(exc))
    rows = m.marginals()
    if as_json:
        print(json.dumps([{k: r[k] for k in ("marginal", "target", "achieved", "tolerance", "ok")}
                          for r in rows], indent=1))
        if not all(r["ok"] for r in rows):
            raise typer.Exit(code=1)
        return
    t = Table(title=f"Synthetic population 2017 — scale {scale}, seed {seed}: "
                    f"{int(m.persons.alive.sum()):,} person rows, {int(m.households.alive.sum()):,} households")
    for c in ("marginal", "target", "achieved", "tolerance", "ok"):
        t.add_column(c, justify="left" if c == "marginal" else "right")
    for r in rows:
        share = r["unit"] == "share"
        fmt = (lambda v: f"{100 * v:.2f} %") if share else (lambda v: f"{v:,.0f}")
        tol = f"±{100 * r['tolerance']:.1f} pp" if share else f"±{100 * r['tolerance']:.0f} %"
        t.add_row(r["marginal"], fmt(r["target"]), fmt(r["achieved"]), tol,
                  "[green]ok[/]" if r["ok"] else "[red]OUT[/]")
    console.print(t)
    if not all(r["ok"] for r in rows):
        raise typer.Exit(code=1)


def _register_plugins() -> None:
    """Command groups living in their own modules (each exposes register(app))."""
    import importlib
    import importlib.util
    for mod in ("simulator.cli_scenarios", "simulator.cli_experiments", "simulator.cli_report",
                "simulator.cli_bench"):
        if importlib.util.find_spec(mod) is not None:
            importlib.import_module(mod).register(app)


_register_plugins()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
