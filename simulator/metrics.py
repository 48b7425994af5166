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
    """Group keys of persons and households (segment, pole) for one collection pass.

    Computed once per collection: the combined key ``segment * n_poles + pole``
    lets every grouped total be one ``np.bincount`` over the (segment, pole)
    cells, from which the per-segment, per-pole and overall totals are
    marginal sums of a small matrix; rows are restricted to the living ones
    (weight > 0) before binning.
    """

    def __init__(self, model) -> None:
        p, h = model.persons, model.households
        self.seg_ids = model.segment_ids
        self.pole_ids = model.territory.ids
        self.n_seg, self.n_pole = len(self.seg_ids), len(self.pole_ids)
        self.n_cell = self.n_seg * self.n_pole
        # int32 group columns of the households (small); the combined keys are intp: np.bincount takes
        # intp keys without a conversion pass, and every grouped total bins them
        self.h_seg = h.segment.astype(np.int32)
        self.h_pole = h.pole.astype(np.int32)
        self.h_key = (self.h_seg * np.int32(self.n_pole) + self.h_pole).astype(np.intp)
        # (in place on the fresh arrays: the same numbers, fewer large temporaries)
        self.p_key = p.segment.astype(np.intp)
        self.p_key *= self.n_pole
        self.p_key += self.h_pole[p.hh]
        self.p_w = h.weight[p.hh]
        self.p_w *= p.alive
        # the living persons' rows and households, shared with the household facts (housing_outputs)
        self.p_alive_idx = np.flatnonzero(p.alive)     # (an index: cheaper than a boolean selection of ~95 %)
        self.p_alive_hh = p.hh[self.p_alive_idx]
        members = np.bincount(self.p_alive_hh, minlength=h.n)
        self.h_alive = h.alive & (members > 0)
        self.h_w = h.weight * self.h_alive
        self.h_members = members
        self.p_live = p.alive & (self.p_w > 0)
        # living rows of weight > 0 are usually every living row: then their index is the one above
        if np.count_nonzero(self.p_live) == self.p_alive_idx.size:
            self._live_idx = self.p_alive_idx
        else:
            self._live_idx = np.flatnonzero(self.p_live)
        # finite non-negative household weights: a weight x [mask] product is then 0.0 outside the mask, which
        # adds nothing to a sum (the same numbers as np.where(mask, w, 0.0), in a fifth of the time)
        self.finite_w = bool(np.all((h.weight >= 0) & (h.weight < np.inf)))     # (False for NaN)
        self._model_age = p.age
        self._cache: dict = {}
        self._scratch: dict = {}

    def scratch(self, name: str, n: int, dtype) -> np.ndarray:
        """A work array of ``n`` rows reused by the metrics of this pass (see ``_select``).

        Fresh arrays of a million rows are mapped and zeroed by the OS page by
        page on first use: reusing one buffer per role spares that cost in
        every metric after the first.
        """
        key = (name, np.dtype(dtype))
        buf = self._scratch.get(key)
        if buf is None or buf.size < n:
            buf = self._scratch[key] = np.empty(max(n, self.p_live.size if buf is None else 0), dtype=dtype)
        return buf[:n]

    def live_age(self) -> np.ndarray:
        """Age of the living persons counted (the rows of ``_select(g, "person", None)``), gathered once."""
        if "live_age" not in self._cache:
            self._cache["live_age"] = self._model_age[self._live_idx]
        return self._cache["live_age"]

    def level(self, level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(live mask, combined key, weight) of persons or households."""
        if level == "person":
            return self.p_live, self.p_key, self.p_w
        return self.h_alive, self.h_key, self.h_w

    def cells(self, keys: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Weighted totals per (segment, pole) cell, shape [n_seg, n_pole]."""
        return np.bincount(keys, weights=weights, minlength=self.n_cell).reshape(self.n_seg, self.n_pole)


def _emit(rows: list[Row], name: str, overall: float, seg: np.ndarray | None, pole: np.ndarray | None,
          g: Groups) -> None:
    rows.append((name, "all", float(overall)))
    if seg is not None:
        for i, sid in enumerate(g.seg_ids):
            rows.append((name, f"segment={sid}", float(seg[i])))
    if pole is not None:
        for j, pid in enumerate(g.pole_ids):
            rows.append((name, f"pole={pid}", float(pole[j])))


def masked(g: Groups, w: np.ndarray, mask: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``w`` where ``mask``, 0.0 elsewhere (as np.where(mask, w, 0.0) for the sums of a bincount); ``out``: a work array."""
    return np.multiply(w, mask, out=out) if g.finite_w else np.where(mask, w, 0.0)


def _select(g: Groups, level: str, mask: np.ndarray | None,
            scratch: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows counted (living and in ``mask``), with their combined keys and weights.

    With ``scratch`` the keys and weights of a masked selection are written in
    the pass's work arrays: valid until the next such selection.
    """
    live, key, w = g.level(level)
    if mask is live:                                          # the live mask itself: every living row
        mask = None
    if mask is None and ("select", level) in g._cache:       # every living row: the same for every metric
        return g._cache[("select", level)]
    if mask is None:
        idx = g._live_idx if level == "person" else np.flatnonzero(live)
    else:
        idx = np.flatnonzero(live & mask)
    if scratch and mask is not None:
        # np.take into a work array (mode "wrap": no buffered bounds check; idx is in range): the same values as key[idx]
        return (idx, np.take(key, idx, out=g.scratch("key", idx.size, key.dtype), mode="wrap"),
                np.take(w, idx, out=g.scratch("w", idx.size, w.dtype), mode="wrap"))
    out = idx, key[idx], w[idx]
    if mask is None:
        g._cache[("select", level)] = out
    return out


def _den_cells(g: Groups, level: str, every_live: bool, k: np.ndarray, w: np.ndarray) -> np.ndarray:
    """g.cells(k, w) of the selected rows; of every living row (``every_live``) computed once per pass."""
    if every_live:
        if ("den", level) not in g._cache:
            g._cache[("den", level)] = g.cells(k, w)
        return g._cache[("den", level)]
    return g.cells(k, w)


def add_sum(rows: list[Row], name: str, g: Groups, values: np.ndarray, level: str = "person",
            by: tuple[str, ...] = ("segment", "pole")) -> None:
    """Sum of ``values`` x weight (values already 0 where not counted)."""
    if values.dtype == bool:
        idx, k, w = _select(g, level, values, scratch=True)
        v = w
    else:
        idx, k, w = _select(g, level, values != 0, scratch=True)
        v = values[idx] * w
    if not by:
        _emit(rows, name, v.sum(), None, None, g)
        return
    c = g.cells(k, v)
    _emit(rows, name, c.sum(), c.sum(1) if "segment" in by else None, c.sum(0) if "pole" in by else None, g)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def add_mean(rows: list[Row], name: str, g: Groups, values: np.ndarray, mask: np.ndarray,
             level: str = "person", by: tuple[str, ...] = ("segment", "pole")) -> None:
    """Weighted mean of ``values`` over ``mask`` (NaN for empty groups)."""
    idx, k, w = _select(g, level, mask, scratch=True)
    vals = np.take(values, idx, out=g.scratch("values", idx.size, values.dtype), mode="wrap")
    _add_mean_of(rows, name, g, k, w, vals, level, mask is None or mask is g.level(level)[0], by)


def add_rate_of_rows(rows: list[Row], name: str, g: Groups, idx: np.ndarray, num: np.ndarray,
                     by: tuple[str, ...] = ("segment", "pole")) -> None:
    """``add_rate(rows, name, g, full(num), full(idx))`` for persons given by their rows.

    ``idx``: ascending rows of living persons (the denominator), ``num``: the
    numerator flag of each. The counted rows are those of weight > 0: all of
    them when every living person is counted. The same rows in the same
    order as the masked selection, so the same sums, without whole-column masks.
    """
    if g._live_idx is not g.p_alive_idx:          # some living persons of weight 0: not counted
        keep = np.flatnonzero(g.p_live[idx])
        idx, num = idx[keep], num[keep]
    _add_mean_of(rows, name, g, g.p_key[idx], g.p_w[idx], num, "person", False, by)


def _add_mean_of(rows: list[Row], name: str, g: Groups, k: np.ndarray, w: np.ndarray, vals: np.ndarray,
                 level: str, every_live: bool, by: tuple[str, ...]) -> None:
    """Weighted mean of ``vals`` over selected rows of keys ``k`` and weights ``w`` (add_mean).

    ``every_live``: the rows are every living row of the level (the denominators are then shared).
    """
    if vals.dtype != bool:
        wv = np.multiply(w, vals, out=g.scratch("wv", w.size, np.result_type(w, vals)))
    else:
        wv = masked(g, w, vals, out=g.scratch("wv", w.size, w.dtype))
    if not by:
        tot = w.sum()
        _emit(rows, name, wv.sum() / tot if tot > 0 else np.nan, None, None, g)
        return
    num, den = g.cells(k, wv), _den_cells(g, level, every_live, k, w)
    tot = den.sum()
    overall = num.sum() / tot if tot > 0 else np.nan
    seg = _ratio(num.sum(1), den.sum(1)) if "segment" in by else None
    pole = _ratio(num.sum(0), den.sum(0)) if "pole" in by else None
    _emit(rows, name, overall, seg, pole, g)


def add_rate(rows: list[Row], name: str, g: Groups, num: np.ndarray, den: np.ndarray,
             level: str = "person", by: tuple[str, ...] = ("segment", "pole")) -> None:
    """Weighted share of ``num`` among ``den``."""
    add_mean(rows, name, g, num if num.dtype == bool else num.astype(np.float64), den, level=level, by=by)


def add_weighted_quantile(rows: list[Row], name: str, g: Groups, values: np.ndarray, mask: np.ndarray,
                          q: float = 0.5, level: str = "household",
                          by: tuple[str, ...] = ("segment", "pole")) -> None:
    """Weighted quantile (e.g. the median cost burden) overall and per group.

    One sort of the counted rows by value; each group's quantile is read
    from the stable sub-sequence of its rows (a cumulative sum per group).
    """
    idx, k, w = _select(g, level, mask)
    keep = w > 0
    idx, k, w = idx[keep], k[keep], w[keep]
    v = values[idx]
    o = np.argsort(v, kind="stable")
    v, k, w = v[o], k[o], w[o]

    def wq(keys: np.ndarray | None, n: int) -> np.ndarray:
        out = np.full(n, np.nan)
        if keys is None:
            if v.size:
                c = np.cumsum(w)
                out[0] = v[np.searchsorted(c, q * c[-1])]
            return out
        og = np.argsort(keys, kind="stable")        # rows of each group, still in value order
        kg, wg, vg = keys[og], w[og], v[og]
        c = np.cumsum(wg)
        start = np.searchsorted(kg, np.arange(n))
        stop = np.searchsorted(kg, np.arange(n), side="right")
        for i in np.flatnonzero(stop > start):
            base = c[start[i] - 1] if start[i] > 0 else 0.0
            cc = c[start[i]:stop[i]] - base
            out[i] = vg[start[i] + np.searchsorted(cc, q * cc[-1])]
        return out

    seg = wq(k // g.n_pole, g.n_seg) if "segment" in by else None
    pole = wq(k % g.n_pole, g.n_pole) if "pole" in by else None
    _emit(rows, name, wq(None, 1)[0], seg, pole, g)


def demography_metrics(model, g: Groups, events: dict[str, float] | None) -> list[Row]:
    p = model.persons
    rows: list[Row] = []
    idx, k, w = _select(g, "person", None)
    c = _den_cells(g, "person", True, k, w)
    _emit(rows, "population", c.sum(), c.sum(1), c.sum(0), g)
    age = g.live_age()
    old = np.flatnonzero(age >= 60)            # (an index: the same rows, in order, as a boolean selection)
    c = g.cells(k[old], w[old])
    _emit(rows, "population_60plus", c.sum(), c.sum(1), c.sum(0), g)
    # np.sum of the selected weights (pairwise: the same array, selected by an index rather than a mask)
    _emit(rows, "population_80plus", w[np.flatnonzero(age >= 80)].sum(), None, None, g)
    _emit(rows, "population_under25", w[np.flatnonzero(age < 25)].sum(), None, None, g)
    hidx, hk, hw = _select(g, "household", None)
    c = _den_cells(g, "household", True, hk, hw)
    _emit(rows, "households", c.sum(), c.sum(1), c.sum(0), g)
    tot = hw.sum()
    _emit(rows, "household_size", (hw * g.h_members[hidx]).sum() / tot if tot > 0 else np.nan, None, None, g)
    if events is not None:
        for key in ("births", "deaths", "net_migration", "emigrants", "immigrants"):
            rows.append((key, "all", float(events.get(key, 0.0))))
    return rows


def status_shares(model, g: Groups) -> list[Row]:
    """Activity status counts (used for the accounting identity)."""
    p = model.persons
    rows: list[Row] = []
    idx, _, w = _select(g, "person", None)
    by_status = np.bincount(p.status[idx], weights=w, minlength=len(S.STATUS))
    for code, name in enumerate(S.STATUS):
        _emit(rows, f"persons_{name}", by_status[code], None, None, g)
    return rows
