"""Mobility demand side: OD cells, nested-logit mode choice and the choice <-> congestion loop.

Workers are aggregated into cells (home pole, job pole, persona segment,
availability class) with ``np.bincount``; choice probabilities are computed
per cell, so the equilibrium loop costs the same at any scale. The class of
a person packs four flags: car access (0 licence and household car,
1 licence without car, 2 no licence), limited mobility (age >= limit),
whether the person receives a transit aid (labour's mobility aid) and, for
persons without car access, whether no driver is found on their OD (then
they cannot ride as carpool passengers; see ``mobility.carpool_availability``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import state as S
from . import mobility_network as N

CAR, CARPOOL, TRANSIT, BIKE, WALK = range(len(S.MODES))
NESTS = ((CAR, CARPOOL), (TRANSIT,), (BIKE, WALK))
_NEST_OF = np.array([next(j for j, nest in enumerate(NESTS) if m in nest) for m in range(len(S.MODES))])
CAR_OK, LICENCE_NO_CAR, NO_LICENCE = 0, 1, 2
# outer loop: the damping step is halved when the change did not fall below this fraction of the previous one
# (a change that stalls is a two-state cycle of the fixed point, broken only by a shorter step)
_STALL = 0.8
N_CLASSES = 3 * 2 * 2 * 2


# ---------------------------------------------------------------- skims
@dataclass
class Skims:
    """Per-mode OD matrices of one state of the network ([5, n, n] unless said)."""

    time: np.ndarray            # real one-way door-to-door min (inf = unavailable)
    perceived: np.ndarray       # perceived min (weights, crowding), before constants
    cost_month: np.ndarray      # EUR/month
    free_time: np.ndarray       # (n, n) free-flow car door-to-door min
    pnr_time: np.ndarray        # (n, n) transit with park-and-ride access (car owners)
    pnr_perceived: np.ndarray   # (n, n)
    walk_ok_limited: np.ndarray  # (n, n) bool, walkable for persons with limited mobility
    car_dist: np.ndarray        # (n, n) km on the congested shortest path
    road_sp: np.ndarray         # (n, n) link-only congested shortest-path min
    line_use: object = None     # sparse (n*n) x n_lines
    line_vc: np.ndarray | None = None


class TransitCache:
    """Rebuilds the transit skim only when a lever, the year's lines or coach congestion has moved."""

    def __init__(self) -> None:
        self.key = None
        self.ratio = None
        self.skim = None

    def get(self, terr, prm: dict, year: int, ratio: np.ndarray) -> dict:
        key = tuple(prm[k] for k in ("transit_headway_scale", "transit_ivt_scale", "local_headway_scale", "fare_mode",
                                     "single_fare_eur", "coach_congestion_exposure")) + \
            (N.active_lines(terr, year, prm["new_lines_delay_yr"]).tobytes(),)
        pairs = N.exposed_pairs(terr)
        r = ratio[pairs[:, 0], pairs[:, 1]] if pairs.size else np.zeros(0)
        if self.skim is None or key != self.key or \
                (r.size and np.max(np.abs(r / self.ratio - 1.0)) > prm["skim_refresh_tol"]):
            self.skim = N.transit_skim(terr, prm, year, ratio)
            self.key, self.ratio = key, r
        return self.skim


def build_skims(terr, prm: dict, year: int, link_time: np.ndarray, crowd: np.ndarray,
                free: tuple[np.ndarray, np.ndarray], active_dist: np.ndarray, cache: TransitCache) -> Skims:
    """All skims at the given road link times and transit crowding multipliers."""
    n = terr.n
    car_t, car_d, sp = N.car_skim(terr, link_time, prm)
    ff_time, ff_sp = free
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(ff_sp > 0, sp / np.where(ff_sp > 0, ff_sp, 1.0), 1.0)
    tr = cache.get(terr, prm, year, ratio)
    acc, wait, ivt, ntr = tr["access_min"], tr["wait_min"], tr["ivt_min"], tr["transfers"]
    pen = terr.transfer_penalty_min
    time = np.empty((len(S.MODES), n, n))
    perc = np.empty_like(time)
    time[CAR] = perc[CAR] = car_t
    time[CARPOOL] = perc[CARPOOL] = car_t + prm["carpool_detour_min"]
    time[TRANSIT] = tr["total_min"]
    perc[TRANSIT] = prm["access_weight"] * acc + prm["wait_weight"] * wait + crowd * ivt + pen * ntr
    o_acc = terr.transit_access_min[:, None]
    pnr_saving = np.maximum(o_acc - prm["park_ride_access_min"], 0.0) * (1 - np.eye(n))
    pnr_time = time[TRANSIT] - pnr_saving
    pnr_perc = perc[TRANSIT] - prm["access_weight"] * pnr_saving
    bike_t = active_dist / N.bike_speed(prm) * 60.0
    walk_t = active_dist / prm["walk_speed_kmh"] * 60.0
    time[BIKE] = perc[BIKE] = np.where(active_dist <= prm["bike_max_km"], bike_t, np.inf)
    time[WALK] = perc[WALK] = np.where(active_dist <= prm["walk_max_km"], walk_t, np.inf)
    cost = N.monthly_costs(terr, prm, car_d, tr["fare_eur"])
    cost[~np.isfinite(time)] = np.inf
    return Skims(time=time, perceived=perc, cost_month=cost, free_time=ff_time, pnr_time=pnr_time,
                 pnr_perceived=pnr_perc, walk_ok_limited=active_dist <= prm["walk_max_km_limited"],
                 car_dist=car_d, road_sp=sp, line_use=tr["line_use"])


