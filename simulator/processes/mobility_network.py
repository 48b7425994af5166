"""Mobility supply side: road user equilibrium (BPR + Frank-Wolfe) and per-mode skims.

Pure functions over the territory's arrays (no model state): the process
module :mod:`simulator.processes.mobility` calls them inside its mode choice
<-> assignment loop.

Road assignment works on peak-hour vehicle OD matrices and keeps the
solution as *OD link shares* ``A`` ((n*n) x n_links, each row a convex
combination of shortest-path incidences), so link flows ``x = A.T @ D`` are
feasible for any demand ``D``: the equilibrium of one iteration or year is
the warm start of the next.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import dijkstra

from .. import state as S

CAR, CARPOOL, TRANSIT, BIKE, WALK = range(len(S.MODES))
_EPS = 1e-9
ROAD_EXPOSED = ("coach", "bus")   # transit modes sharing the road with cars


# ---------------------------------------------------------------- road
def bpr(t0: np.ndarray, x: np.ndarray, cap: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Link travel time, BPR volume-delay function (veh/h against veh/h)."""
    return t0 * (1.0 + alpha * (x / cap) ** beta)


_INC_CACHE: dict[tuple[int, bytes], np.ndarray] = {}


def path_incidence(terr, pred: np.ndarray) -> np.ndarray:
    """Dense (n*n) x n_links incidence of the shortest paths in ``pred`` (territory.road_path_links), cached."""
    key = (id(terr), pred.tobytes())
    inc = _INC_CACHE.get(key)
    if inc is None:
        if len(_INC_CACHE) > 512:
            _INC_CACHE.clear()
        inc = _INC_CACHE[key] = terr.road_path_links(pred).toarray()
    return inc


