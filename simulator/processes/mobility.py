"""Mobility: mode choice, road congestion equilibrium, door-to-door commute time and cost.

Every commuting worker (employed, with a job pole) chooses one of
``state.MODES`` (car alone, carpool, transit, bike, walk) by a nested logit
on generalised cost (perceived time + money / value of time - constants),
with availability from licence, household cars and age; persons without
a car ride as carpool passengers only if they find a driver on their OD
(:func:`carpool_availability`, a persistent draw per person). Workers are
aggregated into OD cells (home pole, job pole, segment, availability class),
so the choice <-> congestion loop (BPR links, Frank-Wolfe user equilibrium,
transit crowding) costs the same at any scale; then each worker draws a mode
from its cell's probabilities with a persistent taste draw (mode habits).

Published on the model after ``init`` and every ``step``:

* ``model.commute`` (:class:`Commute`): ``time`` and ``cost_month``
  ([5, n, n], min one-way door-to-door congested / EUR per month, inf where a
  mode is unavailable), ``free_time`` (n x n free-flow car time), ``year``;
* persons.mode / commute_min / mobility_cost of every worker;
* :func:`best_commute` and :func:`available_modes` for the labour and housing
  processes (both apply the carpool-passenger availability of ``model.commute``,
  like the mode choice);
* ``model.mobility_aid_eur_month``: per-person transit aid (EUR/month) that
  labour fills for job seekers; it is taken off the transit monthly cost.

See docs/process_mobility.md for the equations and scenarios/params/mobility.toml
for every number.
"""
from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import state as S
from ..params import ParameterError, spec
from ..territory import KINDS, ROAD_TYPES
from . import mobility_choice as C
from . import mobility_network as N
from . import mobility_tools as T

CAR, CARPOOL, TRANSIT, BIKE, WALK = range(len(S.MODES))
SEGMENTS = ("sophie", "nicolas", "laurence", "carlos", "jean_stephane", "sarah", "huguette", "malika")
OUTSIDE = -2
UNDRAWN = -1.0          # driver-match draw not drawn yet (draws are in [0, 1)); finite, unlike NaN
_share = dict(unit="1", ge=0, le=1)

#: state the metric functions never read: the model's metrics snapshot shares it instead of copying it
METRICS_UNREAD = ("mobility_aid_eur_month", "mobility_state.u", "mobility_state.v", "mobility_state.cells",
                  "mobility_state.A", "mobility_state.transit_cache", "mobility_state.P")

