"""Mobility outputs: metrics, flows, invariants, persona columns and the 2017 calibration report."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import metrics as M
from .. import state as S

CAR, CARPOOL, TRANSIT, BIKE, WALK = range(len(S.MODES))


def _commuters(model) -> np.ndarray:
    p = model.persons
    return p.alive & (p.mode >= 0)


class _View:
    """The commuters' rows and their attributes, gathered once per metrics pass."""

    def __init__(self, model) -> None:
        p, h = model.persons, model.households
        self.idx = np.flatnonzero(_commuters(model))
        hh = p.hh[self.idx]
        self.w = h.weight[hh]
        self.o = h.pole[hh].astype(np.int64)
        self.d = p.job_pole[self.idx].astype(np.int64)
        self.seg = p.segment[self.idx].astype(np.int64)
        self.mode = p.mode[self.idx].astype(np.int64)
        # float32 as stored: products with the float64 weights are float64, the same numbers as casting first
        self.time = p.commute_min[self.idx]
        self.cost = p.mobility_cost[self.idx]
        self.inside = self.d >= 0
        # origin-destination cell of the commutes inside AMP (o * n for the others: read only under ``inside``)
        self.odc = self.o * model.territory.n
        self.odc += np.maximum(self.d, 0)
        self.den: dict = {}   # weight totals per grouping of every commuter, shared by the unmasked metrics


def _den(v: _View, by: str, keys: np.ndarray | None = None, size: int = 0):
    """Weight of every commuter per group (``by`` "segment" or "pole", with its keys and size) or in all
    ("tot"): computed once per metrics pass (``v.den``), shared by the means over every commuter."""
    if by not in v.den:
        v.den[by] = v.w.sum() if by == "tot" else np.bincount(keys, weights=v.w, minlength=size)
    return v.den[by]


def _emit(rows: list[M.Row], name: str, g: M.Groups, v: _View, values: np.ndarray,
          mask: np.ndarray | None = None) -> None:
    """Weighted mean of ``values`` over ``mask`` (None: every commuter) overall, per segment and per home pole.

    NaN for empty groups. Without a mask the denominators are the same for
    every metric: they are computed once per pass (``v.den``).
    """
    ww = v.w if mask is None else v.w * mask
    wv = ww * values

    def ratio(by, keys, size):
        num = np.bincount(keys, weights=wv, minlength=size)
        den = _den(v, by, keys, size) if mask is None else np.bincount(keys, weights=ww, minlength=size)
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    tot = _den(v, "tot") if mask is None else ww.sum()
    rows.append((name, "all", float(wv.sum() / tot) if tot > 0 else np.nan))
    for i, x in enumerate(ratio("segment", v.seg, len(g.seg_ids))):
        rows.append((name, f"segment={g.seg_ids[i]}", float(x)))
    for j, x in enumerate(ratio("pole", v.o, len(g.pole_ids))):
        rows.append((name, f"pole={g.pole_ids[j]}", float(x)))


def metrics(model, g: M.Groups) -> list[M.Row]:
    st = model.mobility_state
    c = model.commute
    v = _View(model)
    rows: list[M.Row] = []
    _emit(rows, "commute_time_min", g, v, v.time)
    _emit(rows, "commute_over_45min_share", g, v, (v.time > 45.0).astype(np.float64))
    _emit(rows, "mobility_cost_eur_month", g, v, v.cost)
    tot = v.w.sum()
    by_mode = np.bincount(v.mode, weights=v.w, minlength=len(S.MODES))
    shares = _mode_shares(g, v)
    for k, name in enumerate(S.MODES):
        rows.append(("mode_share", f"mode={name}", float(by_mode[k] / tot) if tot > 0 else np.nan))
        rows += shares[k]
    road = v.inside & ((v.mode == CAR) | (v.mode == CARPOOL))
    ratio = np.ones(v.idx.size)
    ins = np.flatnonzero(v.inside)
    ratio[ins] = (c.time[CAR] / c.free_time).ravel()[v.odc[ins]]
    _emit(rows, "congestion_index", g, v, ratio, road)
    rows.append(("transit_trips_index", "all", float(by_mode[TRANSIT] / st.base_transit) if st.base_transit else 1.0))
    rows.append(("commuters", "all", float(tot)))
    rows.append(("car_share_long_commutes", "all", _car_share_long(model, v)))
    rows.append(("mobility_cost_peripheral_eur_month", "all", _peripheral_cost(model, v)))
    rows.append(("commute_distance_median_km", "all", _median_distance(model, v)))
    rows.append(("mobility_equilibrium_gap", "all", float(st.gap)))
    rows.append(("mobility_outer_iterations", "all", float(st.outer_iterations)))
    rows.append(("transit_crowding_max", "all", float(np.max(st.line_vc)) if st.line_vc is not None else 0.0))
    rows.append(("road_peak_vehicle_km", "all",
                 float(st.link_flow @ model.territory.road_length_km) if st.link_flow is not None else 0.0))
    return rows


