"""Labour-market programmes as parameterised levers (used by :mod:`labour`).

* mentoring: ``persons.mentored`` = years left; raises the job-finding
  hazard by ``mentoring_effect`` while the person searches;
* training / retraining: the trainee stops searching (status INACTIVE,
  ``programme = TRAINING``, ``persons.training`` = years left); at the end,
  with probability ``training_completion_rate``, the skill level rises by
  ``training_skill_gain``; the person searches again;
* second-chance schools (E2C) for 16-25 drop-outs without the bac: same
  mechanics, a positive exit (``second_chance_positive_rate``) raises the
  skill level by one;
* mobility aids for seekers without a car or a licence
  (``LabourState.mobility_aid`` = years left): the commute cost is reduced by
  ``mobility_aid_cost_share`` when judging offers, and the mobility process
  may read the array to add the modes of ``mobility_aid_modes``.

When places are fewer than eligible persons, whole persons are drawn in a
random order of the ``labour`` stream (or long-term unemployed first) until
their cumulative real weight reaches the capacity; the last one is kept with
the probability that makes the expected intake exact.
"""
from __future__ import annotations

import numpy as np

from .. import state as S

NONE, TRAINING, SECOND_CHANCE = 0, 1, 2
PROGRAMMES = ("none", "training", "second_chance")


def select(rng: np.random.Generator, idx: np.ndarray, w: np.ndarray, capacity: float,
           priority: np.ndarray | None = None) -> np.ndarray:
    """Whole persons drawn (random order, higher priority first) until their weight reaches capacity."""
    if capacity <= 0 or idx.size == 0:
        return idx[:0]
    order = rng.permutation(idx.size)
    if priority is not None:
        order = order[np.argsort(-priority[order], kind="stable")]
    cum = np.cumsum(w[order])
    k = int(np.searchsorted(cum, capacity, side="right"))
    if k < order.size:
        prev = cum[k - 1] if k > 0 else 0.0
        if rng.random() < (capacity - prev) / max(w[order[k]], 1e-12):
            k += 1
    return idx[order[:k]]


def _years(x: float) -> int:
    return max(1, int(round(x)))


def advance(model, st, prm: dict, rng: np.random.Generator) -> dict[str, float]:
    """Count down programmes; complete training and second-chance courses."""
    p, h = model.persons, model.households
    p.mentored -= p.mentored > 0                # years left, down to 0
    st.mobility_aid -= st.mobility_aid > 0
    in_prog = np.flatnonzero(st.programme > NONE)
    # participants who died, emigrated or retired leave their programme
    gone_m = ~p.alive[in_prog] | (p.status[in_prog] != S.INACTIVE)
    gone = in_prog[gone_m]
    st.programme[gone] = NONE
    p.training[gone] = 0
    running = in_prog[~gone_m]
    p.training[running] = np.maximum(p.training[running] - 1, 0)
    done = running[p.training[running] == 0]
    ev = {"training_completed": 0.0, "second_chance_exits_positive": 0.0}
    if done.size:
        kind = st.programme[done]
        u = rng.random(done.size)
        tr = kind == TRAINING
        ok_tr = tr & (u < prm["training_completion_rate"])
        ok_e2c = ~tr & (u < prm["second_chance_positive_rate"])
        gain = np.where(ok_tr, int(prm["training_skill_gain"]), 0) + np.where(ok_e2c, 1, 0)
        p.skill[done] = np.minimum(p.skill[done] + gain, len(S.SKILL) - 1).astype(np.int8)
        p.status[done] = S.UNEMPLOYED
        st.programme[done] = NONE
        w = h.weight[p.hh[done]]
        ev["training_completed"] = float(w[ok_tr].sum())
        ev["second_chance_exits_positive"] = float(w[ok_e2c].sum())
    return ev


def enrol(model, st, prm: dict, rng: np.random.Generator, blocked: np.ndarray,
          jobless: np.ndarray | None = None) -> dict[str, float]:
    """New entries into second-chance schools, training, mentoring and mobility aids this year.

    ``blocked``: persons who cannot enter this year (e.g. just separated).
    ``jobless``: ascending rows of the living persons unemployed or inactive and
    in no programme, if the caller has them (else selected here).
    """
    p, h = model.persons, model.households
    # every programme takes jobless persons (unemployed or inactive) not already in one: select them once
    if jobless is None:
        jl = np.flatnonzero(p.alive & ((p.status == S.UNEMPLOYED) | (p.status == S.INACTIVE)) & ~blocked)
        jl = jl[st.programme[jl] == NONE]
    else:
        jl = jobless[~blocked[jobless]]
    age, status, skill = p.age[jl], p.status[jl], p.skill[jl]
    ev = {}
    # second-chance schools: 16-25 drop-outs without the bac, jobless
    a0, a1 = prm["second_chance_age_range"]
    k = np.flatnonzero((age >= a0) & (age <= a1) & (skill == 0))
    k = k[p.edu[jl[k]] == S.EDU_NO_BAC]
    new = select(rng, jl[k], S.person_weight(p, h, jl[k]), prm["second_chance_capacity_per_year"])
    _start(p, st, new, SECOND_CHANCE, prm["second_chance_duration_years"])
    ev["second_chance_entries"] = float(h.weight[p.hh[new]].sum())
    # training / retraining: unemployed adults below the top skill level (not those just enrolled above)
    t0, t1 = prm["training_age_range"]
    free = st.programme[jl] == NONE
    k = np.flatnonzero(free & (status == S.UNEMPLOYED) & (age >= t0) & (age <= t1) & (skill < len(S.SKILL) - 1))
    elig = jl[k]
    # 1 for the long-term unemployed (int8: the stable sort by priority in select is then a radix sort)
    prio = (p.months_jobless[elig] >= 12).astype(np.int8) if prm["training_priority"] == "long_term_first" else None
    new = select(rng, elig, S.person_weight(p, h, elig), prm["training_capacity_per_year"], prio)
    _start(p, st, new, TRAINING, prm["training_duration_years"])
    ev["training_entries"] = float(h.weight[p.hh[new]].sum())
    # mentoring: young or long-term unemployed seekers, low/mid skill
    m0, m1 = prm["mentoring_age_range"]
    seek = (p.status[jl] == S.UNEMPLOYED) & (st.programme[jl] == NONE)
    target = (age >= m0) & (age <= m1)
    if prm["mentoring_long_term_eligible"]:
        target |= p.months_jobless[jl] >= 12
    k = np.flatnonzero(seek & target & (p.mentored[jl] == 0) & (skill <= int(prm["mentoring_max_skill"])))
    new = select(rng, jl[k], S.person_weight(p, h, jl[k]), prm["mentoring_capacity_per_year"])
    p.mentored[new] = _years(prm["mentoring_duration_years"])
    ev["mentoring_entries"] = float(h.weight[p.hh[new]].sum())
    # mobility aids: seekers without a household car or without a licence
    k = np.flatnonzero(seek & (st.mobility_aid[jl] == 0))
    k = k[(h.car[p.hh[jl[k]]] == 0) | ~p.licence[jl[k]]]
    new = select(rng, jl[k], S.person_weight(p, h, jl[k]), prm["mobility_aid_capacity_per_year"])
    st.mobility_aid[new] = _years(prm["mobility_aid_duration_years"])
    ev["mobility_aid_entries"] = float(h.weight[p.hh[new]].sum())
    return ev


def _start(p, st, rows: np.ndarray, kind: int, years: float) -> None:
    st.programme[rows] = kind
    p.training[rows] = _years(years)
    p.status[rows] = S.INACTIVE