# ---------------------------------------------------------------- utilities
def person_class(car_access: np.ndarray, limited: np.ndarray, aided: np.ndarray,
                 no_driver: np.ndarray | None = None) -> np.ndarray:
    """Class index: car access + 3 limited + 6 aided + 12 no driver (the last only without car access)."""
    cls = car_access + 3 * limited.astype(np.int64) + 6 * aided.astype(np.int64)
    if no_driver is not None:
        cls = cls + 12 * (no_driver & (car_access != CAR_OK)).astype(np.int64)
    return cls.astype(np.int64)


def generalised_minutes(sk: Skims, prm: dict, n: int, od: np.ndarray, vot: np.ndarray, cls: np.ndarray,
                        aid: np.ndarray) -> np.ndarray:
    """Generalised cost (min, one-way trip) per row and mode, inf where unavailable: (k, 5).

    gc_m = perceived time + money per trip x 60 / VOT - ASC_m (carpool: the
    passenger constant for persons without a car), money per trip = monthly
    cost / (2 x working days). Carpool is unavailable to persons without car
    access who found no driver on their OD (class flag 12).

    Computed mode by mode on a (5, k) array (contiguous rows, no 2-D masks);
    the (k, 5) result is its transpose (a view).
    """
    car_access = cls % 3
    limited = (cls // 3) % 2 == 1
    no_driver = (cls // 12) % 2 == 1
    trips = 2.0 * prm["working_days_month"]
    asc = prm["asc_min"]
    n_modes = len(S.MODES)
    perc = sk.perceived.reshape(n_modes, n * n)[:, od]            # (5, k)
    money = sk.cost_month.reshape(n_modes, n * n)[:, od]
    pnr = np.flatnonzero(car_access == CAR_OK)
    perc[TRANSIT, pnr] = np.minimum(perc[TRANSIT, pnr], sk.pnr_perceived.reshape(-1)[od[pnr]])
    money[TRANSIT] = np.maximum(money[TRANSIT] - aid, 0.0)
    gc = perc + money / trips * 60.0 / vot
    gc -= np.array([asc.get(m, 0.0) for m in S.MODES])[:, None]
    no_car = car_access != CAR_OK
    gc[CARPOOL] += np.where(no_car, asc.get("carpool", 0.0) - prm["asc_carpool_passenger_min"], 0.0)
    gc[CAR, no_car] = np.inf
    gc[CARPOOL, no_driver] = np.inf
    gc[BIKE, limited] = np.inf
    gc[WALK, limited & ~sk.walk_ok_limited.reshape(-1)[od]] = np.inf
    gc[~np.isfinite(perc) | ~np.isfinite(money)] = np.inf
    return gc.T


def nested_logit(gc: np.ndarray, theta: float, mu: float) -> np.ndarray:
    """Choice probabilities (k, 5) from generalised minutes (inf = unavailable).

    Nests ``NESTS``; within a nest exp(V/mu) shares, between nests the
    inclusive values mu (max + log sum). An unavailable mode (inf) has
    probability 0, a nest with no available mode too.

    Computed on (modes, k) rows (reductions over a nest or over the nests are
    element-wise maxima and left-to-right sums, as numpy's row reductions);
    the (k, 5) result is a transpose (a view).
    """
    V = gc.T * (-theta / mu)                                # (5, k) V/mu, -inf where unavailable
    m = np.empty((len(NESTS), V.shape[1]))                   # (nests, k) max of each nest
    for i, nest in enumerate(NESTS):
        m[i] = V[nest[0]]
        for j in nest[1:]:
            np.maximum(m[i], V[j], out=m[i])
    ok = np.isfinite(m)
    ms = np.where(ok, m, 0.0)
    e = np.exp(V - ms[_NEST_OF])                            # 0 where unavailable
    s = np.empty_like(m)
    for i, nest in enumerate(NESTS):
        s[i] = e[nest[0]]
        for j in nest[1:]:
            s[i] += e[j]
    s_safe = np.where(ok & (s > 0), s, 1.0)
    iv = np.where(ok, mu * (ms + np.log(s_safe)), -np.inf)
    top = iv[0].copy()
    for i in range(1, len(NESTS)):
        np.maximum(top, iv[i], out=top)
    pn = np.exp(iv - np.where(np.isfinite(top), top, 0.0))
    tot = pn[0].copy()
    for i in range(1, len(NESTS)):
        tot += pn[i]
    pn /= np.where(tot > 0, tot, 1.0)
    return (e / s_safe[_NEST_OF] * pn[_NEST_OF]).T


def logsum_minutes(gc: np.ndarray, theta: float, mu: float) -> np.ndarray:
    """Expected minimum generalised cost (min) of the nested logit: -(1/theta) log sum_n exp(IV_n)."""
    V = -theta * gc
    iv = []
    for nest in NESTS:
        v = V[:, nest] / mu
        m = np.max(v, axis=1)
        ok = np.isfinite(m)
        s = np.where(np.isfinite(v), np.exp(v - np.where(ok, m, 0.0)[:, None]), 0.0).sum(axis=1)
        iv.append(np.where(ok, mu * (np.where(ok, m, 0.0) + np.log(np.where(s > 0, s, 1.0))), -np.inf))
    iv = np.stack(iv, axis=1)
    top = np.max(iv, axis=1)
    return -(top + np.log(np.exp(iv - top[:, None]).sum(axis=1))) / theta


# ---------------------------------------------------------------- cells
@dataclass
class Cells:
    od: np.ndarray      # o * n + d per cell
    seg: np.ndarray
    cls: np.ndarray
    w: np.ndarray       # real workers
    aid: np.ndarray     # mean transit aid, EUR/month
    of_person: np.ndarray  # cell index of each worker in ``persons``
    persons: np.ndarray    # worker rows


def build_cells(n: int, n_seg: int, persons: np.ndarray, od: np.ndarray, seg: np.ndarray,
                cls: np.ndarray, w: np.ndarray, aid: np.ndarray, aid_rows: np.ndarray | None = None) -> Cells:
    """Cells of the workers ``persons``: ``od`` = o * n + d, ``seg``, ``cls``, weight ``w`` and transit aid
    ``aid`` per worker; ``aid_rows``: the workers whose aid is not 0, if known."""
    # (od * n_seg + seg) * N_CLASSES + cls, with the small (segment, class) part in int16 (fewer int64 passes)
    small = np.int16 if n_seg * N_CLASSES <= np.iinfo(np.int16).max else np.int64
    seg_cls = seg.astype(small)
    seg_cls *= N_CLASSES
    seg_cls += cls
    key = od * (n_seg * N_CLASSES)
    key += seg_cls
    size = n * n * n_seg * N_CLASSES
    tot = np.bincount(key, weights=w, minlength=size)
    # a cell is present when it holds a worker: with positive weights, when its weight is positive
    present = tot > 0 if w.size == 0 or w.min() > 0 else np.bincount(key, minlength=size) > 0
    cell_keys = np.flatnonzero(present)
    index = np.full(size, -1, dtype=np.int64)
    index[cell_keys] = np.arange(cell_keys.size)
    of_person = index[key]
    # mean aid per cell: only the few aided workers add to the sums (the others add zeros)
    aided = np.flatnonzero(aid != 0) if aid_rows is None else aid_rows
    aid_sum = np.bincount(of_person[aided], weights=w[aided] * aid[aided], minlength=cell_keys.size)
    ww = tot[cell_keys]
    return Cells(od=cell_keys // (n_seg * N_CLASSES), seg=(cell_keys // N_CLASSES) % n_seg,
                 cls=cell_keys % N_CLASSES, w=ww, aid=np.where(ww > 0, aid_sum / np.maximum(ww, 1e-12), 0.0),
                 of_person=of_person, persons=persons)


# ---------------------------------------------------------------- equilibrium
@dataclass
class Equilibrium:
    skims: Skims
    P: np.ndarray                 # (n_cells, 5)
    assignment: N.Assignment
    outer_iterations: int
    demand_change: float
    road_od: np.ndarray           # peak-hour vehicles incl. background (n, n)
    transit_od: np.ndarray        # peak-hour commuter riders (n, n)
    crowd: np.ndarray
    line_vc: np.ndarray
    background: np.ndarray
    history: list = field(default_factory=list)


def _demand(cells: Cells, P: np.ndarray, n: int, prm: dict) -> tuple[np.ndarray, np.ndarray]:
    f = prm["daily_presence_rate"] * prm["peak_hour_share"]
    veh = cells.w * (P[:, CAR] + P[:, CARPOOL] / prm["carpool_occupancy"]) * f
    road = np.bincount(cells.od, weights=veh, minlength=n * n).reshape(n, n)
    transit = np.bincount(cells.od, weights=cells.w * P[:, TRANSIT] * f, minlength=n * n).reshape(n, n)
    return road, transit


def equilibrate(terr, prm: dict, year: int, cells: Cells, vot_seg: np.ndarray, free: tuple, active_dist: np.ndarray,
                A0: np.ndarray | None, link_time0: np.ndarray | None, crowd0: np.ndarray | None,
                background: np.ndarray | None, background_factor: float, cache: TransitCache) -> Equilibrium:
    """Iterate mode choice <-> road assignment (and transit crowding) until the demand is stable.

    Damped fixed point on the OD demand: choice at the current times gives
    D_k; the assigned demand moves D <- D + step (D_k - D); each assignment is
    a Frank-Wolfe user equilibrium to ``ue_relative_gap`` warm-started from
    the previous OD link shares. Stops when |D_k - D|_1 / |D|_1 < outer_tol.
    ``background`` = None builds it from the first (free-flow) commuter
    demand: background = share / (1 - share) x commuter vehicles.
    """
    n = terr.n
    cap = N.road_capacity(terr, prm)
    link_t = terr.road_fftime_min.copy() if link_time0 is None else link_time0
    crowd = np.ones((n, n)) if crowd0 is None else crowd0
    A = A0
    vot = vot_seg[cells.seg]
    D = T = None
    change, prev_change, step = np.inf, np.inf, prm["outer_step"]
    history = []
    line_vc = np.zeros(terr.n_lines)
    gap_tol = prm["ue_relative_gap"]

    def assign(tol):
        return N.frank_wolfe(terr, D, A, cap, prm["bpr_alpha"], prm["bpr_beta"], tol, int(prm["ue_max_iter"]))

    def choose():
        sk = build_skims(terr, prm, year, link_t, crowd, free, active_dist, cache)
        gc = generalised_minutes(sk, prm, n, cells.od, vot, cells.cls, cells.aid)
        P = nested_logit(gc, prm["logit_scale_per_min"], prm["nest_scale"])
        return (sk, P) + _demand(cells, P, n, prm)

    k = 0
    while True:
        k += 1
        sk, P, road_c, tr = choose()
        if background is None:
            bs = prm["background_share"]
            background = road_c * bs / max(1.0 - bs, 1e-6)
        Dk = road_c + background * background_factor
        if D is None:
            D, T = Dk, tr
        else:
            change = float(np.abs(Dk - D).sum() / max(D.sum(), 1e-9) + np.abs(tr - T).sum() / max(T.sum(), 1e-9))
            history.append(change)
            if change < prm["outer_tol"] or k > prm["outer_max_iter"]:
                break
            # self-regulated step: shrink after an overshoot or a stall, recover while the change falls
            step = max(0.5 * step, 0.05) if change > _STALL * prev_change else min(1.25 * step, prm["outer_step"])
            prev_change = change
            D, T = D + step * (Dk - D), T + step * (tr - T)
        # loose assignments while the demand still moves, exact at the end
        first = k == 1 and A0 is not None   # warm start from last year's equilibrium: solve it exactly
        asg = assign(gap_tol if first else max(gap_tol, min(0.02, 0.1 * change)))
        A, link_t = asg.A, asg.time
        crowd, line_vc = N.crowding_factor(sk.line_use, T, terr, prm)
    if asg is None or asg.gap > gap_tol:
        asg = assign(gap_tol)
        A, link_t = asg.A, asg.time
        sk, P, _, _ = choose()
    sk.line_vc = line_vc
    return Equilibrium(skims=sk, P=P, assignment=asg, outer_iterations=k, demand_change=change, road_od=D,
                       transit_od=T, crowd=crowd, line_vc=line_vc, background=background, history=history)