def _mode_shares(g: M.Groups, v: _View) -> list[list[M.Row]]:
    """``mode_share_<mode>`` rows of each mode: the same numbers as ``_emit`` of its indicator, in two bincounts.

    Per group, the weight of the commuters of mode k summed in row order is
    what ``_emit``'s bincount of w x [mode == k] adds (the other rows add
    +0.0); the overall share keeps ``_emit``'s sum over every commuter.
    """
    nm = len(S.MODES)
    dens = {}
    by = {}
    for name, keys, size in (("segment", v.seg, len(g.seg_ids)), ("pole", v.o, len(g.pole_ids))):
        dens[name] = _den(v, name, keys, size)
        by[name] = np.bincount(keys * nm + v.mode, weights=v.w, minlength=size * nm).reshape(size, nm)
    tot = _den(v, "tot")
    out = []
    for k, mode in enumerate(S.MODES):
        name = f"mode_share_{mode}"
        rows = [(name, "all", float((v.w * (v.mode == k)).sum() / tot) if tot > 0 else np.nan)]
        for grp, ids in (("segment", g.seg_ids), ("pole", g.pole_ids)):
            den, num = dens[grp], by[grp][:, k]
            share = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
            rows += [(name, f"{grp}={i}", float(x)) for i, x in zip(ids, share)]
        out.append(rows)
    return out


def _car_share_long(model, v: _View) -> float:
    """Car + carpool share of commutes longer than long_commute_km (road distance)."""
    dist = model.mobility_state.active_dist.ravel()
    # selections by index (cheaper than boolean masks; the same arrays, so the same pairwise sums)
    long = np.flatnonzero(v.inside & (dist[v.odc] > model.params["mobility"]["long_commute_km"]))
    w = v.w[long]
    m = v.mode[long]
    tot = w.sum()
    return float(w[np.flatnonzero((m == CAR) | (m == CARPOOL))].sum() / tot) if tot > 0 else np.nan


def _peripheral_cost(model, v: _View) -> float:
    kinds = model.params["mobility"]["peripheral_pole_kinds"]
    periph = np.array([k in kinds for k in model.territory.kind])
    m = np.flatnonzero(v.inside & periph[np.maximum(v.d, 0)])     # (an index: the same arrays as a mask)
    w = v.w[m]
    tot = w.sum()
    return float((w * v.cost[m]).sum() / tot) if tot > 0 else np.nan


def _median_distance(model, v: _View) -> float:
    n = model.territory.n
    ins = np.flatnonzero(v.inside)
    per_od = np.bincount(v.odc[ins], weights=v.w[ins], minlength=n * n)
    dist = model.mobility_state.active_dist.ravel()
    if per_od.sum() <= 0:
        return np.nan
    order = np.argsort(dist, kind="stable")
    cw = np.cumsum(per_od[order])
    return float(dist[order][np.searchsorted(cw, 0.5 * cw[-1])])


def flows(model) -> list[tuple[str, str, str, float]]:
    """Commuters by (home pole, work pole or 'outside_AMP', mode), real units."""
    p, h, terr = model.persons, model.households, model.territory
    n = terr.n
    m = np.flatnonzero(_commuters(model))
    hh = p.hh[m]
    o = h.pole[hh].astype(np.int64)
    d = p.job_pole[m].astype(np.int64)
    d = np.where(d < 0, n, d)
    key = (o * (n + 1) + d) * len(S.MODES) + p.mode[m]
    tot = np.bincount(key, weights=h.weight[hh], minlength=n * (n + 1) * len(S.MODES))
    ids = np.array(list(terr.ids) + ["outside_AMP"], dtype=object)
    modes = np.array(S.MODES, dtype=object)
    k = np.flatnonzero(tot > 0)
    od, mode = np.divmod(k, len(S.MODES))
    oo, dd = np.divmod(od, n + 1)
    return list(zip(ids[oo].tolist(), ids[dd].tolist(), modes[mode].tolist(), tot[k].tolist()))


