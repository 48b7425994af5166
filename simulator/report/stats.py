"""Paired differences and bands, and how to say them in words.

Runs of a scenario are paired with baseline runs of the same replicate
(and seed, when they match: common random numbers). The "9 runs in 10"
interval is the 5th–95th percentile of the paired differences.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import i18n

Q_LOW, Q_HIGH = 0.05, 0.95


def _scale(metric: str) -> float:
    return 100.0 if i18n.is_share(metric) else 1.0


def band(metrics: pd.DataFrame, metric: str, group: str = "all") -> pd.DataFrame:
    """Per scenario and year: median, 5th and 95th percentile across replicates (display units)."""
    m = metrics[(metrics["metric"] == metric) & (metrics["group"] == group)]
    if m.empty:
        return pd.DataFrame(columns=["scenario", "year", "low", "mid", "high", "n"])
    g = m.groupby(["scenario", "year"], sort=True)["value"]
    out = pd.DataFrame({"low": g.quantile(Q_LOW), "mid": g.median(), "high": g.quantile(Q_HIGH),
                        "n": g.count()}).reset_index()
    s = _scale(metric)
    out[["low", "mid", "high"]] *= s
    return out


def paired(metrics: pd.DataFrame, scenario: str, baseline: str, year: int,
           metric_names: list[str] | None = None, group_prefix: str | None = "all") -> pd.DataFrame:
    """Per (metric, group, replicate): scenario − baseline, in display units."""
    m = metrics[metrics["year"] == year]
    if metric_names is not None:
        m = m[m["metric"].isin(metric_names)]
    if group_prefix == "all":
        m = m[m["group"] == "all"]
    elif group_prefix:
        m = m[m["group"].str.startswith(group_prefix)]
    a = m[m["scenario"] == scenario]
    b = m[m["scenario"] == baseline]
    if a.empty or b.empty:
        return pd.DataFrame(columns=["metric", "group", "replicate", "diff"])
    keys = ["metric", "group", "replicate", "seed"]
    j = a.merge(b, on=keys, suffixes=("_s", "_b"))
    if j.empty:  # seeds differ: pair by replicate only
        keys = ["metric", "group", "replicate"]
        j = a.drop(columns="seed").merge(b.drop(columns="seed"), on=keys, suffixes=("_s", "_b"))
    j["diff"] = j["value_s"] - j["value_b"]
    j["diff"] *= j["metric"].map(_scale)
    return j[["metric", "group", "replicate", "diff"]]


def summarise(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (metric, group): n, mean, low, high of the paired differences."""
    if pairs.empty:
        return pd.DataFrame(columns=["metric", "group", "n", "mean", "low", "high"])
    p = pairs.dropna(subset=["diff"])
    g = p.groupby(["metric", "group"], sort=False)["diff"]
    return pd.DataFrame({"n": g.count(), "mean": g.mean(), "low": g.quantile(Q_LOW),
                         "high": g.quantile(Q_HIGH)}).reset_index()


def level(metrics: pd.DataFrame, scenario: str, metric: str, year: int, group: str = "all") -> dict[str, float]:
    m = metrics[(metrics["scenario"] == scenario) & (metrics["metric"] == metric) & (metrics["group"] == group)
                & (metrics["year"] == year)]["value"].dropna() * _scale(metric)
    if m.empty:
        return {"n": 0, "mean": math.nan, "low": math.nan, "high": math.nan}
    return {"n": int(len(m)), "mean": float(m.mean()), "low": float(m.quantile(Q_LOW)),
            "high": float(m.quantile(Q_HIGH))}


def crosses_zero(low: float, high: float) -> bool:
    return low <= 0 <= high


def diff_sentence(metric: str, mean: float, low: float, high: float, n: int, lang: str) -> str:
    """Plain-language difference, e.g. "between 4 and 7 minutes shorter, 9 runs in 10"."""
    unit = i18n.diff_unit_long(metric, lang)
    less, more = i18n.direction_words(metric, lang)
    if n <= 1 or not (math.isfinite(low) and math.isfinite(high)):
        d = i18n.auto_decimals(mean)
        return i18n.t("single_run", lang, value=f"{signed(mean, lang, d)} {unit}".strip())
    d = i18n.auto_decimals(low, high, high - low)
    if crosses_zero(low, high) or (round(low, d) == 0 and round(high, d) == 0):
        return i18n.t("no_clear", lang, low=signed(low, lang, d), high=signed(high, lang, d), unit=unit).replace(
            "  ", " ")
    a, b = sorted([abs(low), abs(high)])
    direction = less if high < 0 else more
    return i18n.t("between", lang, a=i18n.fmt_num(a, lang, d), b=i18n.fmt_num(b, lang, d), unit=unit,
                  direction=direction).replace("  ", " ")


def signed(x: float, lang: str, decimals: int) -> str:
    if not math.isfinite(x):
        return "—"
    s = i18n.fmt_num(abs(x), lang, decimals)
    if round(x, decimals) == 0:
        return s
    return ("+" if x > 0 else "−") + s


def verdict(metric: str, low: float, high: float, n: int) -> str:
    """"good", "bad" or "neutral" (for the card colour)."""
    good = i18n.METRICS.get(metric, {}).get("good", 0)
    if n <= 1 or not (math.isfinite(low) and math.isfinite(high)) or crosses_zero(low, high) or good == 0:
        return "neutral"
    sign = 1 if low > 0 else -1
    return "good" if sign * good > 0 else "bad"


def quantiles(values: np.ndarray) -> tuple[float, float, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    return float(np.quantile(v, Q_LOW)), float(np.median(v)), float(np.quantile(v, Q_HIGH))
