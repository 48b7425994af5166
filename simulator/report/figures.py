"""Plotly figures of the report, built from the tidy results only.

Every builder returns a ``plotly.graph_objects.Figure`` or ``None`` when its
data is missing (the caller then prints a short note instead of a chart).
Colours: Okabe–Ito (colour-blind safe); the baseline is always black.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import i18n, stats
from .data import ReportData

OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#999999"]
BASELINE_COLOUR = "#000000"
HEADLINE = ["commute_time_min", "employment_rate", "housing_access_rate"]
MODES = ["car", "carpool", "transit", "bike", "walk"]
FONT = dict(family="Segoe UI, Helvetica, Arial, sans-serif", size=16, color="#222")


def colours(scenarios: list[str], baseline: str) -> dict[str, str]:
    out, k = {}, 0
    for s in scenarios:
        if s == baseline:
            out[s] = BASELINE_COLOUR
        else:
            out[s] = OKABE_ITO[k % len(OKABE_ITO)]
            k += 1
    return out


def order_scenarios(scenarios: list[str], baseline: str) -> list[str]:
    return ([baseline] if baseline in scenarios else []) + [s for s in scenarios if s != baseline]


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    return f"rgba({r},{g},{b},{alpha})"


def base_layout(fig: go.Figure, title: str | None = None, height: int = 460) -> go.Figure:
    fig.update_layout(
        template="plotly_white", font=FONT, height=height,
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=20)) if title else None,
        margin=dict(l=70, r=30, t=70 if title else 40, b=60),
        legend=dict(orientation="h", yanchor="top", y=-0.15, xanchor="left", x=0.0, font=dict(size=15)),
        hoverlabel=dict(font_size=15), separators=None,
    )
    return fig


def _separators(fig: go.Figure, lang: str) -> go.Figure:
    fig.update_layout(separators=", " if lang == "fr" else ".,")
    return fig


def pole_names(data: ReportData) -> dict[str, str]:
    names = {}
    for p in (data.territory or {}).get("poles", []) or []:
        nm = str(p.get("name") or p.get("id"))
        names[str(p.get("id"))] = nm.split(" (")[0]
    return names


# ---------------------------------------------------------------- trajectories
def _fan_traces(fig, b: pd.DataFrame, scen_order, cols, lang, row=None, col=None, showlegend=True, hov_unit=""):
    for s in scen_order:
        d = b[b["scenario"] == s].sort_values("year")
        if d.empty:
            continue
        c = cols[s]
        kw = dict(row=row, col=col) if row else {}
        x = d["year"].tolist()
        fig.add_trace(go.Scatter(x=x + x[::-1], y=d["high"].tolist() + d["low"].tolist()[::-1], fill="toself", mode="lines",
                                 fillcolor=rgba(c, 0.16), line=dict(width=0), hoverinfo="skip", showlegend=False,
                                 legendgroup=s, name=f"{s} {i18n.t('band90', lang)}"), **kw)
        fig.add_trace(go.Scatter(x=x, y=d["mid"], mode="lines", line=dict(color=c, width=3), name=s,
                                 legendgroup=s, showlegend=showlegend,
                                 customdata=np.stack([d["low"], d["high"]], axis=1),
                                 hovertemplate=f"<b>{s}</b> %{{x}}: %{{y:.3g}} {hov_unit} "
                                               f"(%{{customdata[0]:.3g}}–%{{customdata[1]:.3g}})<extra></extra>"),
                      **kw)


def fan_chart(data: ReportData, metric: str, lang: str, baseline: str) -> go.Figure | None:
    if not data.has(metric):
        return None
    b = stats.band(data.metrics, metric)
    if b.empty:
        return None
    scen = order_scenarios(data.scenarios, baseline)
    cols = colours(scen, baseline)
    fig = go.Figure()
    _fan_traces(fig, b, scen, cols, lang, hov_unit=i18n.metric_unit(metric, lang))
    base_layout(fig, i18n.metric_label(metric, lang), height=440)
    fig.update_xaxes(title_text=i18n.t("year", lang), dtick=_year_dtick(data))
    fig.update_yaxes(title_text=i18n.metric_unit(metric, lang) or None)
    return _separators(fig, lang)


def _year_dtick(data: ReportData) -> int:
    span = data.last_year - data.first_year
    return 1 if span <= 8 else (2 if span <= 16 else 4)


def mode_share_chart(data: ReportData, lang: str, baseline: str) -> go.Figure | None:
    if not data.has("mode_share"):
        return None
    modes = [m for m in MODES if f"mode={m}" in set(data.metrics.loc[data.metrics["metric"] == "mode_share", "group"])]
    if not modes:
        return None
    scen = order_scenarios(data.scenarios, baseline)
    cols = colours(scen, baseline)
    fig = make_subplots(rows=1, cols=len(modes), shared_yaxes=False,
                        subplot_titles=[i18n.pick(i18n.MODES[m], lang).capitalize() for m in modes],
                        horizontal_spacing=0.05)
    for k, m in enumerate(modes):
        b = stats.band(data.metrics, "mode_share", f"mode={m}")
        _fan_traces(fig, b, scen, cols, lang, row=1, col=k + 1, showlegend=(k == 0), hov_unit="%")
    base_layout(fig, f"{i18n.metric_label('mode_share', lang)} (%)", height=420)
    fig.update_xaxes(dtick=max(_year_dtick(data), 4 if data.last_year - data.first_year > 8 else 1),
                     tickangle=-45)
    return _separators(fig, lang)


def small_multiples(data: ReportData, metrics: list[str], lang: str, baseline: str) -> go.Figure | None:
    present = [m for m in metrics if data.has(m)]
    if not present:
        return None
    ncol = 3
    nrow = math.ceil(len(present) / ncol)
    scen = order_scenarios(data.scenarios, baseline)
    cols = colours(scen, baseline)
    titles = [f"{i18n.metric_label(m, lang)}" + (f" ({i18n.metric_unit(m, lang)})" if i18n.metric_unit(m, lang)
                                                  else "") for m in present]
    fig = make_subplots(rows=nrow, cols=ncol, subplot_titles=titles, vertical_spacing=0.5 / max(nrow, 1) if nrow > 1
                        else 0.1, horizontal_spacing=0.08)
    for k, m in enumerate(present):
        b = stats.band(data.metrics, m)
        _fan_traces(fig, b, scen, cols, lang, row=k // ncol + 1, col=k % ncol + 1, showlegend=(k == 0),
                    hov_unit=i18n.metric_unit(m, lang))
    base_layout(fig, None, height=260 * nrow + 120)
    fig.update_annotations(font_size=14)
    fig.update_layout(legend=dict(y=-0.4 / nrow))
    return _separators(fig, lang)


# ---------------------------------------------------------------- who gains
def gains_chart(data: ReportData, lang: str, baseline: str, prefix: str) -> go.Figure | None:
    """Horizontal bars of 2040 paired differences by segment or pole, one panel per headline metric."""
    if baseline not in data.scenarios:
        return None
    others = [s for s in order_scenarios(data.scenarios, baseline) if s != baseline]
    present = [m for m in HEADLINE if data.has(m)]
    if not others or not present:
        return None
    year = data.last_year
    cols = colours(order_scenarios(data.scenarios, baseline), baseline)
    tables = {s: stats.summarise(stats.paired(data.metrics, s, baseline, year, present, prefix)) for s in others}
    groups: list[str] = []
    for tab in tables.values():
        for g in tab["group"]:
            if g not in groups:
                groups.append(g)
    if not groups:
        return None
    if prefix == "segment=":
        order = [f"segment={p}" for p in i18n.PERSONA_ORDER if f"segment={p}" in groups]
        groups = order + [g for g in groups if g not in order]
        labels = {g: i18n.segment_label(g, lang) for g in groups}
    else:
        groups = sorted(groups)
        names = pole_names(data)
        labels = {g: f"{g.split('=', 1)[1]} {names.get(g.split('=', 1)[1], '')}".strip() for g in groups}
    fig = make_subplots(rows=1, cols=len(present), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[i18n.axis_title(m, lang, diff=True) for m in present])
    for s in others:
        tab = tables[s]
        for k, m in enumerate(present):
            t = tab[tab["metric"] == m].set_index("group").reindex(groups)
            fig.add_trace(go.Bar(
                y=[labels[g] for g in groups], x=t["mean"], orientation="h", name=s, legendgroup=s,
                showlegend=(k == 0), marker_color=cols[s],
                error_x=dict(type="data", symmetric=False, array=(t["high"] - t["mean"]).clip(lower=0),
                             arrayminus=(t["mean"] - t["low"]).clip(lower=0), color="#444", thickness=1.5),
                hovertemplate="%{y}: %{x:.3g} " + i18n.diff_unit(m, lang) + "<extra>" + s + "</extra>"),
                row=1, col=k + 1)
        for k in range(len(present)):
            fig.add_vline(x=0, line_color="#555", line_width=1, row=1, col=k + 1)
    height = max(380, 34 * len(groups) * max(1, len(others)) ** 0.5 + 170)
    base_layout(fig, None, height=int(height))
    fig.update_layout(barmode="group", margin=dict(l=10, r=20, t=60, b=60))
    fig.update_yaxes(autorange="reversed", automargin=True, tickfont=dict(size=13 if prefix == "pole=" else 14))
    fig.update_annotations(font_size=15)
    return _separators(fig, lang)


# ---------------------------------------------------------------- personas
def persona_figure(data: ReportData, pid: str, lang: str, baseline: str) -> go.Figure | None:
    p = data.personas
    if p.empty or "persona" not in p.columns:
        return None
    d = p[p["persona"] == pid].copy()
    if d.empty:
        return None
    if "alive" in d.columns:
        d = d[d["alive"].astype(bool)]
    scen = order_scenarios([s for s in data.scenarios if s in set(d["scenario"])], baseline)
    cols = colours(order_scenarios(data.scenarios, baseline), baseline)
    panels = [("commute_min", "pt_commute"), ("income_eur_month", "pt_income"),
              ("housing_cost_eur_month", "pt_housing"), ("status", "pt_status")]
    panels = [pp for pp in panels if pp[0] in d.columns]
    if not panels:
        return None
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[i18n.t(k, lang) for _, k in panels],
                        horizontal_spacing=0.07)
    status_idx = {s: i for i, s in enumerate(i18n.STATUS_ORDER)}
    for j, s in enumerate(scen):
        ds = d[d["scenario"] == s]
        for k, (col, _) in enumerate(panels):
            if col == "status":
                st = ds.groupby("year")["status"].agg(lambda v: v.mode().iloc[0] if len(v.mode()) else "")
                y = [status_idx.get(v, np.nan) + 0.07 * j for v in st.values]
                fig.add_trace(go.Scatter(x=st.index.tolist(), y=y, mode="lines", line=dict(color=cols[s], width=3,
                                                                                          shape="hv"),
                                         name=s, legendgroup=s, showlegend=False,
                                         text=[i18n.pick(i18n.STATUS_SHORT.get(v), lang, v) for v in st.values],
                                         hovertemplate="%{x}: %{text}<extra>" + s + "</extra>"),
                              row=1, col=k + 1)
            else:
                v = pd.to_numeric(ds[col], errors="coerce")
                if col == "commute_min":
                    v = v.where(v > 0)
                med = v.groupby(ds["year"]).median()
                fig.add_trace(go.Scatter(x=med.index.tolist(), y=med.values, mode="lines+markers",
                                         marker=dict(size=5), line=dict(color=cols[s], width=3), name=s,
                                         legendgroup=s, showlegend=(k == 0), connectgaps=False,
                                         hovertemplate="%{x}: %{y:.0f}<extra>" + s + "</extra>"),
                              row=1, col=k + 1)
    if any(c == "status" for c, _ in panels):
        k = [c for c, _ in panels].index("status") + 1
        fig.update_yaxes(tickvals=list(range(len(i18n.STATUS_ORDER))),
                         ticktext=[i18n.pick(i18n.STATUS_SHORT[s], lang) for s in i18n.STATUS_ORDER],
                         range=[-0.5, len(i18n.STATUS_ORDER) - 0.3], row=1, col=k)
    base_layout(fig, None, height=330)
    fig.update_layout(margin=dict(l=50, r=20, t=50, b=40), legend=dict(y=-0.22))
    fig.update_xaxes(dtick=max(_year_dtick(data), 4 if data.last_year - data.first_year > 8 else 1),
                     tickangle=-45, tickfont=dict(size=12), range=[data.first_year - 0.4, data.last_year + 0.4])
    fig.update_yaxes(tickfont=dict(size=12), rangemode="tozero")
    fig.update_annotations(font_size=15)
    return _separators(fig, lang)


# ---------------------------------------------------------------- contributions
def contributions_chart(data: ReportData, lang: str) -> go.Figure | None:
    rows = data.contributions
    if not rows:
        return None
    c = pd.DataFrame(rows)
    if not {"engagement", "metric", "delta"} <= set(c.columns):
        return None
    for k in ("low", "high"):
        if k not in c.columns:
            c[k] = np.nan
    c = c.groupby(["metric", "engagement"], sort=False)[["delta", "low", "high"]].mean().reset_index()
    present = list(dict.fromkeys(c["metric"]))
    fig = make_subplots(rows=1, cols=len(present), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[i18n.axis_title(m, lang, diff=True) for m in present])
    engs = list(dict.fromkeys(c["engagement"].astype(str)))
    labels = {e: i18n.engagement_label(e, lang) for e in engs}
    for k, m in enumerate(present):
        t = c[c["metric"] == m].copy()
        t["engagement"] = t["engagement"].astype(str)
        t = t.set_index("engagement").reindex(engs)
        s = 100.0 if i18n.is_share(m) else 1.0  # same units as metrics.parquet (shares 0-1)
        good = i18n.METRICS.get(m, {}).get("good", 0)
        colours_ = ["#009E73" if (good * v > 0) else ("#D55E00" if good * v < 0 else "#999999")
                    for v in t["delta"].fillna(0)]
        fig.add_trace(go.Bar(
            y=[labels[e] for e in engs], x=t["delta"] * s, orientation="h", marker_color=colours_, showlegend=False,
            error_x=dict(type="data", symmetric=False, array=((t["high"] - t["delta"]) * s).clip(lower=0).fillna(0),
                         arrayminus=((t["delta"] - t["low"]) * s).clip(lower=0).fillna(0), color="#333"),
            hovertemplate="%{y}: %{x:.3g}<extra></extra>"), row=1, col=k + 1)
        fig.add_vline(x=0, line_color="#555", line_width=1, row=1, col=k + 1)
    base_layout(fig, None, height=max(360, 40 * len(engs) + 140))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_layout(margin=dict(l=10, r=20, t=60, b=40))
    fig.update_annotations(font_size=15)
    return _separators(fig, lang)