def shortest(terr, link_time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Link-only shortest path times (no terminal, diagonal 0) and predecessors."""
    return dijkstra(terr.road_graph(np.maximum(link_time, _EPS)), directed=True, return_predecessors=True)


@dataclass
class Assignment:
    A: np.ndarray          # (n*n, n_links) OD link shares
    flow: np.ndarray       # veh/h per directed link
    time: np.ndarray       # min per directed link
    gap: float             # relative gap at exit
    iterations: int


def frank_wolfe(terr, demand: np.ndarray, A0: np.ndarray | None, cap: np.ndarray, alpha: float, beta: float,
                gap_tol: float, max_iter: int) -> Assignment:
    """User equilibrium of the peak-hour vehicle OD ``demand`` (n x n), conjugate Frank-Wolfe.

    Conjugate Frank-Wolfe (Mitradjieva & Lindberg 2013, Transportation
    Science 47:280-293): the search target is a combination of the
    all-or-nothing point and the previous target, conjugate with respect to
    the Hessian of the Beckmann objective (diagonal BPR derivatives); exact
    line search by bisection. Relative gap = (sum t.x - sum D.SP) / sum t.x.
    The diagonal of ``demand`` (intra-pole trips) loads no link.
    """
    n = terr.n
    t0 = terr.road_fftime_min
    d = demand.ravel().copy()
    d[:: n + 1] = 0.0
    if A0 is None:
        _, pred = shortest(terr, t0)
        A0 = path_incidence(terr, pred)
    A = A0
    x = A.T @ d
    gap, it = np.inf, 0
    S_prev = None
    for it in range(1, max_iter + 1):
        t = bpr(t0, x, cap, alpha, beta)
        sp, pred = shortest(terr, t)
        tx = float(t @ x)
        gap = (tx - float(sp.ravel() @ d)) / tx if tx > 0 else 0.0
        if gap <= gap_tol or d.sum() <= 0:
            break
        inc = path_incidence(terr, pred)
        y = inc.T @ d
        Starget, s = inc, y
        if S_prev is not None:
            s_prev = S_prev.T @ d
            hess = t0 * alpha * beta * x ** (beta - 1.0) / cap ** beta
            num = float((s_prev - x) @ (hess * (y - x)))
            den = float((s_prev - x) @ (hess * (y - s_prev)))
            a = num / den if den != 0 else 0.0
            a = min(max(a, 0.0), 0.99)
            if a > 0:
                Starget = a * S_prev + (1 - a) * inc
                s = Starget.T @ d
        dx = s - x
        if float(bpr(t0, x + dx, cap, alpha, beta) @ dx) <= 0:
            lam = 1.0
        else:
            lo, hi = 0.0, 1.0
            for _ in range(40):
                mid = 0.5 * (lo + hi)
                if float(bpr(t0, x + mid * dx, cap, alpha, beta) @ dx) > 0:
                    hi = mid
                else:
                    lo = mid
            lam = 0.5 * (lo + hi)
        A = A + lam * (Starget - A)
        x = A.T @ d
        S_prev = Starget
    t = bpr(t0, x, cap, alpha, beta)
    return Assignment(A=A, flow=x, time=t, gap=float(max(gap, 0.0)), iterations=it)


def road_capacity(terr, prm: dict) -> np.ndarray:
    """Effective peak-hour capacity per directed link: file capacity x corridor factor x lever."""
    f = np.array([prm["capacity_factor"].get(t, 1.0) for t in terr.road_type])
    return terr.road_capacity_veh_h * f * prm["road_capacity_scale"]


def car_skim(terr, link_time: np.ndarray, prm: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Door-to-door car time (min) and distance (km) at the given link times, and link-only SP times.

    Off-diagonal: shortest path + terminal time. Diagonal: intra-pole trip
    ``intra_km / intra_speed`` times the congestion of the links touching the
    pole (capacity-weighted mean ratio t/t0, raised to the elasticity).
    """
    time, dist, pred = terr.road_skim(link_time)
    ratio = link_time / terr.road_fftime_min
    w = terr.road_capacity_veh_h
    num = np.bincount(terr.road_from, weights=w * ratio, minlength=terr.n) + \
        np.bincount(terr.road_to, weights=w * ratio, minlength=terr.n)
    den = np.bincount(terr.road_from, weights=w, minlength=terr.n) + \
        np.bincount(terr.road_to, weights=w, minlength=terr.n)
    pole_ratio = np.where(den > 0, num / np.maximum(den, _EPS), 1.0)
    idx = np.arange(terr.n)
    time[idx, idx] *= pole_ratio ** prm["intra_congestion_elasticity"]
    sp_links = time - terr.terminal_min
    sp_links[idx, idx] = 0.0
    return time, dist, sp_links


# ---------------------------------------------------------------- transit
def active_lines(terr, year: int, delay: int) -> np.ndarray:
    """Lines in service in ``year``: lines opened after the base year are shifted by ``delay`` years."""
    opened = terr.line_opened + np.where(terr.line_opened > terr.year, delay, 0)
    return opened <= year


def exposed_pairs(terr) -> np.ndarray:
    """(k, 2) pole pairs of consecutive stops of the coach/bus lines (their time follows road congestion)."""
    pairs = [(int(a), int(b)) for line in terr.lines if line.mode in ROAD_EXPOSED
             for a, b in zip(line.stops[:-1], line.stops[1:])]
    return np.array(sorted(set(pairs)), dtype=np.int64).reshape(-1, 2)


def transit_skim(terr, prm: dict, year: int, road_ratio: np.ndarray | None) -> dict:
    """Transit skim with the current levers; coach/bus in-vehicle times follow road congestion.

    ``road_ratio`` (n x n): congested / free-flow link-only road time between
    poles; each coach/bus segment's time is multiplied by
    ``1 + exposure (ratio - 1)``.
    """
    ivt = None
    if road_ratio is not None:
        ex = prm["coach_congestion_exposure"]
        ivt = []
        for line in terr.lines:
            base = line.ivt_min
            if line.mode in ROAD_EXPOSED and ex > 0:
                r = road_ratio[line.stops[:-1], line.stops[1:]]
                base = base * (1.0 + ex * (np.maximum(r, 1.0) - 1.0))
            ivt.append(base)
    sk = terr.transit_skim(headway_scale=prm["transit_headway_scale"], ivt_min=ivt, ivt_scale=prm["transit_ivt_scale"],
                           fare_mode=prm["fare_mode"], single_fare=prm["single_fare_eur"],
                           line_active=active_lines(terr, year, prm["new_lines_delay_yr"]),
                           local_headway_scale=prm["local_headway_scale"])
    return sk


def crowding_factor(line_use, load_od: np.ndarray, terr, prm: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-OD perceived in-vehicle time multiplier and per-line load/capacity ratio.

    Line load = peak-hour riders of every OD whose path rides the line
    (``line_use``), commuters plus the background share; capacity grows with
    frequency (1 / headway_scale).
    """
    riders = load_od.ravel() / max(1.0 - prm["transit_background_share"], 1e-6)
    load = line_use.T @ riders
    cap = terr.line_capacity_pax_h / prm["transit_headway_scale"]
    vc = load / cap
    f_line = prm["crowding_alpha"] * vc ** prm["crowding_beta"]
    used = np.asarray(line_use.sum(axis=1)).ravel()
    extra = np.asarray(line_use @ f_line).ravel() / np.maximum(used, 1.0)
    return (1.0 + extra).reshape(terr.n, terr.n), vc


# ---------------------------------------------------------------- money
def bike_speed(prm: dict) -> float:
    e = prm["ebike_share"]
    return (1 - e) * prm["bike_speed_kmh"] + e * prm["ebike_speed_kmh"]


def monthly_costs(terr, prm: dict, dist: np.ndarray, fare: np.ndarray) -> np.ndarray:
    """EUR/month for commuting each OD by each mode: [5, n, n] (see docs/process_mobility.md)."""
    n = terr.n
    trips = 2.0 * prm["working_days_month"]
    kinds = terr.kind
    park = np.array([prm["parking_eur_day"].get(k, 0.0) for k in kinds])[None, :]
    run = dist * prm["car_cost_per_km"]
    own = prm["car_fixed_cost_eur_month"] * prm["car_ownership_commute_share"]
    out = np.zeros((len(S.MODES), n, n))
    out[CAR] = trips * run + prm["working_days_month"] * park + own
    pool = (trips * run + prm["working_days_month"] * park) / prm["carpool_occupancy"] - trips * prm["carpool_bonus_eur"]
    out[CARPOOL] = np.maximum(pool, 0.0)
    disc = 1.0 - prm["transit_fare_discount"]
    pass_eur = np.where(np.eye(n, dtype=bool), prm["pass_urban_eur_month"], prm["pass_metro_eur_month"])
    tickets = trips * np.where(np.isfinite(fare), fare, 0.0)
    out[TRANSIT] = disc * np.minimum(tickets, pass_eur * (1.0 - prm["employer_pass_share"]))
    e = prm["ebike_share"]
    out[BIKE] = (1 - e) * prm["bike_cost_eur_month"] + e * prm["ebike_cost_eur_month"]
    out[WALK] = 0.0
    return out
