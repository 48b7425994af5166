"""`fabrique report`: one self-contained HTML report from run or sweep folders."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .params import ParameterError


def register(app: typer.Typer) -> None:
    from .cli import console, fail

    @app.command()
    def report(inputs: List[Path] = typer.Argument(..., help="Run folders or sweep/compare folders"),
               out: Path = typer.Option(Path("report.html"), "-o", "--out", help="HTML file to write"),
               lang: str = typer.Option("fr", help="fr or en"),
               baseline: str = typer.Option("baseline", help="Scenario the others are compared with"),
               figures: Optional[Path] = typer.Option(None, help="Also export each chart as PNG and SVG here")) -> None:
        """Write the scenario report for elected officials (works offline, French or English)."""
        if lang not in ("fr", "en"):
            fail(f"--lang must be 'fr' or 'en', got {lang!r}")
        for p in inputs:
            if not p.exists():
                fail(f"{p}: no such run or sweep folder")
        try:
            from .report import build_report
            path = build_report(list(inputs), out, lang=lang, baseline=baseline, figures_dir=figures)
        except ParameterError as exc:
            fail(str(exc))
        console.print(f"report written to [bold]{path}[/]" + (f"; figures in {figures}" if figures else ""))