SPECS = {
    # supply levers
    "transit_headway_scale": spec("1", 0.05, 10), "transit_ivt_scale": spec("1", 0.2, 3),
    "local_headway_scale": spec("1", 0.05, 10),
    "fare_mode": spec("1", kind="str", choices=("per_line", "single_ticket")),
    "single_fare_eur": spec("EUR", 0, 50), "transit_fare_discount": spec(**_share),
    "road_capacity_scale": spec("1", 0.1, 5), "carpool_bonus_eur": spec("EUR/trip", 0, 20),
    "bike_speed_kmh": spec("km/h", 5, 40), "ebike_speed_kmh": spec("km/h", 5, 45), "ebike_share": spec(**_share),
    "new_lines_delay_yr": spec("yr", -50, 100, kind="int"), "coach_congestion_exposure": spec(**_share),
    "park_ride_access_min": spec("min", 0, 60),
    # mobility tools
    "licence_ages": spec("yr", 14, 100, kind="list", length=2), "car_acquisition_rate": spec("1/yr", 0, 1),
    # choice
    "vot_eur_h": spec("EUR/h", 0.5, 200, kind="table", choices=SEGMENTS),
    "asc_min": spec("min", -300, 300, kind="table", choices=S.MODES),
    "asc_carpool_passenger_min": spec("min", -300, 300), "skim_refresh_tol": spec("1", 0, 1), "logit_scale_per_min": spec("1/min", 1e-3, 2),
    "nest_scale": spec("1", 0.05, 1), "wait_weight": spec("1", 0.5, 5), "access_weight": spec("1", 0.5, 5),
    "crowding_alpha": spec("1", 0, 5), "crowding_beta": spec("1", 0, 10), "transit_background_share": spec("1", 0, 0.95),
    "carpool_occupancy": spec("persons/vehicle", 1.5, 8), "carpool_detour_min": spec("min", 0, 60),
    "carpool_match_drivers": spec("workers", 1, 1e7), "carpool_match_scale": spec("1", 0, 100), "carpool_household_driver_prob": spec(**_share),
    "bike_max_km": spec("km", 0, 100), "walk_max_km": spec("km", 0, 30), "walk_speed_kmh": spec("km/h", 1, 10),
    "mobility_limit_age": spec("yr", 40, 120, kind="int"), "walk_max_km_limited": spec("km", 0, 30),
    "mode_redraw_rate": spec("1/yr", 0, 1),
    # money
    "working_days_month": spec("days/month", 1, 31), "car_cost_per_km": spec("EUR/km", 0, 2),
    "car_fixed_cost_eur_month": spec("EUR/month", 0, 3000), "car_ownership_commute_share": spec(**_share),
    "parking_eur_day": spec("EUR/day", 0, 100, kind="table", choices=KINDS),
    "pass_urban_eur_month": spec("EUR/month", 0, 1000), "pass_metro_eur_month": spec("EUR/month", 0, 1000),
    "employer_pass_share": spec(**_share), "bike_cost_eur_month": spec("EUR/month", 0, 500),
    "ebike_cost_eur_month": spec("EUR/month", 0, 500), "outside_commute_min": spec("min", 0, 300),
    "outside_commute_km": spec("km", 0, 500),
    # congestion and equilibrium
    "capacity_factor": spec("1", 0.1, 20, kind="table", choices=ROAD_TYPES), "bpr_alpha": spec("1", 0, 10), "bpr_beta": spec("1", 0, 10), "daily_presence_rate": spec(**_share),
    "peak_hour_share": spec(**_share), "background_share": spec("1", 0, 0.95),
    "intra_congestion_elasticity": spec("1", 0, 5), "ue_relative_gap": spec("1", 1e-8, 0.1),
    "ue_max_iter": spec("1", 1, 100000, kind="int"), "outer_tol": spec("1", 1e-8, 1),
    "outer_max_iter": spec("1", 1, 1000, kind="int"), "outer_step": spec("1", 0.01, 1),
    # calibration targets
    "car_share_long_target": spec(**_share), "long_commute_km": spec("km", 0, 100), "mode_share_transit_target": spec(**_share),
    "mode_share_walk_target": spec(**_share), "mode_share_bike_target": spec(**_share),
    "mode_share_carpool_target": spec(**_share), "commute_time_target_min": spec("min", 0, 300, kind="list", length=2),
    "peripheral_cost_target_eur": spec("EUR/month", 0, 5000),
    "peripheral_pole_kinds": spec("1", kind="str_list", choices=KINDS),
    "congestion_ratio_target": spec("1", 1, 10), "congestion_anchor": spec("1", kind="str_list"),
    "commute_distance_median_target_km": spec("km", 0, 200),
}


# ---------------------------------------------------------------- published state
@dataclass
class Commute:
    """Commute skims published on ``model.commute`` (see the module docstring)."""

    time: np.ndarray        # [5, n, n] min, one-way door-to-door, congested; inf = unavailable
    cost_month: np.ndarray  # [5, n, n] EUR/month (car includes the ownership share)
    free_time: np.ndarray   # [n, n] free-flow car door-to-door min
    year: int
    skims: C.Skims = field(repr=False, default=None)
    params: dict = field(repr=False, default_factory=dict)   # the parameters these skims were built with
    vot_seg: np.ndarray = field(repr=False, default=None)    # EUR/h per segment index
    carpool_avail: np.ndarray = field(repr=False, default=None)  # [n, n] P(a car-less worker finds a driver)


