"""Outcome definitions and the tidy metric rows.

A metric row is ``(metric, group, value)``; ``group`` is ``all``,
``segment=<persona id>``, ``pole=<pole id>`` or ``mode=<mode>``. The model
adds year, scenario, replicate and seed. Grouped helpers are vectorised
with ``np.bincount``; every process module defines its own outcomes with
them in a ``metrics(model)`` function, and this module defines the
demographic ones.
"""
from __future__ import annotations

import numpy as np

from . import state as S

Row = tuple[str, str, float]


class Groups:
    """Group keys of persons (segment, pole) for one collection pass."""

    def __init__(self, model) -> None:
        p, h = model.persons, model.households
        self.seg_ids = model.segment_ids
        self.pole_ids = model.territory.ids
        self.p_seg = p.segment.astype(np.int64)
        self.p_pole = h.pole[p.hh].astype(np.int64)
        self.p_w = h.weight[p.hh] * p.alive
        self.h_seg = h.segment.astype(np.int64)
        self.h_pole = h.pole.astype(np.int64)
        members = np.bincount(p.hh[p.alive], minlength=h.n)
        self.h_alive = h.alive & (members > 0)
        self.h_w = h.weight * self.h_alive
        self.h_members = members


def _emit(rows: list[Row], name: str, overall: float, seg: np.ndarray | None, pole: np.ndarray | None,
          g: Groups) -> None:
    rows.append((name, "all", float(overall)))
    if seg is not None:
        for i, sid in enumerate(g.seg_ids):
            rows.append((name, f"segment={sid}", float(seg[i])))
    if pole is not None:
        for j, pid in enumerate(g.pole_ids):
            rows.append((name, f"pole={pid}", float(pole[j])))


def add_sum(rows: list[Row], name: str, g: Groups, values: np.ndarray, level: str = "person",
            by: tuple[str, ...] = ("segment", "pole")) -> None:
    """Sum of ``values`` x weight (values already 0 where not counted)."""
    seg_k, pole_k, w = (g.p_seg, g.p_pole, g.p_w) if level == "person" else (g.h_seg, g.h_pole, g.h_w)
    v = values * w
    seg = np.bincount(seg_k, weights=v, minlength=len(g.seg_ids)) if "segment" in by else None
    pole = np.bincount(pole_k, weights=v, minlength=len(g.pole_ids)) if "pole" in by else None
    _emit(rows, name, v.sum(), seg, pole, g)


def add_mean(rows: list[Row], name: str, g: Groups, values: np.ndarray, mask: np.ndarray,
             level: str = "person", by: tuple[str, ...] = ("segment", "pole")) -> None:
    """Weighted mean of ``values`` over ``mask`` (NaN for empty groups)."""
    seg_k, pole_k, w = (g.p_seg, g.p_pole, g.p_w) if level == "person" else (g.h_seg, g.h_pole, g.h_w)
    ww = w * mask
    vals = np.where(mask, values, 0.0)

    def ratio(keys, n):
        num = np.bincount(keys, weights=ww * vals, minlength=n)
        den = np.bincount(keys, weights=ww, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)

    tot = ww.sum()
    overall = (ww * vals).sum() / tot if tot > 0 else np.nan
    seg = ratio(seg_k, len(g.seg_ids)) if "segment" in by else None
    pole = ratio(pole_k, len(g.pole_ids)) if "pole" in by else None
    _emit(rows, name, overall, seg, pole, g)


def add_rate(rows: list[Row], name: str, g: Groups, num: np.ndarray, den: np.ndarray,
             level: str = "person", by: tuple[str, ...] = ("segment", "pole")) -> None:
    """Weighted share of ``num`` among ``den``."""
    add_mean(rows, name, g, num.astype(np.float64), den, level=level, by=by)


def add_weighted_quantile(rows: list[Row], name: str, g: Groups, values: np.ndarray, mask: np.ndarray,
                          q: float = 0.5, level: str = "household",
                          by: tuple[str, ...] = ("segment", "pole")) -> None:
    """Weighted quantile (e.g. the median cost burden) overall and per group."""
    seg_k, pole_k, w = (g.p_seg, g.p_pole, g.p_w) if level == "person" else (g.h_seg, g.h_pole, g.h_w)

    def wq(m):
        m = m & mask & (w > 0)
        if not m.any():
            return np.nan
        v, ww = values[m], w[m]
        o = np.argsort(v)
        c = np.cumsum(ww[o])
        return float(v[o][np.searchsorted(c, q * c[-1])])

    seg = np.array([wq(seg_k == i) for i in range(len(g.seg_ids))]) if "segment" in by else None
    pole = np.array([wq(pole_k == j) for j in range(len(g.pole_ids))]) if "pole" in by else None
    _emit(rows, name, wq(np.ones_like(mask, dtype=bool)), seg, pole, g)


def demography_metrics(model, g: Groups, events: dict[str, float] | None) -> list[Row]:
    p = model.persons
    rows: list[Row] = []
    alive = p.alive.astype(np.float64)
    add_sum(rows, "population", g, alive)
    add_sum(rows, "population_60plus", g, alive * (p.age >= 60))
    add_sum(rows, "population_80plus", g, alive * (p.age >= 80), by=())
    add_sum(rows, "population_under25", g, alive * (p.age < 25), by=())
    add_sum(rows, "households", g, g.h_alive.astype(np.float64), level="household")
    add_mean(rows, "household_size", g, g.h_members.astype(np.float64), g.h_alive, level="household", by=())
    if events is not None:
        for key in ("births", "deaths", "net_migration", "emigrants", "immigrants"):
            rows.append((key, "all", float(events.get(key, 0.0))))
    return rows


def status_shares(model, g: Groups) -> list[Row]:
    """Activity status counts (used for the accounting identity)."""
    p = model.persons
    rows: list[Row] = []
    for code, name in enumerate(S.STATUS):
        add_sum(rows, f"persons_{name}", g, (p.alive & (p.status == code)).astype(np.float64), by=())
    return rows