def invariants(model) -> list[str]:
    p = model.persons
    prm = model.params["mobility"]
    errors = []
    if getattr(model, "commute", None) is None or model.commute.year != model.year:
        errors.append("model.commute was not refreshed this year")
        return errors
    alive = p.alive
    if np.any(alive & (p.mode == CAR) & ~(p.licence & (p.age >= 18))):
        errors.append("someone without a licence drives alone")
    worker = alive & (p.status == S.EMPLOYED) & (p.job_pole != -1)
    if np.any(worker != (alive & (p.mode >= 0))):
        errors.append("mode set for non-workers or missing for workers")
    if not np.all(np.isfinite(p.commute_min[worker])) or np.any(p.commute_min[worker] < 0):
        errors.append("non-finite or negative commute time")
    if not np.all(np.isfinite(p.mobility_cost[worker])) or np.any(p.mobility_cost[worker] < 0):
        errors.append("non-finite or negative mobility cost")
    modes = p.mode[alive & (p.mode >= 0)]
    if np.any(modes >= len(S.MODES)):
        errors.append(f"unknown mode code(s) {sorted(set(modes[modes >= len(S.MODES)].tolist()))[:5]}")
    else:
        w = model.households.weight[p.hh[alive & (p.mode >= 0)]]
        shares = np.bincount(modes, weights=w, minlength=len(S.MODES)) / max(float(w.sum()), 1e-300)
        if w.sum() > 0 and (abs(shares.sum() - 1.0) > 1e-9 or np.any(shares < 0)):
            errors.append(f"mode shares sum to {shares.sum():.12f}, not 1")
    road = worker & (p.job_pole >= 0) & ((p.mode == CAR) | (p.mode == CARPOOL))
    o, d = model.households.pole[p.hh[road]].astype(np.int64), p.job_pole[road].astype(np.int64)
    if np.any(p.commute_min[road] < model.commute.free_time[o, d] - 1e-4):
        errors.append("a car or carpool commute is shorter than free flow")
    ct, ff = model.commute.time[CAR], model.commute.free_time
    fin = np.isfinite(ct)
    if np.any(ct[fin] < ff[fin] - 1e-4):
        errors.append("a congested car time is shorter than free flow")
    if model.mobility_state.gap > prm["ue_relative_gap"] * (1 + 1e-9):
        errors.append(f"road equilibrium gap {model.mobility_state.gap:.2e} above {prm['ue_relative_gap']:.0e}")
    return errors


def persona_extra(model, row: int, hh: int) -> dict[str, Any]:
    from .mobility import available_modes
    p = model.persons
    job = int(p.job_pole[row])
    h_pole = int(model.households.pole[hh])
    free = float(model.commute.free_time[h_pole, job]) if job >= 0 else float("nan")
    return {"car_available": bool(available_modes(model, np.array([row]))[0, CAR]),
            "commute_free_flow_min": free}


def calibration(model) -> list[dict[str, Any]]:
    """2017 targets vs the model (see scenarios/params/mobility.toml for definitions and sources)."""
    prm = model.params["mobility"]
    v = _View(model)
    w = v.w
    share = lambda k: float(w[v.mode == k].sum() / w.sum())  # noqa: E731
    mean_t = float((w * v.time).sum() / w.sum())
    lo, hi = prm["commute_time_target_min"]
    terr, c = model.territory, model.commute
    a, b = (terr.index[x] for x in prm["congestion_anchor"])
    ratio = float(c.time[CAR, a, b] / c.free_time[a, b])

    def row(name, unit, target, achieved, tol):
        return dict(marginal=name, unit=unit, target=target, achieved=achieved, tolerance=tol,
                    ok=bool(abs(achieved - target) <= tol))

    out = [
        row(f"car+carpool share of commutes > {prm['long_commute_km']:g} km (MOB-1 93 %)", "share",
            prm["car_share_long_target"], _car_share_long(model, v), 0.03),
        row("transit share of commutes", "share", prm["mode_share_transit_target"], share(TRANSIT), 0.03),
        row("walk share of commutes", "share", prm["mode_share_walk_target"], share(WALK), 0.025),
        row("bike share of commutes", "share", prm["mode_share_bike_target"], share(BIKE), 0.008),
        row("carpool share of commutes", "share", prm["mode_share_carpool_target"], share(CARPOOL), 0.02),
        row("mean one-way commute time", "min", 0.5 * (lo + hi), mean_t, 0.5 * (hi - lo)),
        row("mobility cost, workers of peripheral poles (ECO-7 213 EUR)", "EUR/month",
            prm["peripheral_cost_target_eur"], _peripheral_cost(model, v), 25.0),
        row(f"peak/free-flow car time {prm['congestion_anchor'][0]}->{prm['congestion_anchor'][1]}", "ratio",
            prm["congestion_ratio_target"], ratio, 0.3),
        row("median commute distance", "km", prm["commute_distance_median_target_km"], _median_distance(model, v), 3.0),
    ]
    gap = float(model.mobility_state.gap)
    out.append(dict(marginal="road user-equilibrium relative gap", unit="1", target=prm["ue_relative_gap"],
                    achieved=gap, tolerance=0.0, ok=gap <= prm["ue_relative_gap"]))
    return out
