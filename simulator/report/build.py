"""Assemble the self-contained HTML report (French or English).

``build_report(inputs, out_html, lang)`` loads result folders, builds the
figures from the tidy tables, and writes ONE HTML file with plotly.js
embedded once (no CDN, no network: it opens by double-click). The file is
written to a temporary name and moved into place atomically.
"""
from __future__ import annotations

import html
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from ..params import ParameterError
from . import figures as F
from . import i18n, stats
from .data import ReportData, load
from .i18n import t
from .network_map import network_figure

PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
               "toImageButtonOptions": {"format": "png", "scale": 2}}

OTHER_METRICS = ["commute_over_45min_share", "mobility_cost_eur_month", "congestion_index", "unemployment_rate",
                 "youth_jobless_rate", "long_term_unemployed_share", "jobs", "vacancies", "mean_income",
                 "housing_cost_burden", "social_housing_wait_years", "price_to_income_t3",
                 "young_adults_independent_share", "energy_poverty_share", "population", "households",
                 "population_60plus", "births", "deaths", "net_migration"]

CSS = """
:root { --ink:#1d1d1f; --muted:#555; --line:#d9dde3; --good:#009E73; --bad:#D55E00; --neutral:#666; }
* { box-sizing: border-box; }
body { font-family: "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink); margin: 0; background: #fff;
       font-size: 18px; line-height: 1.45; }
header.top { background: #0b3954; color: #fff; padding: 28px 40px 20px; }
header.top h1 { margin: 0 0 6px; font-size: 34px; }
header.top p { margin: 0; font-size: 19px; opacity: .92; }
nav.toc { padding: 10px 40px; border-bottom: 1px solid var(--line); background: #f6f8fa; font-size: 16px; }
nav.toc a { margin-right: 18px; color: #0b3954; text-decoration: none; white-space: nowrap; }
main { max-width: 1380px; margin: 0 auto; padding: 0 32px 40px; }
section { padding-top: 18px; border-bottom: 1px solid var(--line); padding-bottom: 18px; }
h2 { font-size: 28px; margin: 18px 0 8px; color: #0b3954; }
h3 { font-size: 22px; margin: 18px 0 6px; }
p.intro { color: var(--muted); margin: 4px 0 12px; max-width: 70em; }
figure.chart { margin: 10px 0 22px; break-inside: avoid; page-break-inside: avoid; }
figure.chart figcaption.prov, p.prov { font-size: 13px; color: var(--muted); margin-top: 2px; }
p.note { background: #fff7e6; border-left: 4px solid #E69F00; padding: 8px 12px; font-size: 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 16px; margin: 8px 0 8px; }
.card { border: 1px solid var(--line); border-radius: 10px; padding: 14px 18px; background: #fbfcfd;
        border-top: 6px solid var(--neutral); break-inside: avoid; }
.card.good { border-top-color: var(--good); } .card.bad { border-top-color: var(--bad); }
.card .label { font-size: 17px; color: var(--muted); }
.card .big { font-size: 36px; font-weight: 700; margin: 4px 0; }
.card .ref { font-size: 16px; color: var(--muted); }
.card .diff { font-size: 19px; font-weight: 600; margin-top: 6px; }
.card.good .diff { color: #006e50; } .card.bad .diff { color: #a34400; }
.card .small { font-size: 14px; color: var(--muted); margin-top: 4px; }
.persona { border: 1px solid var(--line); border-radius: 12px; padding: 12px 20px; margin: 18px 0;
           break-inside: avoid; page-break-inside: avoid; }
.persona h3 { margin-top: 6px; } .persona .title { color: var(--muted); font-size: 17px; margin: 0 0 8px; }
.persona .grid { display: grid; grid-template-columns: minmax(260px, 340px) 1fr; gap: 20px; }
table.kv { border-collapse: collapse; font-size: 16px; width: 100%; }
table.kv th { width: 44%; text-align: left; color: var(--muted); font-weight: 500; padding: 3px 10px 3px 0; vertical-align: top; }
table.kv td { padding: 3px 0; }
.story { background: #f3f7fb; border-radius: 8px; padding: 10px 14px; margin: 8px 0; font-size: 17px; }
.story .scen { font-weight: 600; color: #0b3954; }
.story .gen { color: var(--muted); font-size: 14px; }
table.runs { border-collapse: collapse; font-size: 15px; margin: 8px 0; }
table.runs th, table.runs td { border: 1px solid var(--line); padding: 5px 9px; text-align: left; }
table.runs th { background: #f1f4f7; }
code { font-size: 14px; }
@page { size: A4 landscape; margin: 10mm; }
@media (max-width: 900px) { .persona .grid { grid-template-columns: 1fr; } }
@media print {
  body { font-size: 12pt; }
  nav.toc, .modebar, .modebar-container, .updatemenu-container { display: none !important; }
  header.top { background: #fff; color: #000; border-bottom: 2px solid #000; padding: 0 0 8px; }
  main { max-width: none; padding: 0; }
  section { break-before: page; page-break-before: always; border: 0; }
  section:first-of-type { break-before: auto; page-break-before: auto; }
  .persona { break-inside: avoid; page-break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""

PRINT_JS = """
(function(){
  // Printing: fit every chart to the A4-landscape page width, then restore the responsive width.
  var PAGE = 1000;
  function charts(){ return Array.prototype.slice.call(document.querySelectorAll('.plotly-graph-div')); }
  function toPrint(){ var main = document.querySelector('main'); var k = Math.min(1, PAGE / (main.clientWidth || PAGE));
    charts().forEach(function(d){ try { d.dataset.w = d.clientWidth;
      Plotly.relayout(d, {width: Math.floor(d.clientWidth * k)}); } catch(e) {} }); }
  function toScreen(){ charts().forEach(function(d){ try { Plotly.relayout(d, {width: null, autosize: true});
      Plotly.Plots.resize(d); } catch(e) {} }); }
  window.addEventListener('beforeprint', toPrint);
  window.addEventListener('afterprint', toScreen);
  window.fabriquePrintLayout = toPrint;
})();
"""


# ---------------------------------------------------------------- provenance
def _compact_ints(values: list[int]) -> str:
    v = sorted(set(int(x) for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))))
    if not v:
        return "—"
    if len(v) > 2 and v[-1] - v[0] == len(v) - 1:  # consecutive (never build the range: seeds can be huge)
        return f"{v[0]}–{v[-1]}"
    return ", ".join(str(x) for x in v[:12]) + (" …" if len(v) > 12 else "")


def provenance(data: ReportData, lang: str, when: str) -> str:
    mans = data.manifests
    versions = sorted({str(m.get("version", "?")) for m in mans})
    commits = sorted({str(m.get("git_commit") or "?")[:8] for m in mans})
    scen_hash: dict[str, set[str]] = {}
    for m in mans:
        scen_hash.setdefault(str(m.get("scenario")), set()).add(str(m.get("scenario_hash") or "?")[:8])
    scen = "; ".join(f"{s} #{'/'.join(sorted(h))}" for s, h in scen_hash.items())
    seeds = _compact_ints(list(data.metrics["seed"].unique()))
    scales = sorted({str(m.get("scale", "?")) for m in mans})
    return t("provenance", lang, version="/".join(versions), commit="/".join(commits), scenarios=scen, seeds=seeds,
             scale="/".join(scales), date=when)


# ---------------------------------------------------------------- html pieces
class Page:
    def __init__(self, data: ReportData, lang: str, baseline: str) -> None:
        self.data, self.lang, self.baseline = data, lang, baseline
        self.when = time.strftime("%Y-%m-%d %H:%M")
        self.prov = html.escape(provenance(data, lang, self.when))
        self.figs: dict[str, go.Figure] = {}
        self.charts: list[str] = []

    def chart(self, name: str, fig: go.Figure | None, missing: str | None = None) -> str:
        if fig is None:
            return f'<p class="note" data-missing="{html.escape(name)}">{html.escape(missing or name)}</p>'
        self.figs[name] = fig
        self.charts.append(name)
        cfg = dict(PLOT_CONFIG)
        cfg["toImageButtonOptions"] = dict(cfg["toImageButtonOptions"], filename=f"fabrique2040_{name}")
        div = fig.to_html(full_html=False, include_plotlyjs=False, config=cfg, div_id=f"fig-{name}",
                          default_width="100%")
        return (f'<figure class="chart" id="chart-{html.escape(name)}">{div}'
                f'<figcaption class="prov">{self.prov}</figcaption></figure>')


def _e(s: Any) -> str:
    return html.escape(str(s))


def _fmt_level(metric: str, v: float, lang: str) -> str:
    d = i18n.auto_decimals(v) if not i18n.is_share(metric) else 1
    if metric in ("population", "households", "jobs", "population_60plus", "vacancies"):
        d = 0
    u = i18n.metric_unit(metric, lang)
    num = i18n.fmt_num(v, lang, d)
    if u == "%":
        return f"{num}\u00a0%" if lang == "fr" else f"{num} %"
    return f"{num}\u00a0{u}" if u else num


def headline_section(pg: Page) -> str:
    d, lang, base = pg.data, pg.lang, pg.baseline
    year = d.last_year
    out = [f'<section id="headline"><h2>{_e(t("sec_headline", lang, year=year))}</h2>',
           f'<p class="intro">{_e(t("sec_headline_intro", lang, baseline=base, year=year))}</p>']
    metrics = [m for m in F.HEADLINE]
    has_base = base in d.scenarios
    if not has_base:
        out.append(f'<p class="note">{_e(t("no_baseline", lang, baseline=base))}</p>')
    scen = F.order_scenarios(d.scenarios, base)
    for s in scen:
        out.append(f'<h3>{_e(s)}</h3><div class="cards">')
        for m in metrics:
            if not d.has(m):
                out.append(f'<div class="card"><div class="label">{_e(i18n.metric_label(m, lang))}</div>'
                           f'<div class="small">{_e(t("missing_metric", lang, metric=m))}</div></div>')
                continue
            lv = stats.level(d.metrics, s, m, year)
            cls, diff_html = "neutral", ""
            if has_base and s != base:
                pr = stats.summarise(stats.paired(d.metrics, s, base, year, [m], "all"))
                bl = stats.level(d.metrics, base, m, year)
                if len(pr):
                    r = pr.iloc[0]
                    sent = stats.diff_sentence(m, r["mean"], r["low"], r["high"], int(r["n"]), lang)
                    cls = stats.verdict(m, r["low"], r["high"], int(r["n"]))
                    dd = i18n.auto_decimals(r["mean"])
                    unit = i18n.diff_unit(m, lang)
                    diff_html = (f'<div class="ref">{_e(t("vs_baseline", lang, baseline=base))} : '
                                 f'{_e(_fmt_level(m, bl["mean"], lang))}</div>' if lang == "fr" else
                                 f'<div class="ref">{_e(t("vs_baseline", lang, baseline=base))}: '
                                 f'{_e(_fmt_level(m, bl["mean"], lang))}</div>')
                    diff_html += f'<div class="diff">{_e(sent)}</div>'
                    diff_html += (f'<div class="small">{_e(t("mean_diff", lang, value=stats.signed(r["mean"], lang, dd)))}'
                                  f' {_e(unit)} · {_e(t("n_pairs", lang, n=int(r["n"])))}</div>')
            if not diff_html:
                rng = ""
                if lv["n"] > 1:
                    rng = t("level_range", lang, low=_fmt_level(m, lv["low"], lang), high=_fmt_level(m, lv["high"], lang))
                diff_html = f'<div class="small">{_e(rng)}</div>'
            out.append(f'<div class="card {cls}"><div class="label">{_e(i18n.metric_label(m, lang))}, {year}</div>'
                       f'<div class="big">{_e(_fmt_level(m, lv["mean"], lang))}</div>{diff_html}</div>')
        out.append("</div>")
    out.append(f'<p class="prov">{pg.prov}</p></section>')
    return "\n".join(out)


def trajectories_section(pg: Page) -> str:
    d, lang, base = pg.data, pg.lang, pg.baseline
    out = [f'<section id="trajectories"><h2>{_e(t("sec_traj", lang, year0=d.first_year, year=d.last_year))}</h2>',
           f'<p class="intro">{_e(t("sec_traj_intro", lang))}</p>']
    for m in F.HEADLINE:
        out.append(pg.chart(f"traj_{m}", F.fan_chart(d, m, lang, base), t("missing_metric", lang, metric=m)))
    out.append(pg.chart("traj_mode_share", F.mode_share_chart(d, lang, base),
                        t("missing_metric", lang, metric="mode_share")))
    others = [m for m in OTHER_METRICS if d.has(m)]
    out.append(f'<h3>{_e(t("sec_other", lang))}</h3>')
    missing = [m for m in OTHER_METRICS if not d.has(m)]
    out.append(pg.chart("traj_other", F.small_multiples(d, others, lang, base),
                        t("missing_data", lang, what=", ".join(OTHER_METRICS))))
    if missing:
        out.append(f'<p class="note">{_e("; ".join(t("missing_metric", lang, metric=m) for m in missing))}</p>')
    out.append("</section>")
    return "\n".join(out)


def who_section(pg: Page) -> str:
    d, lang, base = pg.data, pg.lang, pg.baseline
    out = [f'<section id="who"><h2>{_e(t("sec_who", lang))}</h2>',
           f'<p class="intro">{_e(t("sec_who_intro", lang, year=d.last_year))}</p>']
    if base not in d.scenarios:
        out.append(f'<p class="note">{_e(t("no_baseline", lang, baseline=base))}</p></section>')
        return "\n".join(out)
    others = ", ".join(s for s in d.scenarios if s != base)
    out.append(f'<h3>{_e(t("by_segment", lang, scenario=others, baseline=base))}</h3>')
    out.append(pg.chart("who_segment", F.gains_chart(d, lang, base, "segment="),
                        t("missing_data", lang, what="segment=…")))
    out.append(f'<h3>{_e(t("by_pole", lang, scenario=others, baseline=base))}</h3>')
    out.append(pg.chart("who_pole", F.gains_chart(d, lang, base, "pole="), t("missing_data", lang, what="pole=…")))
    out.append("</section>")
    return "\n".join(out)


def map_section(pg: Page) -> str:
    d, lang, base = pg.data, pg.lang, pg.baseline
    out = [f'<section id="map"><h2>{_e(t("sec_map", lang))}</h2>',
           f'<p class="intro">{_e(t("sec_map_intro", lang, year=d.last_year))}</p>']
    if d.territory and d.territory.get("source"):
        out.append(f'<p class="prov">territory: {_e(d.territory["source"])}</p>')
    out.append(pg.chart("network", network_figure(d, lang, base), t("missing_data", lang, what=t("no_territory", lang))))
    if d.flows is None or d.flows.empty:
        out.append(f'<p class="note">{_e(t("no_flows_note", lang))}</p>')
    out.append("</section>")
    return "\n".join(out)


# ---------------------------------------------------------------- personas
def _pole_name(pg: Page, pid: Any) -> str:
    pid = str(pid or "")
    if pid == "outside_AMP":
        return t("outside_amp", pg.lang)
    if not pid:
        return t("none", pg.lang)
    return F.pole_names(pg.data).get(pid, pid)


def _rep_row(df: pd.DataFrame, scenario: str, year: int) -> pd.Series | None:
    r = df[(df["scenario"] == scenario) & (df["year"] == year)]
    if r.empty:
        return None
    return r.sort_values("replicate").iloc[0]


def _gender(pid: str) -> str:
    return "f" if i18n.PERSONAS.get(pid, {}).get("pron_fr") == "elle" else "m"


def _status_words(status: str, pid: str, lang: str) -> str:
    w = i18n.pick(i18n.STATUS.get(status), lang, status)
    if lang == "fr":
        w = w.replace("(e)", "e" if _gender(pid) == "f" else "")
    return w


def generated_story(pg: Page, pid: str, scenario: str) -> str | None:
    d, lang = pg.data, pg.lang
    p = d.personas
    dp = p[p["persona"] == pid]
    last, first = int(dp["year"].max()), int(dp["year"].min())
    r = _rep_row(dp, scenario, last)
    if r is None:
        return None
    rep = r.get("replicate", 0)
    r0 = dp[(dp["scenario"] == scenario) & (dp["replicate"] == rep) & (dp["year"] == first)]
    r0 = r0.iloc[0] if len(r0) else None
    name = i18n.persona_name(pid)
    g = _gender(pid)
    pron = i18n.PERSONAS.get(pid, {}).get(f"pron_{lang}", "they" if lang == "en" else "il")
    parts: list[str] = []
    if "alive" in r.index and not bool(r["alive"]):
        parts.append(t("story_dead", lang, name=name, year=last, dead=t("dead_f" if g == "f" else "dead_m", lang)))
        return " ".join(parts)
    parts.append(t("story_alive", lang, year=last, name=name, age=int(r.get("age", 0)), home=_pole_name(pg, r.get("home_pole"))))
    status = str(r.get("status", ""))
    job = str(r.get("job_pole", "") or "")
    job_at = t("outside_amp", lang) if job == "outside_AMP" else t("at_place", lang, place=_pole_name(pg, job))
    cm = float(r.get("commute_min", 0) or 0)
    if status == "employed" and job and cm > 0:
        then = ""
        if r0 is not None and float(r0.get("commute_min", 0) or 0) > 0:
            then = t("story_commute_then", lang, c0=i18n.fmt_num(float(r0["commute_min"]), lang, 0), y0=first)
        parts.append(t("story_employed", lang, job_at=job_at, pron=pron,
                       mode_by=i18n.pick(i18n.MODE_BY.get(str(r.get("mode", ""))), lang),
                       commute=i18n.fmt_num(cm, lang, 0), then=then).replace("  ", " "))
    elif status == "employed":
        parts.append(t("story_employed_nocommute", lang, Pron=pron.capitalize(), job_at=job_at if job else ""))
    else:
        parts.append(t("story_status", lang, Pron=pron.capitalize(), status=_status_words(status, pid, lang)))
    if "income_eur_month" in r.index:
        inc0 = float(r0["income_eur_month"]) if r0 is not None else math.nan
        tenure = i18n.pick(i18n.TENURE.get(str(r.get("tenure", ""))), lang, str(r.get("tenure", "")))
        if lang == "fr":
            tenure = tenure.replace("(e)", "e" if g == "f" else "")
        parts.append(t("story_money", lang, income=i18n.fmt_num(float(r["income_eur_month"]), lang, 0),
                       income0=i18n.fmt_num(inc0, lang, 0), year0=first,
                       housing=i18n.fmt_num(float(r.get("housing_cost_eur_month", math.nan)), lang, 0),
                       tenure=tenure))
    return " ".join(parts)


def persona_card(pg: Page, pid: str) -> str:
    d, lang = pg.data, pg.lang
    p = d.personas
    dp = p[p["persona"] == pid]
    first = int(dp["year"].min())
    r = _rep_row(dp, pg.baseline, first)
    if r is None:
        r = dp[dp["year"] == first].sort_values(["scenario", "replicate"]).iloc[0]
    g = _gender(pid)

    def fr_g(s: str) -> str:
        return s.replace("(e)", "e" if g == "f" else "") if lang == "fr" else s

    rows = [
        ("card_age", t("years_old", lang, n=int(r.get("age", 0)))),
        ("card_home", f'{_pole_name(pg, r.get("home_pole"))} ({r.get("home_pole", "")})'),
        ("card_status", fr_g(i18n.pick(i18n.STATUS.get(str(r.get("status"))), lang, str(r.get("status"))))),
        ("card_job", _pole_name(pg, r.get("job_pole"))),
        ("card_mode", i18n.pick(i18n.MODES.get(str(r.get("mode", "") or "")), lang, str(r.get("mode", "")))),
        ("card_commute", t("minutes", lang, v=i18n.fmt_num(float(r.get("commute_min", 0) or 0), lang, 0))
         if float(r.get("commute_min", 0) or 0) > 0 else t("none", lang)),
        ("card_income", t("per_month", lang, v=i18n.fmt_num(float(r.get("income_eur_month", math.nan)), lang, 0))),
        ("card_housing", fr_g(i18n.pick(i18n.TENURE.get(str(r.get("tenure", ""))), lang, str(r.get("tenure", ""))))
         + (f', {i18n.pick(i18n.CONDITION.get(str(r.get("condition"))), lang, "")}' if r.get("condition") else "")),
        ("card_housing_cost", t("per_month", lang,
                                v=i18n.fmt_num(float(r.get("housing_cost_eur_month", math.nan)), lang, 0))),
        ("card_licence", f'{t("yes", lang) if bool(r.get("licence", False)) else t("no", lang)} / '
                         f'{int(r.get("cars", 0) or 0)}'),
    ]
    trs = "".join(f"<tr><th>{_e(t(k, lang))}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<h4>{_e(t("persona_card", lang, year=first))}</h4><table class="kv">{trs}</table>'


def persona_stories(pg: Page, pid: str) -> str:
    d, lang = pg.data, pg.lang
    out = []
    for s in F.order_scenarios(d.scenarios, pg.baseline):
        reps = sorted(r for (sc, r) in d.stories if sc == s)
        text, gen = None, False
        for rep in reps:
            st = d.stories[(s, rep)].get(pid)
            if isinstance(st, dict):
                text = st.get(lang) or None
            elif isinstance(st, str):
                text = st
            if text:
                break
        if not text:
            if d.personas.empty or s not in set(d.personas["scenario"]):
                continue
            text, gen = generated_story(pg, pid, s), True
        if not text:
            continue
        gen_html = f' <span class="gen">{_e(t("story_generated", lang))}</span>' if gen else ""
        paras = "".join(f"<p>{_e(x)}</p>" for x in str(text).split("\n\n") if x.strip())
        out.append(f'<div class="story"><span class="scen">{_e(s)}</span>{gen_html}{paras}</div>')
    return "".join(out)


def personas_section(pg: Page) -> str:
    d, lang = pg.data, pg.lang
    out = [f'<section id="personas"><h2>{_e(t("sec_personas", lang))}</h2>',
           f'<p class="intro">{_e(t("sec_personas_intro", lang, year0=d.first_year))}</p>']
    have = set(d.personas["persona"].astype(str)) if not d.personas.empty and "persona" in d.personas.columns else set()
    ids = list(i18n.PERSONA_ORDER) + sorted(have - set(i18n.PERSONA_ORDER))
    for pid in ids:
        name = i18n.persona_name(pid)
        title = i18n.persona_field(pid, "title", lang)
        out.append(f'<article class="persona" id="persona-{_e(pid)}"><h3>{_e(name)}</h3>'
                   f'<p class="title">{_e(title)}</p>')
        if pid not in have:
            out.append(f'<p class="note">{_e(t("missing_data", lang, what=t("no_personas", lang)))}</p></article>')
            continue
        out.append(f'<div class="grid"><div>{persona_card(pg, pid)}</div><div>')
        out.append(pg.chart(f"persona_{pid}", F.persona_figure(d, pid, lang, pg.baseline),
                            t("missing_data", lang, what=t("no_personas", lang))))
        out.append("</div></div>")
        out.append(f'<h4>{_e(t("persona_story", lang, year=d.last_year))}</h4>{persona_stories(pg, pid)}</article>')
    out.append(coverage_block(pg))
    out.append("</section>")
    return "\n".join(out)


def coverage_block(pg: Page) -> str:
    """Who each persona stands for (coverage.json written by `fabrique compare`), if present."""
    cov, lang = pg.data.coverage, pg.lang
    if not cov or not cov.get("segments"):
        return ""
    names = {p["id"]: p["name"] for p in (pg.data.territory or {}).get("poles", [])}
    sep = "\u202f" if lang == "fr" else ","
    num = lambda v: f"{v:,.0f}".replace(",", sep)  # noqa: E731
    pct = lambda v: (f"{100 * v:.1f}".replace(".", ",") if lang == "fr" else f"{100 * v:.1f}") + "\u00a0%"  # noqa: E731
    rows = "".join(
        f"<tr><td>{_e(i18n.persona_name(s['persona']))}</td><td>{num(s['persons'])}</td>"
        f"<td>{pct(s['share'])}</td><td>{_e(', '.join(names.get(x['pole'], x['pole']) for x in s['top_poles']))}</td></tr>"
        for s in cov["segments"])
    groups = "".join(f"<tr><td>{_e(g['group'])}</td><td>{num(g['persons'])}</td>"
                     f"<td>{100 * g['well_represented_share']:.0f} %</td></tr>" for g in cov.get("poorly_represented", []))
    return (f'<div class="coverage" id="persona-coverage"><h3>{_e(t("coverage_title", lang))}</h3>'
            f'<p class="intro">{_e(t("coverage_intro", lang, year=cov.get("year", pg.data.first_year)))}</p>'
            f'<table class="runs"><thead><tr><th>Persona</th><th>{_e(t("coverage_persons", lang))}</th>'
            f'<th>{_e(t("coverage_share", lang))}</th><th>{_e(t("coverage_poles", lang))}</th></tr></thead>'
            f'<tbody>{rows}</tbody></table>'
            f'<table class="runs"><thead><tr><th>{_e(t("coverage_group", lang))}</th><th>{_e(t("coverage_persons", lang))}</th>'
            f'<th>{_e(t("coverage_well", lang))}</th></tr></thead><tbody>{groups}</tbody></table></div>')


def contributions_section(pg: Page) -> str:
    lang = pg.lang
    out = [f'<section id="contributions"><h2>{_e(t("sec_contrib", lang))}</h2>']
    fig = F.contributions_chart(pg.data, lang)
    if fig is None:
        out.append(f'<p class="note">{_e(t("no_contrib", lang))}</p>')
    else:
        out.append(f'<p class="intro">{_e(t("sec_contrib_intro", lang, year=pg.data.last_year))}</p>')
        out.append(pg.chart("contributions", fig))
    out.append("</section>")
    return "\n".join(out)


def method_section(pg: Page, extra_limits: list[dict[str, str]] | None = None) -> str:
    d, lang = pg.data, pg.lang
    out = [f'<section id="method"><h2>{_e(t("sec_method", lang))}</h2>', f'<p>{_e(t("method_model", lang))}</p>',
           f'<p>{_e(t("method_intervals", lang))}</p>', f'<h3>{_e(t("method_runs", lang))}</h3>']
    cols = ["method_col_scenario", "method_col_reps", "method_col_seeds", "method_col_hash", "method_col_scale",
            "method_col_years", "method_col_version"]
    out.append('<table class="runs"><tr>' + "".join(f"<th>{_e(t(c, lang))}</th>" for c in cols) + "</tr>")
    by: dict[str, list[dict]] = {}
    for m in d.manifests:
        by.setdefault(str(m.get("scenario")), []).append(m)
    for s in F.order_scenarios(d.scenarios, pg.baseline):
        ms = by.get(s, [])
        met = d.metrics[d.metrics["scenario"] == s]
        reps = met["replicate"].nunique()
        seeds = _compact_ints(list(met["seed"].unique()))
        hashes = ", ".join(sorted({str(m.get("scenario_hash") or "?")[:12] for m in ms})) or "?"
        scales = ", ".join(sorted({str(m.get("scale", "?")) for m in ms})) or "?"
        vers = ", ".join(sorted({f'{m.get("version", "?")} ({str(m.get("git_commit") or "?")[:8]})' for m in ms}))
        years = f"{int(met['year'].min())}–{int(met['year'].max())}"
        out.append("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in (s, reps, seeds, hashes, scales, years, vers))
                   + "</tr>")
    out.append("</table>")
    engs = {str(m.get("scenario")): m.get("engagements") for m in d.manifests if m.get("engagements") is not None}
    if engs:
        out.append("<ul>" + "".join(
            f"<li><b>{_e(s)}</b> : {_e(', '.join(i18n.engagement_label(e, lang) for e in v) or '—')}</li>"
            if lang == "fr" else
            f"<li><b>{_e(s)}</b>: {_e(', '.join(i18n.engagement_label(e, lang) for e in v) or '—')}</li>"
            for s, v in engs.items()) + "</ul>")
    out.append(f'<h3>{_e(t("method_sources", lang))}</h3><ul>'
               + "".join(f"<li>{_e(i18n.pick(x, lang))}</li>" for x in i18n.SOURCES) + "</ul>")
    limits = list(i18n.LIMITATIONS) + list(extra_limits or [])
    out.append(f'<h3>{_e(t("method_limits", lang))}</h3><ul>'
               + "".join(f"<li>{_e(i18n.pick(x, lang))}</li>" for x in limits) + "</ul>")
    out.append(f'<p class="prov">{pg.prov}</p><p class="prov">{_e(t("print_hint", lang))}</p></section>')
    return "\n".join(out)


# ---------------------------------------------------------------- entry points
def render(data: ReportData, lang: str = "fr", baseline: str = "baseline",
           extra_limits: list[dict[str, str]] | None = None) -> tuple[str, dict[str, go.Figure]]:
    """Return (html text, {chart name: figure})."""
    if lang not in i18n.LANGS:
        raise ParameterError(f"--lang {lang!r}: allowed values are {', '.join(i18n.LANGS)}")
    pg = Page(data, lang, baseline)
    body = [headline_section(pg), trajectories_section(pg), who_section(pg), map_section(pg), personas_section(pg),
            contributions_section(pg), method_section(pg, extra_limits)]
    toc = [("headline", "sec_headline"), ("trajectories", "sec_traj"), ("who", "sec_who"), ("map", "sec_map"),
           ("personas", "sec_personas"), ("contributions", "sec_contrib"), ("method", "sec_method")]
    yrs = dict(year=data.last_year, year0=data.first_year)
    nav = "".join(f'<a href="#{a}">{_e(t(k, lang, **yrs))}</a>' for a, k in toc)
    scen = ", ".join(F.order_scenarios(data.scenarios, baseline))
    doc = f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(t("doc_title", lang))}</title>
<style>{CSS}</style>
<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<header class="top"><h1>{_e(t("doc_title", lang))}</h1>
<p>{_e(t("doc_subtitle", lang))}</p><p>{_e(t("scenario", lang))} : {_e(scen)}</p></header>
<nav class="toc" aria-label="{_e(t("nav", lang))}">{nav}</nav>
<main>
{chr(10).join(body)}
</main>
<script type="text/javascript">{PRINT_JS}</script>
</body>
</html>
"""
    if lang == "en":
        doc = doc.replace(f"{_e(t('scenario', lang))} : ", f"{_e(t('scenario', lang))}: ")
    return doc, pg.figs


def write_atomic(text: str, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return out


def build_report(inputs: list[Path] | Path, out_html: Path, lang: str = "fr", baseline: str = "baseline",
                 figures_dir: Path | None = None, extra_limits: list[dict[str, str]] | None = None) -> Path:
    """Build the HTML report from result folders; optionally export every chart as PNG and SVG.

    ``inputs``: run folders and/or folders containing run folders (searched recursively).
    ``extra_limits``: more "what the model does not represent" items, ``[{"fr": ..., "en": ...}]``.
    """
    if lang not in i18n.LANGS:
        raise ParameterError(f"--lang {lang!r}: allowed values are {', '.join(i18n.LANGS)}")
    if figures_dir is not None:
        from .export import check_export
        check_export()  # fail before doing the work
    data = load(inputs)
    text, figs = render(data, lang, baseline, extra_limits)
    out = write_atomic(text, Path(out_html))
    if figures_dir is not None:
        from .export import export_figures
        export_figures(figs, Path(figures_dir))
    return out