@dataclass
class MobilityState:
    u: np.ndarray                       # persistent taste draw per person (mode habits)
    v: np.ndarray                       # persistent driver-match draw per person (carpool passengers);
    #                                     UNDRAWN for rows not drawn yet and for spare rows past the person count
    free: tuple                         # (free-flow car time, link-only free-flow SP)
    active_dist: np.ndarray             # km on the road network (diagonal intra_km)
    pop0: float
    A: np.ndarray | None = None         # OD link shares of the last equilibrium
    link_time: np.ndarray | None = None
    link_flow: np.ndarray | None = None
    crowd: np.ndarray | None = None
    background: np.ndarray | None = None
    base_transit: float | None = None   # transit commuters at init (transit_trips_index)
    gap: float = 0.0
    ue_iterations: int = 0
    outer_iterations: int = 0
    demand_change: float = 0.0
    line_vc: np.ndarray | None = None
    transit_cache: C.TransitCache = field(default_factory=C.TransitCache)
    cells: C.Cells | None = None        # the OD cells and choice probabilities of the last solve
    P: np.ndarray | None = None
    road_od: np.ndarray | None = None   # assigned peak-hour vehicles (n x n)


def _vot_by_segment(model, prm) -> np.ndarray:
    table = prm["vot_eur_h"]
    missing = [s for s in model.segment_ids if s not in table]
    if missing:
        raise ParameterError(f"scenarios/params/mobility.toml: key 'vot_eur_h': missing segment(s) {missing}; "
                             f"allowed: one value per persona segment {model.segment_ids}")
    return np.array([table[s] for s in model.segment_ids], dtype=float)


def _resize(a: np.ndarray, n: int, fill: Any) -> np.ndarray:
    if a.size >= n:
        return a
    out = np.full(n, fill, dtype=a.dtype)
    out[: a.size] = a
    return out


