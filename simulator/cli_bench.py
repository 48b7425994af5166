"""`fabrique bench`: the performance benchmark (experiments/benchmark.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer


def bench(scales: str = typer.Option("0.01,0.1,1.0", help="Comma-separated scales, one fresh process each"),
          runs: int = typer.Option(100, help="Runs at scale 0.01 on all cores for runs/minute (0: skip)"),
          scaling_runs: int = typer.Option(20, help="Runs for the 1-worker vs all-cores scaling (0: skip)"),
          mesa_agents: int = typer.Option(1_000_000, help="Agents of the empty-Mesa-step reference (0: skip)"),
          end_year: Optional[int] = typer.Option(None, help="Last simulated year (default: the scenario's)"),
          scenario: str = typer.Option("fabrique2040", help="Scenario of the per-scale runs and the sweeps"),
          markdown: Optional[Path] = typer.Option(None, help="Write the report to this .md file"),
          as_json: bool = typer.Option(False, "--json", help="Print the measurements as JSON")) -> None:
    """Time synthesis and runs per scale, peak memory, per-process cost, and sweep throughput."""
    from experiments.benchmark import benchmark, markdown as to_md
    try:
        sc = [float(s) for s in scales.split(",") if s.strip()]
    except ValueError:
        sc = []
    if not sc or not all(0 < s <= 1 for s in sc):
        typer.echo(f"error: --scales must be comma-separated numbers in (0, 1], got {scales!r}", err=True)
        raise typer.Exit(code=2)
    res = benchmark(sc, runs, scaling_runs, mesa_agents, 1, end_year,
                    log=(lambda *a: None) if as_json else (lambda m: print(m, file=sys.stderr)), scenario=scenario)
    if markdown:
        Path(markdown).write_text(to_md(res), encoding="utf-8")
    print(json.dumps(res, indent=1) if as_json else to_md(res))


def register(app: typer.Typer) -> None:
    app.command(name="bench")(bench)
