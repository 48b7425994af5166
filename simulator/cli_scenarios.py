"""`fabrique scenarios | compare | story | calibration-report | coverage`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .params import ParameterError

HEADLINE = ("commute_time_min", "employment_rate", "housing_access_rate", "mode_share_transit",
            "mode_share_car", "mobility_cost_eur_month", "youth_jobless_rate", "unemployment_rate",
            "social_housing_wait_years", "energy_poverty_share")


def _fmt(metric: str, v: float) -> str:
    if metric.endswith(("_rate", "_share")) or metric.startswith("mode_share"):
        return f"{100 * v:+.2f} pp"
    return f"{v:+,.2f}"


def register(app: typer.Typer) -> None:
    from .cli import console, err, fail

    @app.command()
    def scenarios(as_json: bool = typer.Option(False, "--json", help="Print as JSON")) -> None:
        """List the shipped scenarios with one-line descriptions."""
        from .scenario import list_scenarios, load_scenario
        rows = []
        try:
            for path in list_scenarios():
                sc = load_scenario(str(path))
                rows.append({"name": sc.name, "description": sc.description,
                             "engagements": sorted(sc.engagements), "extends": sc.chain[:-1]})
        except ParameterError as exc:
            fail(str(exc))
        if as_json:
            print(json.dumps(rows, indent=1, ensure_ascii=False))
            return
        t = Table(title="Shipped scenarios (scenarios/*.toml)")
        t.add_column("name")
        t.add_column("engagements")
        t.add_column("description")
        for r in rows:
            t.add_row(r["name"], ", ".join(e.split("_")[0] for e in r["engagements"]) or "-", r["description"])
        console.print(t)

    @app.command()
    def compare(baseline: str = typer.Argument("baseline", help="Reference scenario"),
                scenario: list[str] = typer.Argument(None, help="Scenario(s) to compare (default fabrique2040)"),
                replicates: int = typer.Option(10, help="Replicates per scenario (common random numbers)"),
                scale: float = typer.Option(0.01, help="Fraction of the real population"),
                seed: int = typer.Option(2040, help="Experiment seed (replicate seeds derive from it)"),
                year: int = typer.Option(2040, help="Year compared"),
                out: Path = typer.Option(Path("results/compare"), help="Folder for the tidy tables"),
                workers: Optional[int] = typer.Option(None, help="Worker processes (default: all cores)"),
                report: Optional[Path] = typer.Option(None, help="Also write the HTML report here"),
                with_contributions: bool = typer.Option(
                    False, "--contributions", help="Also run each engagement of the (first) compared scenario "
                                                   "alone, and write engagement contributions and persona stories"),
                lang: str = typer.Option("fr", help="Report language: fr or en"),
                as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON")) -> None:
        """Run scenarios x replicates and print 2040 differences with 90 % intervals."""
        from .compare import compare_table, run_comparison
        scen = list(scenario or ["fabrique2040"])
        if not 0 < scale <= 1:
            fail(f"--scale must be in (0, 1], got {scale}")
        if replicates < 1:
            fail(f"--replicates must be >= 1, got {replicates}")
        if lang not in ("fr", "en"):
            fail(f"--lang must be 'fr' or 'en', got {lang!r}")
        try:
            from .scenario import load_scenario
            extra: list[str] = []
            if with_contributions:
                from .engagements import catalogue
                cat = catalogue()
                engs = sorted(load_scenario(scen[0]).engagements, key=lambda e: cat[e].number)
                extra = [e for e in engs if e not in scen and e != baseline]
            df = run_comparison([baseline] + scen + extra, replicates=replicates, scale=scale, seed=seed, out=out,
                                workers=workers, quiet=as_json)
            table = compare_table(df, baseline=baseline, year=year)
            table.to_parquet(out / "comparison.parquet", index=False)
            if with_contributions:
                from .compare import contributions, write_stories
                from .experiment import replicate_seed
                rows = contributions(df, scen[0], extra, baseline, year)
                (out / "contributions.json").write_text(json.dumps(rows, indent=1))
                from .model import FabriqueModel
                from .stories import coverage as persona_coverage
                cov = persona_coverage(FabriqueModel(baseline, scale=scale, seed=seed, end_year=2017))
                (out / "coverage.json").write_text(json.dumps(dict(cov, year=2017), indent=1))
                write_stories(out, scen[0], scale, [replicate_seed(seed, r) for r in range(min(3, replicates))])
            if report is not None:
                from .report import build_report
                build_report([out], report, lang=lang, baseline=baseline)
        except ParameterError as exc:
            fail(str(exc))
        if as_json:
            print(json.dumps(table.to_dict(orient="records"), indent=1))
            return
        for sc in scen:
            t = Table(title=f"{sc} vs {baseline}, {year}: mean paired difference [90 % interval], "
                            f"{replicates} replicates, scale {scale}")
            for c in ("outcome", "group", "difference", "90 % interval"):
                t.add_column(c, justify="left" if c in ("outcome", "group") else "right")
            sub = table[(table.scenario == sc) & table.metric.isin(HEADLINE)]
            for _, r in sub[sub.group == "all"].iterrows():
                t.add_row(r.metric, "all", _fmt(r.metric, r["mean"]), f"[{_fmt(r.metric, r['low'])}, "
                          f"{_fmt(r.metric, r['high'])}]")
            for _, r in sub[(sub.group != "all") & sub.metric.isin(HEADLINE[:3])].iterrows():
                t.add_row(r.metric, r.group, _fmt(r.metric, r["mean"]),
                          f"[{_fmt(r.metric, r['low'])}, {_fmt(r.metric, r['high'])}]")
            console.print(t)
        console.print(f"tidy tables in [bold]{out}[/] (runs/*/metrics.parquet, comparison.parquet)"
                      + (f"; report: [bold]{report}[/]" if report else ""))

    @app.command()
    def story(persona: str = typer.Argument(..., help="Persona id: sophie, nicolas, laurence, carlos, "
                                                      "jean_stephane, sarah, huguette, malika"),
              scenario: str = typer.Option("fabrique2040", help="Scenario"),
              lang: str = typer.Option("fr", help="fr or en"),
              scale: float = typer.Option(0.01, help="Fraction of the real population"),
              seed: int = typer.Option(1, help="Random seed"),
              counterfactuals: bool = typer.Option(True, help="Find the engagements that changed the path"),
              seeds: int = typer.Option(3, help="Seeds for the counterfactual runs (seed, seed+1, ...)"),
              as_json: bool = typer.Option(False, "--json")) -> None:
        """The persona's 2040 story from the simulated trajectory, in French or English."""
        from .personas import PERSONA_IDS
        from .stories import counterfactual_changes, persona_path
        from .stories import story as write_story
        if persona not in PERSONA_IDS:
            fail(f"unknown persona {persona!r}; allowed: {list(PERSONA_IDS)}")
        if lang not in ("fr", "en"):
            fail(f"--lang must be 'fr' or 'en', got {lang!r}")
        try:
            if counterfactuals:
                res, changes = counterfactual_changes(persona, scenario, scale, seed, lang=lang, seeds=seeds)
            else:
                from .results import run
                res, changes = run(scenario, scale=scale, seed=seed), None
        except ParameterError as exc:
            fail(str(exc))
        names = {p["id"]: p["name"] for p in res.territory.get("poles", [])}
        from .personas import load_personas
        nm = next(p.name for p in load_personas() if p.id == persona)
        text = write_story(persona, persona_path(res.personas, persona), lang, names, changes, name=nm)
        if as_json:
            print(json.dumps({"persona": persona, "scenario": scenario, "lang": lang, "story": text,
                              "engagements": [c.engagement for c in changes or []]}, ensure_ascii=False))
        else:
            console.print(text)

    @app.command("calibration-report")
    def calibration_report(scale: float = typer.Option(0.01, help="Fraction of the real population"),
                           seed: int = typer.Option(1, help="Random seed"),
                           as_json: bool = typer.Option(False, "--json")) -> None:
        """2017 targets vs model: population marginals and each process's calibration rows."""
        from .model import FabriqueModel
        try:
            m = FabriqueModel(scale=scale, seed=seed)
            rows = [dict(r, process="population") for r in m.marginals()]
            m.step()  # flows such as net job creation need one simulated year
            for name, mod in m.processes.items():
                if hasattr(mod, "calibration"):
                    rows += [dict(r, process=name) for r in mod.calibration(m)]
        except ParameterError as exc:
            fail(str(exc))
        if as_json:
            print(json.dumps(rows, indent=1, default=float))
            return
        t = Table(title=f"Calibration: target vs achieved (scale {scale}, seed {seed})")
        for c in ("process", "target", "achieved", "tolerance", "ok"):
            t.add_column(c)
        t.add_column("marginal", justify="left")
        for r in rows:
            if r["marginal"].startswith("population pole="):
                continue
            t.add_row(r["process"], f"{r['target']:,.4g}", f"{r['achieved']:,.4g}", f"{r['tolerance']:.3g}",
                      "[green]ok[/]" if r["ok"] else "[red]OUT[/]", r["marginal"])
        console.print(t)
        bad = [r for r in rows if not r["ok"]]
        if bad:
            err.print(f"{len(bad)} target(s) out of tolerance")

    @app.command()
    def coverage(scale: float = typer.Option(0.01), seed: int = typer.Option(1),
                 as_json: bool = typer.Option(False, "--json")) -> None:
        """How many people each persona stands for, where, and which groups no persona represents well."""
        from .model import FabriqueModel
        from .stories import coverage as cov
        try:
            c = cov(FabriqueModel(scale=scale, seed=seed, end_year=2017))
        except ParameterError as exc:
            fail(str(exc))
        if as_json:
            print(json.dumps(c, indent=1))
            return
        t = Table(title="Persona coverage (2017)")
        for col in ("persona", "persons", "share", "main poles"):
            t.add_column(col)
        for s in c["segments"]:
            t.add_row(s["persona"], f"{s['persons']:,.0f}", f"{100 * s['share']:.1f} %",
                      ", ".join(f"{x['pole']} ({x['persons']:,.0f})" for x in s["top_poles"]))
        console.print(t)
        t2 = Table(title=f"Groups least represented by their persona (overall {100 * c['well_represented_share']:.0f} % "
                         "share the life stage and status of their segment's persona)")
        for col in ("group", "persons", "well represented"):
            t2.add_column(col)
        for r in c["poorly_represented"]:
            t2.add_row(r["group"], f"{r['persons']:,.0f}", f"{100 * r['well_represented_share']:.0f} %")
        console.print(t2)