def _grow(a: np.ndarray, n: int, fill: Any) -> np.ndarray:
    """``a`` with at least ``n`` rows, new rows ``fill``; grows with spare rows (1/16) so that the yearly
    growth of the population does not reallocate (and copy) a per-person draw every year.

    Rows past the person count are ``fill`` and never read; compaction cuts them (``S.compact_rows``).
    """
    if a.size >= n:
        return a
    out = np.empty(n + n // 16, dtype=a.dtype)
    out[: a.size] = a
    out[a.size:] = fill
    return out


def car_access(model, idx: np.ndarray, hh: np.ndarray | None = None) -> np.ndarray:
    """0 = licence and household car, 1 = licence without car, 2 = no licence.

    ``hh``: the households of ``idx`` when the caller already has them (saves a gather).
    """
    p, h = model.persons, model.households
    lic = p.licence[idx] & (p.age[idx] >= 18)
    car = h.car[p.hh[idx] if hh is None else hh] > 0
    # 2 - lic - (lic & car): CAR_OK 0, LICENCE_NO_CAR 1, NO_LICENCE 2 without two np.where passes
    return 2 - lic.astype(np.int64) - (lic & car)


def carpool_availability(model, o: np.ndarray, d: np.ndarray, car_ok: np.ndarray, w: np.ndarray,
                         prm: dict) -> np.ndarray:
    """Probability that a worker without a car finds a driver on each OD: [n, n].

    a_od = 1 - exp(-carpool_match_scale x drivers_od / carpool_match_drivers),
    drivers_od = real workers (household weights) with a licence and a
    household car commuting from home pole o to job pole d (o, d, car_ok, w:
    one entry per worker). Matching platforms (``carpool_match_scale`` > 1)
    enlarge the pool of drivers a passenger can reach.
    """
    n = model.territory.n
    return _carpool_avail_od(n, o * n + d, car_ok, w, prm)


def _carpool_avail_od(n: int, od: np.ndarray, car_ok: np.ndarray, w: np.ndarray, prm: dict) -> np.ndarray:
    """:func:`carpool_availability` from the flat OD index ``o * n + d`` of each worker."""
    drivers = np.bincount(od, weights=w * car_ok, minlength=n * n).reshape(n, n)
    return 1.0 - np.exp(-prm["carpool_match_scale"] * drivers / prm["carpool_match_drivers"])


def on_compact(model, keep_p, keep_h, pmap, hmap) -> None:
    """Per-person draws and aids follow the compaction of the person rows (see FabriqueModel.compact)."""
    st: MobilityState = model.mobility_state
    st.u = S.compact_rows(st.u, keep_p, np.nan)
    st.v = S.compact_rows(st.v, keep_p, UNDRAWN)
    model.mobility_aid_eur_month = S.compact_rows(np.asarray(model.mobility_aid_eur_month, dtype=np.float64),
                                                  keep_p, 0.0)
    if st.cells is not None:      # the last solve's workers: those still present, at their new rows
        rows = pmap[st.cells.persons]
        ok = rows >= 0
        st.cells = dataclasses.replace(st.cells, persons=rows[ok], of_person=st.cells.of_person[ok])


def _driver_draw(model, idx: np.ndarray) -> np.ndarray:
    """Persistent uniform draw of each person for finding a carpool driver (new persons drawn on demand).

    A dedicated stream, so the draws of the mobility stream (mode tastes, licences, cars) are unchanged
    and two runs with the same seed share each person's draw (common random numbers).
    """
    st: MobilityState = model.mobility_state
    n = model.persons.n
    st.v = _grow(st.v, n, UNDRAWN)
    # Every person row gets its draw at the first call after it appears, so the drawn rows are a prefix of
    # st.v (new rows are appended as UNDRAWN; compaction keeps the order): the first UNDRAWN row, found by
    # bisection instead of a pass over all rows, starts the rows to draw, in row order as before.
    first = bisect.bisect_left(range(n), True, key=lambda i: st.v[i] == UNDRAWN)
    if first < n:
        st.v[first:n] = model.stream("mobility_carpool_match").random(n - first)
    return st.v[idx]


def no_carpool_driver(model, idx: np.ndarray, o: np.ndarray, d: np.ndarray, avail: np.ndarray | None,
                      hh: np.ndarray | None = None, access: np.ndarray | None = None) -> np.ndarray:
    """True for persons who found no carpool driver on (o, d) (only meaningful without car access).

    ``avail``: the last solve's driver availability (``model.commute.carpool_avail``); ``hh`` and
    ``access`` (car_access): the persons' households and car access when the caller has them. Each call
    draws the persistent draw of persons who have none yet (the order of draws follows the calls).

    A person without a licence in a household with a car also has a household
    driver with probability ``carpool_household_driver_prob``:
    P(driver) = 1 - (1 - a_od) (1 - household).
    """
    if avail is None:
        return np.zeros(idx.size, dtype=bool)
    hh = model.persons.hh[idx] if hh is None else hh
    if access is not None:           # only persons without car access can lack a driver: compute for them only
        out = np.zeros(idx.size, dtype=bool)
        sel = np.flatnonzero(access != C.CAR_OK)
        out[sel] = no_carpool_driver(model, idx[sel], o[sel], d[sel], avail, hh[sel])
        return out
    n = avail.shape[0]
    return _no_driver_draw(model, idx, o * n + d, model.households.car[hh] > 0, avail, model.params["mobility"])


def _no_driver_draw(model, idx: np.ndarray, od: np.ndarray, hh_car: np.ndarray, avail: np.ndarray,
                    prm: dict) -> np.ndarray:
    """:func:`no_carpool_driver` from each person's flat OD (o * n + d) and whether their household has a car.

    The threshold 1 - P(no driver) takes one value per (OD, household car): computed on that small table,
    then gathered per person (the same numbers as computed per person).
    """
    miss = (1.0 - avail.reshape(-1, 1)) * (1.0 - prm["carpool_household_driver_prob"] * np.array([False, True]))
    threshold = (1.0 - miss).reshape(-1)                  # index od * 2 + household car
    return _driver_draw(model, idx) >= threshold[od * 2 + hh_car]


def _classes(model, idx: np.ndarray, prm: dict, no_driver: np.ndarray | None = None,
             access: np.ndarray | None = None) -> np.ndarray:
    """Person class (car access, limited mobility, aid, no driver); ``access``: car_access of idx if known."""
    p = model.persons
    limited = p.age[idx] >= prm["mobility_limit_age"]
    return C.person_class(car_access(model, idx) if access is None else access, limited,
                          model.mobility_aid_eur_month[idx] > 0, no_driver)


def available_modes(model, persons_idx: np.ndarray, job_poles: np.ndarray | None = None) -> np.ndarray:
    """Modes each person can use at all (OD distance limits aside): bool [k, 5].

    With ``job_poles`` (one per person, >= 0 inside AMP) carpool is available to
    a person without car access only if they find a driver on that OD (the
    availability of the last solve, ``model.commute.carpool_avail``), as in the
    mode choice; without it, carpool is listed as available to everyone.
    """
    idx = np.asarray(persons_idx, dtype=np.int64)
    prm = model.params["mobility"]
    out = np.ones((idx.size, len(S.MODES)), dtype=bool)
    hh = model.persons.hh[idx]
    access = car_access(model, idx, hh)
    car = access == C.CAR_OK
    out[:, CAR] = car
    out[:, BIKE] = model.persons.age[idx] < prm["mobility_limit_age"]
    c = getattr(model, "commute", None)
    if job_poles is not None and c is not None and c.carpool_avail is not None:
        job = np.asarray(job_poles, dtype=np.int64)
        ii = np.flatnonzero(job >= 0)
        o = model.households.pole[hh[ii]].astype(np.int64)
        out[ii, CARPOOL] = car[ii] | ~no_carpool_driver(model, idx[ii], o, job[ii], c.carpool_avail, hh[ii],
                                                        access[ii])
    return out


# ---------------------------------------------------------------- the yearly solve
def init(model) -> None:
    terr = model.territory
    t0 = terr.road_fftime_min
    ff_time, _, ff_sp = N.car_skim(terr, t0, model.params["mobility"])
    model.mobility_state = MobilityState(u=model.stream("mobility").random(model.persons.n),
                                         v=np.zeros(0), free=(ff_time, ff_sp),
                                         active_dist=terr.active_skim()[2], pop0=model.population())
    if not hasattr(model, "mobility_aid_eur_month"):
        model.mobility_aid_eur_month = np.zeros(model.persons.n, dtype=np.float64)
    _solve(model)
    st = model.mobility_state
    st.base_transit = _weighted(model, model.persons.mode == TRANSIT)


def step(model) -> dict[str, float]:
    events = T.update(model, model.params["mobility"], model.stream("mobility"))
    _solve(model)
    st = model.mobility_state
    return events | {"mobility_equilibrium_gap": st.gap, "mobility_outer_iterations": float(st.outer_iterations)}


def _weighted(model, mask: np.ndarray) -> float:
    p = model.persons
    return float(model.households.weight[p.hh[mask & p.alive]].sum())


def solve(model) -> None:
    """Mode choice and congestion for the current homes, jobs and parameters (no licence/car update)."""
    _solve(model)


def expected_shares(model) -> dict[str, np.ndarray]:
    """Expected (probability-weighted) results of the last solve, free of sampling noise.

    ``share``: mode shares of workers inside AMP [5]; ``time_by_access``:
    mean one-way commute time by car access class (0 car, 1 licence no car,
    2 no licence) [3]; ``gc_by_access``: mean expected generalised cost
    (nested-logit logsum, min) by the same classes; ``transit_time_by_access``:
    mean time of transit riders by class; ``car_time``: mean congested car
    time of car users.
    """
    st: MobilityState = model.mobility_state
    c, cells, P = model.commute, st.cells, st.P
    n = model.territory.n
    o, d = cells.od // n, cells.od % n
    t = c.time[:, o, d].T.copy()
    pnr = cells.cls % 3 == C.CAR_OK
    t[pnr, TRANSIT] = np.minimum(t[pnr, TRANSIT], c.skims.pnr_time[o[pnr], d[pnr]])
    t = np.where(P > 0, t, 0.0)
    w = cells.w
    acc = cells.cls % 3
    tw = (P * t).sum(axis=1)
    by_acc = np.array([(w * tw)[acc == k].sum() / max(w[acc == k].sum(), 1e-12) for k in range(3)])
    share = (w[:, None] * P).sum(axis=0) / w.sum()
    car_w = w * P[:, CAR]
    prm = c.params
    gc = C.generalised_minutes(c.skims, prm, n, cells.od, c.vot_seg[cells.seg], cells.cls, cells.aid)
    ls = C.logsum_minutes(gc, prm["logit_scale_per_min"], prm["nest_scale"])
    tw_w = w * P[:, TRANSIT]

    def mean_by(v, ww):
        return np.array([(ww * v)[acc == k].sum() / max(ww[acc == k].sum(), 1e-12) for k in range(3)])
    return {"share": share, "time_by_access": by_acc, "gc_by_access": mean_by(ls, w),
            "transit_time_by_access": mean_by(t[:, TRANSIT], tw_w),
            "car_time": float((car_w * t[:, CAR]).sum() / car_w.sum())}


def _solve(model) -> None:
    """Mode choice and congestion for the current homes, jobs, licences and cars."""
    prm = model.params["mobility"]
    terr, p, h = model.territory, model.persons, model.households
    st: MobilityState = model.mobility_state
    rng = model.stream("mobility")
    n, npers = terr.n, p.n
    st.u = _grow(st.u, npers, np.nan)
    model.mobility_aid_eur_month = _resize(np.asarray(model.mobility_aid_eur_month, dtype=np.float64), npers, 0.0)
    vot_seg = _vot_by_segment(model, prm)

    # workers: alive, employed, with a job pole (>= 0 inside AMP, OUTSIDE); the rows with a job pole are
    # selected first (one pass over all persons), the other tests run on them only
    cand = np.flatnonzero(p.job_pole != -1)
    job = p.job_pole[cand]
    employed = p.alive[cand] & (p.status[cand] == S.EMPLOYED)
    inside = np.flatnonzero(employed & (job >= 0))
    idx = cand[inside]
    out = cand[np.flatnonzero(employed & (job == OUTSIDE))]

    # persistent taste draw (mode habits): drawn for new workers and redrawn at mode_redraw_rate
    u = st.u[idx]
    fresh = rng.random(idx.size) < prm["mode_redraw_rate"]
    fresh |= np.isnan(u)
    fresh = np.flatnonzero(fresh)
    u[fresh] = rng.random(fresh.size)
    st.u[idx] = u

    hh = p.hh[idx]
    od = np.multiply(h.pole[hh], n, dtype=np.int64)        # flat (home pole, job pole): o * n + d
    od += job[inside]
    w_idx = h.weight[hh]
    age = p.age[idx]
    lic = p.licence[idx] & (age >= 18)
    car = h.car[hh] > 0
    car_ok = lic & car
    access = 2 - lic.astype(np.int8) - car_ok               # car_access: 0 car, 1 licence no car, 2 no licence
    avail = _carpool_avail_od(n, od, car_ok, w_idx, prm)
    aid = model.mobility_aid_eur_month[idx]
    aid_rows = np.flatnonzero(aid != 0)                     # the few workers with a transit aid (a bool scan is fast)
    # class (C.person_class): access + 3 limited + 6 aided + 12 no driver (persons without car access only)
    cls = access + 3 * (age >= prm["mobility_limit_age"]).astype(np.int8)
    cls[aid_rows[aid[aid_rows] > 0]] += 6
    nocar = np.flatnonzero(~car_ok)
    nocar = nocar[_no_driver_draw(model, idx[nocar], od[nocar], car[nocar], avail, prm)]
    cls[nocar] += 12
    cells = C.build_cells(n, len(model.segment_ids), idx, od, p.segment[idx], cls, w_idx, aid, aid_rows)
    eq = C.equilibrate(terr, prm, model.year, cells, vot_seg, st.free, st.active_dist, st.A, st.link_time, st.crowd,
                       st.background, model.population() / st.pop0,
                       st.transit_cache)
    st.A, st.link_time, st.link_flow = eq.assignment.A, eq.assignment.time, eq.assignment.flow
    st.crowd, st.background, st.line_vc = eq.crowd, eq.background, eq.line_vc
    st.gap, st.ue_iterations = eq.assignment.gap, eq.assignment.iterations
    st.outer_iterations, st.demand_change = eq.outer_iterations, eq.demand_change
    st.cells, st.P, st.road_od = cells, eq.P, eq.road_od
    sk = eq.skims

    # each worker draws a mode from its cell's probabilities (persistent taste draw):
    # mode = number of the cell's cumulative shares below u, column by column (no [W, 4] gather)
    cum = np.cumsum(eq.P, axis=1)
    cum = cum[:, :-1] / np.maximum(cum[:, -1:], 1e-300)
    cum_t = np.ascontiguousarray(cum.T)                   # [modes - 1, cells]
    mode = np.zeros(idx.size, dtype=np.int8)
    g = np.empty(idx.size)
    above = np.empty(idx.size, dtype=bool)
    for j in range(cum_t.shape[0]):
        np.take(cum_t[j], cells.of_person, out=g, mode="wrap")   # valid indices: "wrap" is the unbuffered take
        mode += np.greater(u, g, out=above)
    mod = np.multiply(mode, n * n, dtype=np.int64)        # flat (mode, o, d): 1-D gathers
    mod += od
    # time and cost are gathered straight in the dtype of the person columns from skims cast once (n x n):
    # rounding to float32 keeps the order, so min(float32 a, float32 b) = float32(min(a, b)); the aid is
    # subtracted in float64, as before, then cast
    f_t, f_c = p.commute_min.dtype, p.mobility_cost.dtype
    t = sk.time.astype(f_t).reshape(-1)[mod]
    transit = mode == TRANSIT
    pnr = np.flatnonzero(transit & car_ok)
    t[pnr] = np.minimum(t[pnr], sk.pnr_time.astype(f_t).reshape(-1)[od[pnr]])
    cost = sk.cost_month.astype(f_c).reshape(-1)[mod]
    # transit riders pay max(cost - aid, 0): with no negative (or -0.0) transit cost in the skim, only the few
    # aided riders change; otherwise every rider is recomputed
    tr = aid_rows[transit[aid_rows]] if not np.signbit(sk.cost_month[TRANSIT]).any() else np.flatnonzero(transit)
    cost[tr] = np.maximum(sk.cost_month.reshape(-1)[mod[tr]] - aid[tr], 0.0)

    p.mode[:] = S.NO_MODE
    p.commute_min[:] = 0.0
    p.mobility_cost[:] = 0.0
    p.mode[idx] = mode
    p.commute_min[idx] = t
    p.mobility_cost[idx] = cost
    m_out, t_out, c_out = _outside(model, out, prm)
    p.mode[out] = m_out
    p.commute_min[out] = t_out.astype(p.commute_min.dtype)
    p.mobility_cost[out] = c_out.astype(p.mobility_cost.dtype)
    model.commute = Commute(time=sk.time, cost_month=sk.cost_month, free_time=sk.free_time, year=model.year,
                            skims=sk, params=dict(prm), vot_seg=vot_seg, carpool_avail=avail)


def _outside(model, idx: np.ndarray, prm: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Workers outside AMP: a fixed commute, by car when available, else transit."""
    car = car_access(model, idx) == C.CAR_OK
    mode = np.where(car, CAR, TRANSIT).astype(np.int8)
    trips = 2.0 * prm["working_days_month"]
    car_cost = trips * prm["outside_commute_km"] * prm["car_cost_per_km"] + \
        prm["car_fixed_cost_eur_month"] * prm["car_ownership_commute_share"]
    tr_cost = prm["pass_metro_eur_month"] * (1 - prm["employer_pass_share"]) * (1 - prm["transit_fare_discount"])
    aid = model.mobility_aid_eur_month[idx]
    cost = np.where(car, car_cost, np.maximum(tr_cost - aid, 0.0))
    return mode, np.full(idx.size, prm["outside_commute_min"]), cost


# ---------------------------------------------------------------- API for labour and housing
def best_commute(model, persons_idx: np.ndarray, job_poles: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Best mode for each (person, candidate job pole) pair, from ``model.commute``.

    Returns ``(mode int8, time_min, cost_eur_month, gen_cost_eur_month)``:
    the available mode with the lowest generalised cost (perceived time and
    money, valued at the person's segment VOT, including the mode constants
    of the choice model), its one-way door-to-door time, its monthly money
    cost (net of the person's transit aid) and the generalised cost per month
    (2 trips x working days). Job pole -2 (outside AMP): the fixed outside
    commute; job pole -1: mode -1 and zeros. No available mode: mode -1, inf.
    """
    c: Commute = model.commute
    prm = c.params
    p, h = model.persons, model.households
    idx = np.asarray(persons_idx, dtype=np.int64)
    job = np.asarray(job_poles, dtype=np.int64)
    if idx.shape != job.shape:
        raise ValueError("best_commute: persons_idx and job_poles must have the same length")
    n = model.territory.n
    k = idx.size
    mode = np.full(k, S.NO_MODE, dtype=np.int8)
    time, cost, gen = np.zeros(k), np.zeros(k), np.zeros(k)
    aid = _resize(np.asarray(model.mobility_aid_eur_month, dtype=np.float64), p.n, 0.0)[idx]
    vot = c.vot_seg[p.segment[idx]]
    trips = 2.0 * prm["working_days_month"]
    inside = job >= 0
    if inside.any():
        ii = np.flatnonzero(inside)
        hh = p.hh[idx[ii]]
        o = h.pole[hh].astype(np.int64)
        d = job[ii]
        access = car_access(model, idx[ii], hh)
        no_driver = no_carpool_driver(model, idx[ii], o, d, c.carpool_avail, hh, access)
        cls = _classes(model, idx[ii], prm, no_driver, access)
        gc = C.generalised_minutes(c.skims, prm, n, o * n + d, vot[ii], cls, aid[ii])
        best = np.argmin(gc, axis=1)
        g = gc[np.arange(ii.size), best]
        ok = np.isfinite(g)
        t = c.time[best, o, d]
        pnr = (best == TRANSIT) & (cls % 3 == C.CAR_OK)
        t[pnr] = np.minimum(t[pnr], c.skims.pnr_time[o[pnr], d[pnr]])
        m = c.cost_month[best, o, d]
        m = np.where(best == TRANSIT, np.maximum(m - aid[ii], 0.0), m)
        mode[ii] = np.where(ok, best, S.NO_MODE)
        time[ii] = np.where(ok, t, np.inf)
        cost[ii] = np.where(ok, m, np.inf)
        gen[ii] = np.where(ok, g * vot[ii] / 60.0 * trips, np.inf)
    out = np.flatnonzero(job == OUTSIDE)
    if out.size:
        m_out, t_out, c_out = _outside(model, idx[out], prm)
        mode[out], time[out], cost[out] = m_out, t_out, c_out
        gen[out] = c_out + trips * vot[out] / 60.0 * t_out
    return mode, time, cost, gen


from .mobility_outputs import calibration, flows, invariants, metrics, persona_extra  # noqa: E402,F401
