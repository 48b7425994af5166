"""The pole network on longitude/latitude (plain plotly scatter, no tile server).

Left panel: the baseline; right panel: another scenario (a dropdown picks it
when there are several). Poles are sized by population (area ∝ population),
road links coloured by the mean congestion index of their two poles, transit
lines dotted, and the largest home–work flows drawn as lines whose width is
proportional to the number of commuters (mean over replicates, last year).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from . import i18n
from .data import ReportData
from .figures import base_layout, order_scenarios, pole_names

CONGESTION_SCALE = "Cividis"
FLOW_COLOUR = "rgba(213,94,0,0.40)"  # Okabe-Ito vermillion
TRANSIT_COLOUR = "#CC79A7"  # Okabe-Ito reddish purple
POLE_COLOUR = "#E69F00"
MAX_FLOWS = 40


def _pole_table(data: ReportData) -> pd.DataFrame | None:
    poles = (data.territory or {}).get("poles") or []
    rows = [p for p in poles if p.get("lat") is not None and p.get("lon") is not None]
    if not rows:
        return None
    df = pd.DataFrame(rows)
    df["id"] = df["id"].astype(str)
    return df.set_index("id")


def _pole_metric(data: ReportData, scenario: str, metric: str) -> dict[str, float]:
    m = data.metrics
    m = m[(m["scenario"] == scenario) & (m["metric"] == metric) & (m["year"] == data.last_year)
          & m["group"].str.startswith("pole=")]
    if m.empty:
        return {}
    v = m.groupby("group")["value"].mean()
    return {g.split("=", 1)[1]: float(x) for g, x in v.items()}


def _flows(data: ReportData, scenario: str) -> pd.DataFrame:
    f = data.flows
    if f is None or f.empty:
        return pd.DataFrame(columns=["home_pole", "work_pole", "commuters"])
    f = f[(f["scenario"].astype(str) == scenario) & (f["year"] == f["year"].max())]
    f = f[f["home_pole"] != f["work_pole"]]
    if f.empty:
        return pd.DataFrame(columns=["home_pole", "work_pole", "commuters"])
    nrep = max(1, f["replicate"].nunique())
    g = f.groupby(["home_pole", "work_pole"], as_index=False)["commuters"].sum()
    g["commuters"] = g["commuters"] / nrep
    return g.sort_values("commuters", ascending=False).head(MAX_FLOWS)


def _panel_traces(data: ReportData, scenario: str, poles: pd.DataFrame, lang: str, cmin: float, cmax: float,
                  fmax: float, legend: bool) -> list[go.Scatter]:
    tr: list[go.Scatter] = []
    cong = _pole_metric(data, scenario, "congestion_index")
    if not cong and data.has("congestion_index"):
        m = data.metrics
        a = m[(m["scenario"] == scenario) & (m["metric"] == "congestion_index") & (m["group"] == "all")
              & (m["year"] == data.last_year)]["value"]
        if len(a):
            cong = {pid: float(a.mean()) for pid in poles.index}
    first_road = True
    for r in (data.territory or {}).get("road", []) or []:
        a, b = str(r.get("from")), str(r.get("to"))
        if a not in poles.index or b not in poles.index:
            continue
        if cong and a in cong and b in cong:
            v = (cong[a] + cong[b]) / 2
            t = 0.5 if cmax <= cmin else (v - cmin) / (cmax - cmin)
            colour = sample_colorscale(CONGESTION_SCALE, [min(max(t, 0), 1)])[0]
            hover = f"{a}–{b}: {i18n.t('congestion', lang)} {v:.2f}"
        else:
            colour, hover = "#aaaaaa", f"{a}–{b}"
        cap = float(r.get("capacity_veh_h") or 2000)
        tr.append(go.Scatter(x=[poles.at[a, "lon"], poles.at[b, "lon"]], y=[poles.at[a, "lat"], poles.at[b, "lat"]],
                             mode="lines", line=dict(color=colour, width=2.5 + 3 * min(cap / 6000, 1.5)),
                             name=i18n.t("roads", lang), legendgroup="roads", showlegend=legend and first_road,
                             hoverinfo="text", text=hover))
        first_road = False
    first = True
    for line in (data.territory or {}).get("transit", []) or []:
        stops = [str(s) for s in line.get("stops", []) if str(s) in poles.index]
        if len(stops) < 2:
            continue
        tr.append(go.Scatter(x=[poles.at[s, "lon"] for s in stops], y=[poles.at[s, "lat"] for s in stops],
                             mode="lines", line=dict(color=TRANSIT_COLOUR, width=3.5, dash="dot"),
                             name=i18n.t("transit", lang), legendgroup="transit", showlegend=legend and first,
                             hoverinfo="text", text=str(line.get("name") or line.get("id"))))
        first = False
    fl = _flows(data, scenario)
    flow_tr: list[go.Scatter] = []
    first = True
    for _, row in fl.iterrows():
        a, b = str(row["home_pole"]), str(row["work_pole"])
        if a not in poles.index or b not in poles.index:
            continue
        x0, y0, x1, y1 = poles.at[a, "lon"], poles.at[a, "lat"], poles.at[b, "lon"], poles.at[b, "lat"]
        dx, dy = x1 - x0, y1 - y0
        n = math.hypot(dx, dy) or 1.0
        ox, oy = -dy / n * 0.006, dx / n * 0.006  # offset so that A->B and B->A do not overlap
        w = 1 + 9 * float(row["commuters"]) / fmax if fmax > 0 else 2
        flow_tr.append(go.Scatter(x=[x0 + ox, x1 + ox], y=[y0 + oy, y1 + oy], mode="lines",
                             line=dict(color=FLOW_COLOUR, width=w), name=i18n.t("flows", lang),
                             legendgroup="flows", showlegend=legend and first, hoverinfo="text",
                             text=f"{a} → {b}: {i18n.fmt_num(float(row['commuters']), lang, 0)} "
                                  f"{i18n.t('commuters', lang)}"))
        first = False
    pop = _pole_metric(data, scenario, "population")
    sizes, texts, hov = [], [], []
    names = pole_names(data)
    for pid, p in poles.iterrows():
        v = pop.get(pid, p.get("population", np.nan) if "population" in poles.columns else np.nan)
        v = float(v) if v is not None and not pd.isna(v) else 20000.0
        sizes.append(v)
        texts.append(names.get(pid, pid) if v >= 60000 else "")
        hov.append(f"{pid} {names.get(pid, '')}<br>{i18n.fmt_num(v, lang, 0)} {i18n.t('inhabitants', lang)}")
    smax = max(sizes) if sizes else 1.0
    tr.append(go.Scatter(x=poles["lon"], y=poles["lat"], mode="markers+text", text=texts,
                         textposition="top center", textfont=dict(size=13, color="#222"),
                         marker=dict(size=[8 + 38 * math.sqrt(s / smax) for s in sizes], color=POLE_COLOUR,
                                     line=dict(color="#333", width=1), opacity=0.9),
                         name=i18n.t("poles", lang), legendgroup="poles", showlegend=legend,
                         hovertext=hov, hoverinfo="text"))
    return flow_tr + tr


def network_figure(data: ReportData, lang: str, baseline: str) -> go.Figure | None:
    poles = _pole_table(data)
    if poles is None:
        return None
    poles["lat"] = poles["lat"].astype(float)
    poles["lon"] = poles["lon"].astype(float)
    scen = order_scenarios(data.scenarios, baseline)
    left = scen[0]
    rights = scen[1:]
    ncols = 2 if rights else 1
    allc = [v for s in scen for v in _pole_metric(data, s, "congestion_index").values()]
    cmin, cmax = (min(allc), max(allc)) if allc else (0.0, 1.0)
    fmax = max([_flows(data, s)["commuters"].max() if len(_flows(data, s)) else 0 for s in scen] + [0])
    fig = make_subplots(rows=1, cols=ncols, subplot_titles=[left] + ([rights[0]] if rights else []),
                        horizontal_spacing=0.02)
    tags: list[str] = []
    for t in _panel_traces(data, left, poles, lang, cmin, cmax, fmax, legend=True):
        fig.add_trace(t, row=1, col=1)
        tags.append("left")
    for k, s in enumerate(rights):
        for t in _panel_traces(data, s, poles, lang, cmin, cmax, fmax, legend=False):
            t.visible = (k == 0)
            fig.add_trace(t, row=1, col=2)
            tags.append(s)
    if allc:  # colour bar for congestion
        fig.add_trace(go.Scatter(x=[poles["lon"].mean()], y=[poles["lat"].mean()], mode="markers",
                                 marker=dict(size=0.1, color=[cmin], cmin=cmin, cmax=cmax,
                                             colorscale=CONGESTION_SCALE, showscale=True,
                                             colorbar=dict(title=dict(text=i18n.t("congestion", lang)),
                                                           thickness=14, len=0.6, x=1.01)),
                                 hoverinfo="skip", showlegend=False), row=1, col=1)
        tags.append("left")
    lat0 = float(poles["lat"].mean())
    pad_x = (poles["lon"].max() - poles["lon"].min()) * 0.06 + 0.02
    pad_y = (poles["lat"].max() - poles["lat"].min()) * 0.08 + 0.02
    for c in range(1, ncols + 1):
        xa = "x" if c == 1 else f"x{c}"
        fig.update_xaxes(range=[poles["lon"].min() - pad_x, poles["lon"].max() + pad_x], visible=False,
                         row=1, col=c)
        fig.update_yaxes(range=[poles["lat"].min() - pad_y, poles["lat"].max() + pad_y], visible=False,
                         scaleanchor=xa, scaleratio=1 / math.cos(math.radians(lat0)), row=1, col=c)
    base_layout(fig, None, height=620 if ncols == 2 else 640)
    fig.update_layout(margin=dict(l=10, r=10, t=50, b=40), legend=dict(y=-0.02),
                      plot_bgcolor="#f4f7fa")
    if len(rights) > 1:
        buttons = []
        for s in rights:
            vis = [tg == "left" or tg == s for tg in tags]
            buttons.append(dict(label=s, method="update", args=[{"visible": vis}, {"annotations[1].text": s}]))
        fig.update_layout(updatemenus=[dict(buttons=buttons, direction="down", x=0.52, xanchor="left", y=1.12,
                                            yanchor="top", showactive=True, font=dict(size=14))])
    return fig
