"""Synthetic population: marginals within tolerance, named personas present, raking."""
from __future__ import annotations

import numpy as np
import pytest

from simulator import state as S
from simulator.calibration import rake
from simulator.model import FabriqueModel


@pytest.fixture(scope="module")
def model_2017():
    return FabriqueModel("baseline", scale=0.01, seed=11, end_year=2017)


def test_every_marginal_within_tolerance(model_2017):
    rows = model_2017.marginals()
    names = {r["marginal"] for r in rows}
    for needed in ("population", "share aged under 25", "share aged 60+", "employment rate 15-64",
                   "youth jobless rate 15-24 (non-students)", "higher-education students share",
                   "workforce without the bac", "households below the poverty line",
                   "adults with a driving licence", "households with a car"):
        assert needed in names
    bad = [r for r in rows if not r["ok"]]
    assert not bad, bad


def test_marginals_hold_for_other_seeds():
    for seed in (2, 5):
        m = FabriqueModel("baseline", scale=0.01, seed=seed, end_year=2017)
        assert all(r["ok"] for r in m.marginals())


def test_weights_are_real_units(model_2017):
    m = model_2017
    pop = m.population()
    assert pop == pytest.approx(m.territory.population.sum(), rel=0.02)
    # every household stands for a bounded number of real households
    d = pop / m.persons.n
    ratio = m.households.weight / d
    assert ratio.min() >= 0.2 - 1e-9 and ratio.max() <= 5.0 + 1e-9


def test_named_personas_present_with_card_values(model_2017):
    m = model_2017
    p, h = m.persons, m.households
    assert set(m.named) == {"sophie", "nicolas", "laurence", "carlos", "jean_stephane", "sarah",
                            "huguette", "malika"}
    sophie = m.named["sophie"]
    assert p.age[sophie] == 31 and not p.licence[sophie]
    assert p.age[m.named["carlos"]] == 53 and p.status[m.named["carlos"]] == S.UNEMPLOYED
    assert p.age[m.named["huguette"]] == 81 and p.status[m.named["huguette"]] == S.RETIRED
    assert p.age[m.named["malika"]] == 23 and p.status[m.named["malika"]] == S.STUDENT
    assert h.tenure[p.hh[m.named["malika"]]] == S.SOCIAL_RENT
    # Laurence and Carlos share one household
    assert p.hh[m.named["laurence"]] == p.hh[m.named["carlos"]]
    # every persona sits on its card's home pole
    for persona in m.personas:
        row = m.named[persona.id]
        assert m.territory.ids[h.pole[p.hh[row]]] == persona.agent["home_pole"]


def test_jobs_not_over_filled_at_start(model_2017):
    m = model_2017
    p, h = m.persons, m.households
    w = h.weight[p.hh]
    inside = p.alive & (p.status == S.EMPLOYED) & (p.job_pole >= 0)
    n_s = len(S.SECTORS)
    filled = np.bincount(p.job_pole[inside] * n_s + p.sector[inside], weights=w[inside],
                         minlength=len(m.territory.ids) * n_s).reshape(-1, n_s)
    assert np.all(filled <= m.territory.jobs + 1e-6)
    # everyone employed inside AMP has a job pole and a sector
    emp = p.alive & (p.status == S.EMPLOYED)
    assert np.all(p.sector[emp] >= 0)
    assert np.all((p.job_pole[emp] >= 0) | (p.job_pole[emp] == -2))


def test_rake_meets_known_targets():
    rng = np.random.default_rng(0)
    A = rng.integers(0, 3, size=(500, 4)).astype(float)
    d = np.ones(500)
    true_w = rng.uniform(0.5, 2.0, 500)
    t = A.T @ true_w
    res = rake(A, t, d, bounds=(0.05, 20))
    assert res.converged
    np.testing.assert_allclose(A.T @ res.weights, t, rtol=1e-6)


def test_fast_distinct_rows_match_calibration(model_2017):
    """calibration.distinct_rows (one unstable sort) gives the stable lexsort's groups, order and first rows."""
    from simulator.calibration import _distinct_rows_lexsort, distinct_rows
    from simulator.population import _constraints
    m = model_2017
    Ac, _, _ = _constraints(m.persons, m.households, m.territory, m.params["population"], compact=True)
    rng = np.random.default_rng(4)
    dup = np.asfortranarray(rng.integers(0, 3, (5000, 6)).astype(np.float64) * [1, 1, 0.5, 1, 2, -0.65])
    nan = dup.copy()
    nan[[7, 70], 2] = np.nan                                   # non-finite rows: the original function
    for A in (Ac, dup, nan, dup[:0]):
        f0, i0 = _distinct_rows_lexsort(A)
        f1, i1 = distinct_rows(A)
        assert np.array_equal(f0, f1) and np.array_equal(i0, i1)


def test_choice_by_group_matches_binary_search():
    """The column-by-column count draws what the binary search in the concatenated rows draws."""
    from simulator.population import _choice_by_group
    gen = np.random.default_rng(9)
    probs = gen.random((6, 5))
    probs[1, 2] = probs[3, :2] = probs[4, 4] = 0.0             # empty categories, first and last too
    groups = gen.integers(0, 6, 20000)
    got = _choice_by_group(np.random.default_rng(1), groups, probs)
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = np.random.default_rng(1).random(groups.size)
    flat = (cum + np.arange(6)[:, None]).ravel()
    ref = np.clip(np.searchsorted(flat, groups + u, side="left") - groups * 5, 0, 4)
    assert np.array_equal(got, ref)
    assert not np.any((got == 2) & (groups == 1)) and not np.any((got < 2) & (groups == 3))


def test_append_copies_only_new_rows_and_keeps_state_clean():
    """Appends give concatenation's columns and ids; the spare rows stay out of copies and pickles."""
    import copy
    import pickle

    def persons(k, start=0):
        return S.Persons(age=np.arange(start, start + k, dtype=np.int16), sex=np.zeros(k, np.int8),
                         hh=np.arange(k, dtype=np.int32), segment=np.zeros(k, np.int8), edu=np.zeros(k, np.int8),
                         status=np.zeros(k, np.int8), licence=np.zeros(k, bool),
                         income=np.ones(k, np.float32), alive=np.ones(k, bool))
    p = persons(5)
    p.append(persons(3, 5))
    held = p.age
    p.append(persons(4, 8))
    assert np.array_equal(p.age, np.arange(12)) and np.array_equal(p.pid, np.arange(12))
    assert held.size == 8 and p.age.base is not None                  # a view of a buffer with spare rows
    for q in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert "_spare" not in q.__dict__ and np.array_equal(q.age, p.age) and q.age.base is None
        q.append(persons(2, 12))
        assert np.array_equal(q.pid, np.arange(14)) and p.n == 12
    p.take(p.age % 2 == 0)
    p.age[0] = 99                                                      # a replaced column: reallocated
    p.append(persons(1, 50))
    assert p.age.tolist() == [99, 2, 4, 6, 8, 10, 50] and p.pid.tolist() == [0, 2, 4, 6, 8, 10, 12]
