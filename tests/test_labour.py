"""Economy and labour market: invariants, 2017 calibration, directions of the programme levers."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from simulator import state as S
from simulator.model import FabriqueModel
from simulator.processes import economy, labour
from simulator.processes.labour_matching import fill_within_cells
from simulator.processes.labour_programmes import select
from simulator.territory import load_territory


def _run(years: int, scale: float = 0.01, seed: int = 5, **overrides) -> FabriqueModel:
    m = FabriqueModel("baseline", scale=scale, seed=seed, strict=True, overrides=overrides or None,
                      end_year=2017 + years)
    m.run_model()
    return m


def _w(m):
    return m.households.weight[m.persons.hh] * m.persons.alive


def _employment(m, rows: np.ndarray) -> float:
    w = _w(m)[rows]
    return float((w * (m.persons.status[rows] == S.EMPLOYED)).sum() / w.sum())


@pytest.fixture(scope="module")
def strict_run():
    return _run(4, scale=0.005, seed=2)


# ------------------------------------------------------------------ invariants
def test_invariants_hold_in_a_strict_run(strict_run):
    m = strict_run                      # strict=True checked every year; check the end state again
    assert labour.invariants(m) == [] and economy.invariants(m) == []
    filled = economy.resident_filled(m) + m.economy.external
    assert np.all(filled <= m.economy.positions * (1 + 1e-9) + 1e-6)        # every (pole, sector, level)
    assert np.all(filled.sum(-1) <= m.jobs * (1 + 1e-9) + 1e-6)               # every (pole, sector)


def test_one_job_per_worker_and_status_partition(strict_run):
    m = strict_run
    p, w = m.persons, _w(strict_run)
    emp_in = p.alive & (p.status == S.EMPLOYED) & (p.job_pole >= 0)
    # the positions held by residents count each worker exactly once
    assert economy.resident_filled(m).sum() == pytest.approx(w[emp_in].sum())
    assert np.all(p.job_pole[p.alive & (p.status != S.EMPLOYED)] == -1)
    parts = sum(w[p.status == code].sum() for code in range(len(S.STATUS)))
    assert parts == pytest.approx(m.population())


def test_metrics_rows_overall_segment_pole(strict_run):
    rows = strict_run.metric_rows
    names = {r[1] for r in rows}
    for key in ("employment_rate", "unemployment_rate", "youth_jobless_rate", "long_term_unemployed_share",
                "jobs", "vacancies", "mean_income", "mentored", "in_training"):
        assert key in names, key
    last = [r for r in rows if r[0] == strict_run.year and r[1] == "employment_rate"]
    groups = {r[2] for r in last}
    assert "all" in groups and any(g.startswith("segment=") for g in groups) \
        and any(g.startswith("pole=") for g in groups)
    er = [r[3] for r in last if r[2] == "all"][0]
    assert 0.55 < er < 0.75


def test_personas_have_labour_columns(strict_run):
    rec = strict_run.persona_agents["carlos"].history[-1]
    for key in ("status", "job_pole", "sector", "income_eur_month", "months_jobless", "programme",
                "job_offers_refused_transport"):
        assert key in rec


# ------------------------------------------------------------------ calibration
def test_calibration_2017_and_job_creation():
    # scale 0.01: the raked marginals are exact from this scale (issue 2); at 0.005 the labour definitions
    # (e.g. youth jobless among ~500 young rows) can differ from the raked ones by ~2 pt
    m = _run(1, scale=0.01, seed=1)
    rows = {r["marginal"]: r for r in labour.calibration(m) + economy.calibration(m)}
    for key in ("employment_rate 2017", "youth_jobless_rate 2017", "jobs 2017", "net job creation 2017-2018"):
        assert rows[key]["ok"], rows[key]
    assert m.economy.history[2017] == pytest.approx(735_000)
    assert 6000 <= m.economy.history[2018] - m.economy.history[2017] <= 7000     # FACTS ECO-1/2


def test_extra_jobs_lever_goes_to_the_weighted_pole():
    extra = {s: 0.0 for s in S.SECTORS}
    extra["maritime_logistics"] = 3000.0
    base = _run(2, scale=0.005, seed=4)
    lever = _run(2, scale=0.005, seed=4, economy={"extra_jobs_per_year_by_sector": extra,
                                                  "extra_jobs_pole_weights": {"Z18": 1.0}})
    j = lever.territory.index["Z18"]
    s = S.SECTORS.index("maritime_logistics")
    # 2 years x 3,000 at the hub (plus a little trend growth, which follows the larger stock)
    assert lever.jobs[j, s] - base.jobs[j, s] == pytest.approx(6000, rel=0.02)
    assert lever.jobs.sum() - base.jobs.sum() == pytest.approx(6000, rel=1e-6)


# ------------------------------------------------------------------ directions (same seed, with a control)
def test_mentoring_raises_employment_of_the_eligible_group():
    ctrl = _run(3, labour={"mentoring_capacity_per_year": 0.0})
    ment = _run(3, labour={"mentoring_capacity_per_year": 60_000.0, "mentoring_effect": 1.0})
    m0 = FabriqueModel("baseline", scale=0.01, seed=5)  # same seed: the same 2017 population, who is eligible
    q = m0.persons
    elig = np.flatnonzero(q.alive & (q.status == S.UNEMPLOYED) & (q.skill <= 1)
                          & (((q.age >= 16) & (q.age <= 29)) | (q.months_jobless >= 12)))
    assert elig.size > 0
    assert _employment(ment, elig) > _employment(ctrl, elig) + 0.02


def test_retraining_moves_skill_levels():
    ctrl = _run(2, labour={"training_capacity_per_year": 0.0})
    trn = _run(2, labour={"training_capacity_per_year": 30_000.0, "training_completion_rate": 1.0})
    m0 = FabriqueModel("baseline", scale=0.01, seed=5)
    q = m0.persons
    cohort = np.flatnonzero(q.alive & (q.status == S.UNEMPLOYED) & (q.age >= 25) & (q.age <= 57) & (q.skill < 2))
    gain = lambda m: float(np.mean(m.persons.skill[cohort] > q.skill[cohort]))
    assert gain(trn) > gain(ctrl) + 0.1
    assert np.all(trn.persons.skill[cohort] >= q.skill[cohort])


@pytest.fixture(scope="module")
def transit_runs():
    """Same seeds, one year, control vs transit 3x faster and more frequent on every line."""
    if "mobility" not in FabriqueModel("baseline", scale=0.005, seed=1).processes:
        pytest.skip("needs mobility")
    runs = []
    for seed in (1, 2):
        out = []
        for mob in ({}, {"transit_ivt_scale": 0.3, "transit_headway_scale": 0.3}):
            m = FabriqueModel("baseline", scale=0.02, seed=seed, end_year=2018,
                              overrides={"mobility": mob} if mob else None)
            q, hh = m.persons, m.households
            served = np.zeros(m.territory.n, dtype=bool)
            for line in m.territory.lines:
                served[line.stops] = True
            carless = (hh.car[q.hh] == 0) | ~q.licence
            cohort = np.flatnonzero(q.alive & (q.status == S.UNEMPLOYED) & carless & (q.age <= 60)
                                    & served[hh.pole[q.hh]])
            m.run_model()
            out.append(dict(emp=_employment(m, cohort), refused=int(m.labour.refused_transport[cohort].sum()),
                            hires=m.labour.events["hires"]))
        runs.append(out)
    return runs


def test_faster_transit_cuts_transport_refusals_of_carless_seekers(transit_runs):
    for ctrl, fast in transit_runs:
        assert fast["refused"] < 0.5 * ctrl["refused"]


# One faster link, the car-less job seekers of the poles it serves (issue 4). The Salon-Miramas TER
# (TER_SAL, Z21-Z20, 10 min every 60 min) made 2.5x faster and 4x more frequent (capacity follows the
# frequency); control and treatment share the seed, so the 2017 population, who is a car-less seeker in a
# served pole, and the first year's random draws (offers, candidates, clocks) are the same. Outcome: share
# of the cohort employed after one year (later years are not paired: a different home or car changes the
# persons arrays and the labour stream's draws diverge, so multi-year differences are mostly noise).
LINK = "TER_SAL"


def _faster_line(line_id: str, ivt_scale: float = 0.4, headway_scale: float = 0.25):
    terr = copy.deepcopy(load_territory())
    li = terr.line_ids.index(line_id)
    line = terr.lines[li]
    line.ivt_min = line.ivt_min * ivt_scale
    line.headway_min = line.headway_min * headway_scale
    terr.line_headway_min = terr.line_headway_min.copy()
    terr.line_headway_min[li] *= headway_scale
    terr.line_capacity_pax_h = terr.line_capacity_pax_h.copy()
    terr.line_capacity_pax_h[li] /= headway_scale
    return terr, line.stops


def _link_effect(seed: int, mobility: dict | None, scale: float = 0.05) -> dict:
    """Employment after one year of the car-less seekers of the served poles (and of the others)."""
    fast, stops = _faster_line(LINK)
    out = {}
    for arm, terr in (("ctrl", None), ("fast", fast)):
        m = FabriqueModel("baseline", scale=scale, seed=seed, end_year=2018, territory=terr,
                          overrides={"mobility": mobility} if mobility else None)
        q, hh = m.persons, m.households
        served = np.zeros(m.territory.n, dtype=bool)
        served[stops] = True
        carless = (hh.car[q.hh] == 0) | ~q.licence
        seek = q.alive & (q.status == S.UNEMPLOYED) & carless & (q.age >= 15) & (q.age <= 64)
        home_served = served[hh.pole[q.hh]]
        cohort, others = np.flatnonzero(seek & home_served), np.flatnonzero(seek & ~home_served)
        m.run_model()
        out[arm] = dict(emp=_employment(m, cohort), others=_employment(m, others),
                        refused=int(m.labour.refused_transport[cohort].sum()))
    return out


def test_faster_link_raises_employment_of_carless_seekers_who_cannot_carpool():
    # The mechanism of issue 4 with carpooling removed altogether: with the detour at 60 min (both arms)
    # riding as a passenger is never within the acceptable commute time, transit is the car-less seekers'
    # motorised mode, and a faster, more frequent Salon-Miramas TER lets the seekers of Salon and Miramas
    # accept the offers they refused: measured (scale 0.05, seeds 1-3, with carpool passengers conditional
    # on a driver) refusals 1,248 -> 705 (-44 %), employment after one year +3.9 pt (+2.4 to +5.3).
    gains, elsewhere = [], []
    for seed in (1, 2, 3):
        r = _link_effect(seed, {"carpool_detour_min": 60.0})
        assert r["fast"]["refused"] < 0.8 * r["ctrl"]["refused"]
        gains.append(r["fast"]["emp"] - r["ctrl"]["emp"])
        elsewhere.append(r["fast"]["others"] - r["ctrl"]["others"])
    assert np.mean(gains) > 0.02
    assert np.mean(gains) > np.mean(elsewhere) + 0.02


def test_faster_link_raises_employment_of_carless_seekers_in_served_poles():
    # Issue 4 in the baseline. A worker without a car rides as a carpool passenger only if they find a
    # driver on their home -> job OD (probability 1 - exp(-drivers / carpool_match_drivers), drivers =
    # workers with a car on that OD; a household driver for those without a licence in a car household;
    # one persistent draw per person, shared by the mode choice, best_commute and labour's commute test,
    # and by both arms). Before this condition every car-less person could always ride (6-min detour),
    # so transit never held them back: ~4 of ~1,500 car-less seekers had all candidates refused for
    # transport and the same link gave +1.6 pt (-0.6 to +5.7, noise). Measured now (scale 0.05, one year,
    # seeds 1-24): refusals of the served car-less seekers 4,709 -> 3,039 (-35 %), employment +1.73 pt
    # (se 0.49 pt; per-seed sd 2.4 pt), car-less seekers of the other poles -0.1 pt (not a general shift).
    # The test takes 16 seeds (~11 s) and asks for a gain two standard errors above zero.
    runs = [_link_effect(seed, None) for seed in range(1, 17)]
    gains = np.array([r["fast"]["emp"] - r["ctrl"]["emp"] for r in runs])
    elsewhere = [r["fast"]["others"] - r["ctrl"]["others"] for r in runs]
    assert sum(r["fast"]["refused"] for r in runs) < 0.8 * sum(r["ctrl"]["refused"] for r in runs)
    assert gains.mean() > 2 * gains.std(ddof=1) / np.sqrt(gains.size)
    assert gains.mean() > np.mean(elsewhere) + 0.01


def test_childcare_places_help_constrained_single_parents():
    # ~130 constrained single parents per run at this scale: average three seeds (same seeds, with
    # and without childcare places) so the effect is not lost in one run's noise
    gains = []
    for seed in (5, 6, 7):
        ctrl = _run(3, seed=seed)
        care = _run(3, seed=seed, labour={"childcare_places_per_year": 1e6})
        m0 = FabriqueModel("baseline", scale=0.01, seed=seed)
        q = m0.persons
        seek = np.flatnonzero(q.alive & (q.status == S.UNEMPLOYED))
        cohort = seek[labour.childcare_constrained(m0, seek)]
        assert cohort.size > 0
        gains.append(_employment(care, cohort) - _employment(ctrl, cohort))
    assert np.mean(gains) > 0.02


# ------------------------------------------------------------------ building blocks
def test_fill_within_cells_never_exceeds_capacity():
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 5, 1000)
    w = rng.uniform(0.5, 3.0, 1000)
    cap = np.array([0.0, 10.0, 50.0, 1e9, 2.5])
    keep = fill_within_cells(cells, rng.random(1000), w, cap)
    taken = np.bincount(cells[keep], weights=w[keep], minlength=5)
    assert np.all(taken <= cap + 1e-9)
    assert taken[3] == pytest.approx(w[cells == 3].sum())


def test_select_meets_capacity_in_expectation():
    rng = np.random.default_rng(1)
    idx = np.arange(2000)
    w = rng.uniform(1, 3, 2000)
    got = [w[select(rng, idx, w, 500.0)].sum() for _ in range(200)]
    assert np.mean(got) == pytest.approx(500.0, rel=0.01)
    assert select(rng, idx, w, 0.0).size == 0


# ------------------------------------------------------------------ fast paths = the plain computations
def test_sample_cells_same_cells_as_a_binary_search_per_draw():
    from simulator.processes.labour_matching import sample_cells
    rng = np.random.default_rng(2)
    weights = rng.random((12, 40)) ** 6 * (rng.random((12, 40)) < 0.6)
    weights[:, -3:] = 0.0                    # zero weights at the end of the rows (as skill_fit makes them)
    weights[4] = 0.0                         # a group without weight
    group = rng.integers(0, 12, 5000)
    cells, ok = sample_cells(np.random.default_rng(7), group, weights, 3)
    # reference: searchsorted of every draw in the groups' cumulative distributions laid end to end
    tot = weights.sum(1)
    cum = np.cumsum(weights, axis=1) / np.where(tot > 0, tot, 1.0)[:, None]
    cum[tot > 0, -1] = 1.0
    flat = (cum + np.arange(12)[:, None]).ravel()
    u = np.random.default_rng(7).random((group.size, 3))
    pos = np.searchsorted(flat, group[:, None] + u, side="right")
    ref = np.clip(pos - group[:, None] * 40, 0, 39)
    assert np.array_equal(ok, tot[group] > 0)
    assert np.array_equal(cells[ok], ref[ok])
    assert np.all(weights[group[ok, None], cells[ok]] > 0)


def test_sorting_helpers_give_the_lexsort_order():
    from simulator.processes.labour_matching import _lexsort_small, _order_by_row
    rng = np.random.default_rng(3)
    for it in range(50):
        n = int(rng.integers(1, 300))
        keys = rng.integers(0, 4, n).astype(float) if it % 2 else rng.random(n)     # with and without ties
        cells = rng.integers(0, 30 if it % 3 else 70_000, n)
        assert np.array_equal(_lexsort_small(keys, cells), np.lexsort((keys, cells)))
        k = int(rng.integers(1, 6))
        table = rng.integers(0, 3, (n, k)).astype(float) if it % 2 else rng.random((n, k))
        valid = rng.random((n, k)) < 0.7
        row = np.repeat(np.arange(n), k).reshape(n, k)[valid]
        order, rank = _order_by_row(table, valid)
        assert np.array_equal(order, np.lexsort((table[valid], row)))
        assert np.array_equal(rank, np.arange(row.size) - np.searchsorted(row, row))


def test_acceptable_same_as_judging_each_mode(strict_run):
    from simulator.processes.labour_matching import acceptable
    from simulator.processes.mobility import available_modes
    m = strict_run
    saved = m.mobility_aid_eur_month
    try:
        _check_acceptable(m, acceptable, available_modes)
    finally:
        m.mobility_aid_eur_month = saved


def _check_acceptable(m, acceptable, available_modes):
    p, h, c = m.persons, m.households, m.commute
    rng = np.random.default_rng(4)
    who = np.sort(rng.choice(np.flatnonzero(p.alive & (p.age >= 15)), 400, replace=False))
    m.mobility_aid_eur_month = np.where(rng.random(p.n) < 0.3, 60.0, 0.0)
    max_time = np.where(rng.random(who.size) < 0.2, 30.0, 60.0)
    of = np.sort(rng.integers(0, who.size, 1500))
    poles = rng.integers(0, m.territory.n, of.size)
    max_cost = rng.uniform(0, 300, of.size)
    ok, cost = acceptable(m, who, poles, max_time, max_cost, of=of)
    # reference: every mode of every candidate
    persons = who[of]
    o = h.pole[p.hh[persons]].astype(np.int64)
    avail = available_modes(m, persons, poles).T
    t = np.asarray(c.time)[:, o, poles]
    cm = np.asarray(c.cost_month, dtype=float)[:, o, poles]
    tr = S.MODES.index("transit")
    cm[tr] = np.maximum(cm[tr] - m.mobility_aid_eur_month[persons], 0.0)
    good = avail & np.isfinite(t) & np.isfinite(cm) & (t <= max_time[of]) & (cm <= max_cost)
    assert 0 < good.any(0).sum() < of.size
    assert np.array_equal(ok, good.any(0))
    assert np.array_equal(cost, np.where(good.any(0), np.where(good, cm, np.inf).min(0), 0.0))


def test_held_positions_recount_as_resident_filled(strict_run):
    m = strict_run
    p, st = m.persons, m.labour
    held = labour._positions_held(m, st, p.alive & (p.status == S.EMPLOYED))
    assert np.array_equal(labour._filled(m, held), economy.resident_filled(m))      # same sums, same order
    # after separations: the rows kept recount as resident_filled once the others have left their job
    keep = np.random.default_rng(5).random(held.rows.size) < 0.7
    gone = held.rows[~keep]
    status = p.status[gone].copy()
    try:
        p.status[gone] = S.UNEMPLOYED
        assert np.array_equal(labour._filled(m, held.keep(keep)), economy.resident_filled(m))
    finally:
        p.status[gone] = status
