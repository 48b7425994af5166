"""The HTML report: built from synthetic tidy results (no model run)."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_fixture import PERSONAS, make_run, make_sweep  # noqa: E402

from simulator.params import ParameterError  # noqa: E402
from simulator.report import build_report, load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    return make_sweep(tmp_path_factory.mktemp("sweep"))


@pytest.fixture(scope="module")
def report_fr(sweep, tmp_path_factory) -> Path:
    return build_report([sweep], tmp_path_factory.mktemp("out") / "report_fr.html", lang="fr")


@pytest.fixture(scope="module")
def report_en(sweep, tmp_path_factory) -> Path:
    runs = sorted((sweep / "runs").iterdir())  # a list of run folders this time
    return build_report(runs, tmp_path_factory.mktemp("out") / "report_en.html", lang="en")


def test_loader_concatenates_runs(sweep):
    d = load([sweep])
    assert sorted(d.scenarios) == ["baseline", "engagements_all"]
    assert d.metrics.groupby("scenario")["replicate"].nunique().tolist() == [3, 3]
    assert len(d.folders) == 6 and d.territory and len(d.territory["poles"]) == 5
    assert d.contributions and d.stories


def test_single_self_contained_html(report_fr):
    text = report_fr.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    # plotly.js embedded exactly once
    assert text.count("<script type=\"text/javascript\">/**\n* plotly.js") == 1 or text.count("plotly.js v") >= 1
    assert len(re.findall(r"<script[^>]*>\s*/\*\*\s*\n?\s*\*\s*plotly\.js", text)) == 1
    # no external resources
    assert not re.search(r"<script[^>]+src\s*=", text, re.I)
    assert not re.search(r"<link[^>]+href\s*=\s*[\"']?https?:", text, re.I)
    assert not re.search(r"<(img|iframe|source|embed)[^>]+src\s*=\s*[\"']?https?:", text, re.I)
    assert "cdn.plot.ly" not in text.split("</head>", 1)[1]
    assert (report_fr.stat().st_mode & 0o044) == 0o044  # readable by others (not a 0600 temp file)
    assert not list(report_fr.parent.glob(".*.tmp"))


def test_french_labels_and_personas(report_fr):
    text = report_fr.read_text(encoding="utf-8")
    assert '<html lang="fr">' in text
    for label in ("Temps de trajet", "Taux d’emploi", "Accès au logement", "Qui gagne, qui perd",
                  "Méthode et hypothèses", "Jean-Stéphane", "9 simulations sur 10"):
        assert label in text, label
    for pid in PERSONAS:
        assert f'id="persona-{pid}"' in text
    # stories.json is used in the chosen language, generated text otherwise
    assert "en emploi depuis 2027 (parrainage)" in text
    assert "texte généré automatiquement" in text
    assert "Contribution des engagements" in text and 'id="chart-contributions"' in text


def test_headline_card_interval(report_fr, report_en):
    fr = report_fr.read_text(encoding="utf-8")
    en = report_en.read_text(encoding="utf-8")
    # commute: about 5.5 minutes shorter in every replicate
    assert re.search(r"entre \d+(,\d+)? et \d+(,\d+)? minutes de moins, 9 simulations sur 10", fr)
    assert re.search(r"between \d+(\.\d+)? and \d+(\.\d+)? minutes shorter, 9 runs in 10", en)
    assert "points de % de plus" in fr  # employment / housing access
    assert '<html lang="en">' in en and "Commute time" in en and 'id="persona-malika"' in en


def test_no_clear_difference_when_interval_crosses_zero():
    from simulator.report.stats import diff_sentence
    assert diff_sentence("commute_time_min", 0.1, -0.8, 1.2, 10, "fr").startswith("pas de différence nette")
    assert diff_sentence("commute_time_min", 0.1, -0.8, 1.2, 10, "en").startswith("no clear difference")
    s = diff_sentence("employment_rate", 1.6, 1.2, 2.0, 10, "en")
    assert s == "between 1.2 and 2.0 percentage points higher, 9 runs in 10"
    assert diff_sentence("commute_time_min", -5.5, -7.0, -4.0, 10, "fr") == \
        "entre 4,0 et 7,0 minutes de moins, 9 simulations sur 10"


def test_missing_metric_does_not_crash(tmp_path):
    drop = {"employment_rate", "mode_share", "births", "price_to_income_t3"}
    root = make_sweep(tmp_path / "sw", drop=drop, replicates=2)
    out = build_report([root], tmp_path / "r.html", lang="en")
    text = out.read_text(encoding="utf-8")
    assert "Chart skipped" in text and "employment_rate" in text
    assert 'id="persona-sophie"' in text


def test_single_run_without_baseline_or_extras(tmp_path):
    run = make_run(tmp_path / "one", "engagements_all", 0, seed=1, territory=False)
    (run / "flows.parquet").unlink()
    out = build_report([run], tmp_path / "one.html", lang="fr")
    text = out.read_text(encoding="utf-8")
    assert "absent" in text  # no baseline: levels only
    assert 'id="persona-huguette"' in text


def test_errors(tmp_path):
    with pytest.raises(ParameterError, match="no metrics.parquet"):
        build_report([tmp_path], tmp_path / "x.html")
    with pytest.raises(ParameterError, match="--lang"):
        build_report([tmp_path], tmp_path / "x.html", lang="de")


def test_report_does_not_import_the_model():
    banned = ("simulator.model", "simulator.processes", "simulator.population")
    for f in (ROOT / "simulator" / "report").glob("*.py"):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = ("." * node.level) + (node.module or "")
                full = mod.replace("..", "simulator.", 1) if mod.startswith("..") else mod
                assert not full.startswith(banned), f"{f.name} imports {mod}"
                assert not (node.level == 2 and (node.module or "").split(".")[0] in
                            ("model", "processes", "population")), f"{f.name} imports {mod}"
            if isinstance(node, ast.Import):
                for a in node.names:
                    assert not a.name.startswith(banned), f"{f.name} imports {a.name}"


def test_export_figures(tmp_path, sweep):
    try:
        from simulator.report import check_export
        check_export()
    except ParameterError as exc:
        assert "pip install kaleido" in str(exc)
        pytest.skip(f"static export unavailable: {exc}")
    from simulator.report import export_figures
    from simulator.report.data import load as _load
    from simulator.report.figures import fan_chart
    d = _load([sweep])
    paths = export_figures({"commute": fan_chart(d, "commute_time_min", "fr", "baseline")}, tmp_path / "figs")
    assert {p.suffix for p in paths} == {".png", ".svg"}
    assert all(p.stat().st_size > 1000 for p in paths)


def test_export_missing_browser_message(monkeypatch):
    from simulator.report import export as ex
    monkeypatch.setattr(ex, "browser_path", lambda: None)
    with pytest.raises(ParameterError, match="static export needs kaleido and Chromium"):
        ex.check_export()


# ---------------------------------------------------------------- headless browser
def _playwright():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright missing (pip install playwright)")
    return sync_playwright


BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.browser
def test_report_renders_in_headless_chromium(report_fr):
    sync_playwright = _playwright()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            requests: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url) if r.url.startswith("http") else None)
            page.goto(report_fr.resolve().as_uri(), wait_until="load")
            page.wait_for_function(
                "() => [...document.querySelectorAll('figure.chart')].every(f => f.querySelector('.main-svg'))",
                timeout=60_000)
            n_charts = page.locator("figure.chart").count()
            n_rendered = page.evaluate(
                "() => [...document.querySelectorAll('figure.chart')].filter(f => f.querySelector('.main-svg')"
                " && f.querySelector('.plot-container')).length")
            assert n_charts >= 10 and n_rendered == n_charts
            assert page.locator("article.persona").count() == 8
            for pid in PERSONAS:
                assert page.locator(f"#persona-{pid}").count() == 1
            body = page.inner_text("body")
            assert "Temps de trajet" in body and "Les huit personas" in body
            assert page.evaluate("document.documentElement.lang") == "fr"
            page.screenshot(path=str(ARTIFACTS / "report_fr.png"), full_page=True)
            # print layout: charts fitted to the page width, PDF written without errors
            page.emulate_media(media="print")
            page.evaluate("window.fabriquePrintLayout()")
            widths = page.evaluate("() => [...document.querySelectorAll('.plotly-graph-div')].map(d => "
                                   "d.querySelector('.main-svg').getAttribute('width') * 1)")
            assert max(widths) <= 1000
            page.pdf(path=str(ARTIFACTS / "report_fr.pdf"), landscape=True, format="A4", print_background=True)
            assert errors == [], errors
            assert requests == [], requests
        finally:
            browser.close()


def test_provenance_lists_large_seeds_without_building_ranges():
    from simulator.report.build import _compact_ints
    assert _compact_ints([4_000_000_000, 12, 3_999_999_999]) == "12, 3999999999, 4000000000"
    assert _compact_ints([3, 4, 5, 6]) == "3–6"


def test_persona_coverage_table_when_present(tmp_path):
    import json
    from simulator.report import build_report
    from report_fixture import make_sweep
    root = make_sweep(tmp_path / "sweep")
    cov = {"year": 2017, "well_represented_share": 0.4,
           "segments": [{"persona": "sophie", "persons": 146271.0, "share": 0.078,
                         "top_poles": [{"pole": "Z01", "persons": 30000.0}]}],
           "poorly_represented": [{"group": "age 25-44 employed", "persons": 300000.0,
                                   "well_represented_share": 0.1}]}
    (root / "coverage.json").write_text(json.dumps(cov))
    out = build_report([root], tmp_path / "r.html", lang="fr")
    text = out.read_text()
    assert 'id="persona-coverage"' in text and "146\u202f271" in text and "7,8\u00a0%" in text
