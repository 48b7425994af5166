"""Economy and labour market: invariants, 2017 calibration, directions of the programme levers."""
from __future__ import annotations

import numpy as np
import pytest

from simulator import state as S
from simulator.model import FabriqueModel
from simulator.processes import economy, labour
from simulator.processes.labour_matching import fill_within_cells
from simulator.processes.labour_programmes import select


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
    m = _run(1, scale=0.005, seed=1)
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


@pytest.mark.xfail(strict=False, reason="weak in this model: car-less seekers can carpool and most candidate "
                   "jobs are near home, so faster transit also helps car owners (cost limit) who compete for "
                   "the same vacancies; see docs/process_labour.md")
def test_faster_transit_raises_employment_of_carless_seekers(transit_runs):
    assert np.mean([fast["emp"] - ctrl["emp"] for ctrl, fast in transit_runs]) > 0.005


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
