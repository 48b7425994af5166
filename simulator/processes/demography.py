"""Demography: ageing, deaths, births, life-course transitions, leaving home, migration.

All operations are vectorised over the person and household arrays. The
eight named personas and their households are archetypes, as in the
booklet (their 2040 stories keep the ages of their 2017 cards, FACTS.md
§1.0): their rows neither age, die, give birth nor emigrate. Everything
else does.

Population accounting (checked in strict mode and by the tests), in real
persons: P(t) = P(t-1) + births - deaths + immigrants - emigrants.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import state as S
from ..params import spec

# Implementation note: a boolean mask of medium density (say 5-95 %) over ~2 M rows is turned into an
# index array (np.flatnonzero) before selecting with it: ``a[np.flatnonzero(m)]`` gives the same rows
# as ``a[m]`` several times faster (numpy's boolean indexing branches on every element), and the index
# serves for every array selected with the same mask.

SPECS = {
    "mortality_log_a": spec("1", -20, 0),
    "mortality_log_b": spec("1/yr", 0, 0.3),
    "mortality_makeham_c": spec("1/yr", 0, 0.05),
    "mortality_male_factor": spec("1", 0.5, 3),
    "mortality_female_factor": spec("1", 0.2, 2),
    "infant_mortality": spec("1/yr", 0, 0.1),
    "fertility_by_age": spec("births/woman/yr", 0, 0.5, kind="list", length=7),
    "fertility_factor": spec("1", 0, 3),
    "leave_home_rate": spec("1/yr", 0, 1),
    "retirement_age": spec("yr", 50, 75, kind="list", length=2),
    "retirement_rate": spec("1/yr", 0, 1),
    "student_finish_rate": spec("1/yr", 0, 1, kind="list", length=3),
    "higher_ed_entry_rate": spec("1", 0, 1),
    "net_migration": spec("persons/yr", -100000, 100000),
    "gross_emigration_rate": spec("1/yr", 0, 0.2),
    "migrant_head_age": spec("yr", 0, 110, kind="list", length=2),
    "migrant_age_preference": spec("1", 1, 20),
    "immigrant_retiree_age": spec("yr", 0, 110, kind="list", length=2),
    "pension_replacement_rate": spec("1", 0, 1.5),
    "minimum_pension_share": spec("1", 0, 1.5),
    "new_seeker_income_share": spec("1", 0, 2),
}


def _protected_rows(model) -> np.ndarray:
    """Person rows of the named personas' households (archetypes: their membership never changes)."""
    agents = getattr(model, "persona_agents", None)
    if agents:
        return np.unique(np.concatenate([a.members for a in agents.values()]))
    p, h = model.persons, model.households
    prot_h = np.zeros(h.n, dtype=bool)
    prot_h[model.named_households] = True
    return np.flatnonzero(prot_h[p.hh])


class _Households:
    """Living members and age of the oldest member per household row, kept up to date during the step.

    Both are counted once, after the deaths (the dead may have been the
    oldest), from the household rows and ages of the living non-archetype
    rows already gathered by ``step`` (the rows that died carry age -1 and are
    taken off the counts) plus the archetype rows; they are then updated for
    each event (births, emigration, new households) instead of being
    recounted over every row.
    """

    def __init__(self, p, h, hh: np.ndarray, age: np.ndarray, dead_hh: np.ndarray, prot: np.ndarray) -> None:
        """``hh``, ``age``: household row and age of the non-archetype rows alive at the start of the year
        (age -1 for those that died, whose households are ``dead_hh``); ``prot``: archetype rows."""
        prot = prot[p.alive[prot]]
        self.members = np.bincount(hh, minlength=h.n)
        np.subtract.at(self.members, dead_hh, 1)
        np.add.at(self.members, p.hh[prot], 1)
        self.oldest = np.zeros(h.n, dtype=np.int16)
        np.maximum.at(self.oldest, hh, age)             # age -1 (the dead) never exceeds 0
        np.maximum.at(self.oldest, p.hh[prot], p.age[prot])

    def grow(self, n: int) -> None:
        k = n - self.members.size
        if k > 0:
            self.members = np.concatenate([self.members, np.zeros(k, self.members.dtype)])
            self.oldest = np.concatenate([self.oldest, np.zeros(k, self.oldest.dtype)])


def step(model) -> dict[str, float]:
    """Advance one year. Returns real-unit counts for the metrics.

    The living non-archetype rows are selected once (``ai``) with their age
    and sex; the deaths, births, transitions and leaving home then work on
    these index arrays and their compressed copies instead of gathering the
    same columns again over ~2 M rows at each stage.
    """
    prm: dict[str, Any] = model.params["demography"]
    rng: np.random.Generator = model.stream("demography")
    p, h = model.persons, model.households
    prot = _protected_rows(model)
    free = p.alive.copy()
    free[prot] = False

    # --- ageing (one pass: True adds 1)
    p.age += free
    ai = np.flatnonzero(free)
    # (``take`` rather than ``[]``: the same rows, faster for a large index)
    age, sex, hh = p.age.take(ai), p.sex.take(ai), p.hh.take(ai)

    # --- deaths (mortality by age from a table over ages, not a pass of exp over every row)
    ages = np.arange(int(p.age.max()) + 1 if p.n else 1, dtype=np.float64)
    qa = prm["mortality_makeham_c"] + np.exp(prm["mortality_log_a"] + prm["mortality_log_b"] * ages)
    qa = qa[None, :] * np.array([prm["mortality_female_factor"], prm["mortality_male_factor"]])[:, None]  # [sex, age]
    qa = np.minimum(np.where(ages <= 1, np.maximum(qa, prm["infant_mortality"]), qa), 1.0)
    # flat [sex, age] table read with one index (row of the males: + number of ages)
    cell = (sex == 1).astype(np.intp)
    cell *= ages.size
    cell += np.maximum(age, 0)
    q = qa.ravel().take(cell)
    dead = np.flatnonzero(rng.random(ai.size) < q)       # one draw per living, non-archetype person
    dies = ai[dead]
    dead_hh = hh[dead]
    deaths = float(h.weight[dead_hh].sum())
    _remove(model, dies)
    # The dead stay in ai, age and hh (dropping ~1 % of 2 M rows would cost a pass per array): their
    # age becomes -1, which no age group below selects, and the transitions mark their status too.
    age[dead] = -1
    hs = _Households(p, h, hh, age, dead_hh, prot)       # the living, after the deaths
    _close_empty(h, dead_hh, hs.members)

    # --- births (to living women 15-49 of non-protected households)
    fertile = np.flatnonzero((sex == 0) & (age >= 15) & (age <= 49))
    wi = ai[fertile]
    band = np.clip((age[fertile] - 15) // 5, 0, 6)
    f = np.asarray(prm["fertility_by_age"])[band] * prm["fertility_factor"]
    born = np.flatnonzero(rng.random(wi.size) < f)
    mothers = wi[born]
    mothers_hh = hh[fertile[born]]
    births = float(h.weight[mothers_hh].sum())
    if mothers.size:
        k = mothers.size
        baby = S.Persons(
            age=np.zeros(k, np.int16), sex=(rng.random(k) < 0.512).astype(np.int8),  # 105 boys per 100 girls,
            hh=mothers_hh, segment=p.segment[mothers],
            edu=np.zeros(k, np.int8), status=np.full(k, S.CHILD, np.int8),
            licence=np.zeros(k, bool), income=np.zeros(k, np.float32), alive=np.ones(k, bool))
        p.append(baby)
        np.add.at(hs.members, baby.hh, 1)

    # --- life-course transitions (the living non-archetype adults; newborns are children)
    _transitions(model, prm, rng, ai, age, dead)

    # --- young adults leaving the parental home (ai, age, hh: unchanged since; the dead have age -1)
    left_home = _leave_home(model, prm, rng, ai, age, hh, hs)

    # --- migration
    emigrants, immigrants = _migration(model, prm, rng, hs)
    return {"births": births, "deaths": deaths, "emigrants": emigrants, "immigrants": immigrants,
            "net_migration": immigrants - emigrants, "left_home": left_home}


def _leave(model, rows: np.ndarray, members: np.ndarray) -> None:
    """Remove persons (emigration; deaths use _remove and _close_empty around the member count): free
    their job, close the households left empty.

    ``members``: living members per household before the removal (updated
    in place).
    """
    if rows.size == 0:
        return
    _remove(model, rows)
    hh = model.persons.hh[rows]
    np.subtract.at(members, hh, 1)
    _close_empty(model.households, hh, members)


def _remove(model, rows: np.ndarray) -> None:
    """Mark persons as gone (death or emigration) and free their job."""
    p = model.persons
    p.alive[rows] = False
    p.job_pole[rows] = -1
    p.sector[rows] = -1
    p.mode[rows] = S.NO_MODE


def _close_empty(h, hh: np.ndarray, members: np.ndarray) -> None:
    """Close the households among ``hh`` (rows that lost members) left with no living member."""
    h.alive[hh[members[hh] == 0]] = False       # (a household listed more than once is closed once)


def _transitions(model, prm, rng, ai: np.ndarray, age: np.ndarray, dead: np.ndarray) -> None:
    """School leavers, students finishing, retirement; ``ai`` = non-archetype rows alive at the start of the
    year, ``age`` their ages, ``dead``: positions in ``ai`` of those who died this year (age -1)."""
    p = model.persons
    st = p.status.take(ai)              # status at the start of the transitions (this year's intake does not finish)
    st[dead] = -1                       # no status: the dead are not students (age -1 already excludes them elsewhere)
    # school leavers at 18: higher education or the labour market
    leavers = ai[np.flatnonzero((st == S.CHILD) & (age >= 18))]
    higher = rng.random(leavers.size) < prm["higher_ed_entry_rate"]
    to_higher, to_work = leavers[higher], leavers[~higher]
    p.status[to_higher] = S.STUDENT
    p.income[to_higher] = model.params["population"]["income_student"]
    p.edu[to_higher] = S.EDU_BAC
    p.status[to_work] = S.UNEMPLOYED
    # students finish (students of this year's intake do not)
    fr = np.asarray(prm["student_finish_rate"])
    is_stud = np.flatnonzero(st == S.STUDENT)
    stud = ai[is_stud]
    sa = age[is_stud]
    rate = np.where(sa <= 20, fr[0], np.where(sa <= 24, fr[1], fr[2]))
    rate = np.where(sa >= 30, 1.0, rate)
    finish = stud[rng.random(stud.size) < rate]
    p.edu[finish[p.age[finish] >= 21]] = S.EDU_HIGHER
    p.skill[finish] = p.edu[finish]
    p.status[finish] = S.UNEMPLOYED
    # retirement
    r0, r1 = prm["retirement_age"]
    # the labour force past r0 in one boolean pass (EMPLOYED, UNEMPLOYED, INACTIVE are the codes 2-4)
    assert (S.EMPLOYED, S.UNEMPLOYED, S.INACTIVE) == (2, 3, 4)
    lf = np.flatnonzero((age >= r0) & (st >= S.EMPLOYED) & (st <= S.INACTIVE))
    in_lf = ai[lf]
    retire = in_lf[(rng.random(in_lf.size) < prm["retirement_rate"]) | (age[lf] >= r1)]
    pension = model.params["population"]["pension_median"]
    floor = prm["minimum_pension_share"] * pension
    p.income[retire] = np.where(p.status[retire] == S.EMPLOYED,
                                np.maximum(prm["pension_replacement_rate"] * p.income[retire], floor), floor)
    p.status[retire] = S.RETIRED
    p.job_pole[retire] = -1
    p.sector[retire] = -1
    # new job seekers get the benefit income
    new_seekers = np.concatenate([to_work, finish])
    new_seekers = new_seekers[p.status[new_seekers] == S.UNEMPLOYED]
    p.income[new_seekers] = model.params["population"]["income_unemployed"] * prm["new_seeker_income_share"]


def _leave_home(model, prm, rng, ai: np.ndarray, age: np.ndarray, hh: np.ndarray, hs: _Households) -> float:
    """Young adults (18-29, not children, 16+ years younger than their household's oldest) found a household.

    ``ai``: non-archetype rows alive at the start of the year, ``age`` their
    ages (-1 for those who died), ``hh`` their households (no one has moved
    since); the status is read after the transitions.
    """
    p, h = model.persons, model.households
    window = np.flatnonzero((age >= 18) & (age <= 29))
    cand, cage, chh = ai[window], age[window], hh[window]
    keep = np.flatnonzero((p.status[cand] != S.CHILD) & (hs.oldest[chh] - cage >= 16))
    cand, chh = cand[keep], chh[keep]
    go = np.flatnonzero(rng.random(cand.size) < prm["leave_home_rate"])
    movers, old_hh = cand[go], chh[go]
    if movers.size == 0:
        return 0.0
    k = movers.size
    new_h = S.Households(
        pole=h.pole[old_hh].copy(), weight=h.weight[old_hh].copy(), segment=p.segment[movers].copy(),
        hh_type=np.zeros(k, np.int8), car=np.zeros(k, np.int8),
        tenure=np.full(k, S.PRIVATE_RENT, np.int8), size_class=np.zeros(k, np.int8),
        condition=np.zeros(k, np.int8), housing_cost=np.zeros(k, np.float32),
        energy_cost=np.zeros(k, np.float32))
    rows = h.append(new_h)
    p.hh[movers] = rows.astype(np.int32)
    np.subtract.at(hs.members, old_hh, 1)          # the parents' oldest member stays (16+ years older)
    hs.grow(h.n)
    hs.members[rows] = 1
    hs.oldest[rows] = p.age[movers]
    model.on_new_households(rows, reason="left_home")
    return float(h.weight[rows].sum())


def _draw(rng, target_persons: float, elig: np.ndarray, pref: np.ndarray, k: np.float32, r_mean: float,
          r_elig: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Household rows drawn among ``elig`` with probability proportional to their preference (``k`` where
    the boolean ``pref`` is set, 1 elsewhere; float32), without replacement, until their persons
    (``r_elig``, mean ``r_mean``) reach the target (the last one by stochastic rounding, so the expectation
    is exact). ``real``: persons per household row."""
    if target_persons <= 0 or elig.size == 0:
        return np.zeros(0, dtype=np.int64)
    # Efraimidis-Spirakis weighted order without replacement, in its exponential form:
    # key = E / pref with E ~ Exp(1); the smallest keys come first. Dividing by 1 changes nothing, so only
    # the preferred rows are divided, through an index (same float32 quotients as E / pref; ``where=``
    # or an array of preferences cost 3x more)
    keys = rng.standard_exponential(elig.size, dtype=np.float32)
    pi = np.flatnonzero(pref)
    keys[pi] = keys[pi] / k
    # sum of the preferences in float64, exact: every partial sum i*k + j is a multiple of k's float32
    # ulp below 2**53 of them for k in [1, 20] (the parameter's range), whatever the summation order
    n_pref = pi.size
    if 1.0 <= k <= 20.0:
        pr_sum = n_pref * float(k) + (elig.size - n_pref)
    else:
        pr_sum = float(np.where(pref, k, np.float32(1.0)).sum(dtype=np.float64))
    # only the head of the order is needed: the keys below a threshold tau (P(key < tau) ~ pref x tau),
    # sorted; tau doubles until the persons they hold reach the target (same result as a full sort)
    need = 4.0 * target_persons / max(r_mean, 1e-12) + 1024
    tau = np.float32(need / max(pr_sum, 1e-12))
    while True:
        part = np.flatnonzero(keys < tau)
        head = part[_stable_order(keys[part])]
        cum = np.cumsum(r_elig[head])
        if part.size == elig.size or (cum.size and cum[-1] > target_persons):
            break
        tau = np.float32(tau * 2)
    order = elig[head]
    n = int(np.searchsorted(cum, target_persons))
    if n < order.size:
        prev = cum[n - 1] if n > 0 else 0.0
        if rng.random() < (target_persons - prev) / max(real[order[n]], 1e-12):
            n += 1
    return order[:n]


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` for float32 keys >= 0 (no NaN), about twice as fast: the bits of
    such a float, read as an integer, sort in the same order, so one int64 (bits, position) per key is
    sorted; keys are distinct there, so any sort gives the stable order."""
    if keys.size >= 2**31 or not (keys.size == 0 or keys.min() >= 0):
        return np.argsort(keys, kind="stable")
    packed = keys.view(np.int32).astype(np.int64)
    packed <<= 32
    packed |= np.arange(keys.size, dtype=np.int64)
    packed.sort()
    packed &= 0xFFFFFFFF
    return packed


def _migration(model, prm, rng, hs: _Households) -> tuple[float, float]:
    """Emigration of whole households and immigration of clones of drawn households.

    The preferences are computed for the eligible households only (living,
    non-empty, non-archetype); the members of the drawn households are found
    with one pass over the persons through a small per-household code.
    """
    p, h = model.persons, model.households
    hs.grow(h.n)
    size, oldest = hs.members, hs.oldest
    real = h.weight * size          # persons each household row stands for
    pop = float(real[h.alive].sum())
    hh_ok = h.alive & (size > 0)
    hh_ok[model.named_households] = False
    elig = np.flatnonzero(hh_ok)    # the same support for both draws
    r_elig = real[elig]
    old_e = oldest[elig]
    a0, a1 = prm["migrant_head_age"]
    young = (old_e >= a0) & (old_e <= a1)
    r0, r1 = prm["immigrant_retiree_age"]
    retirees = (old_e >= r0) & (old_e <= r1)
    k = np.float32(prm["migrant_age_preference"])
    r_mean = float(r_elig.mean())

    out_total = prm["gross_emigration_rate"] * pop
    in_total = out_total + prm["net_migration"]
    # immigrants: clones of households with young reference persons (drawn before emigration)
    donors = _draw(rng, in_total, elig, young | retirees, k, r_mean, r_elig, real)
    out_hh = _draw(rng, out_total, elig, young, k, r_mean, r_elig, real)
    # per household: bit 1 = emigrates, bit 2 = donor; per living person: the code of its household
    code = np.zeros(h.n, dtype=np.int8)
    code[out_hh] = 1
    code[donors] += 2
    # (a boolean per person first: gathering and scanning booleans is ~3x faster than int8 codes)
    drawn = np.flatnonzero((code != 0).take(p.hh))
    drawn = drawn[p.alive[drawn]]   # few rows: split them by code
    dc = code[p.hh[drawn]]
    leaving = drawn[(dc & 1) != 0]
    src = drawn[dc == 2]            # living members of donors (not those of a donor that also emigrates)
    emigrants = float(h.weight[p.hh[leaving]].sum())
    _leave(model, leaving, size)
    immigrants = 0.0
    if donors.size:
        new_rows = h.append(S.Households(**{k: v[donors] for k, v in h.arrays().items()}))
        h.alive[new_rows] = True
        h.years_waiting[new_rows] = 0.0
        remap = np.full(h.n, -1, dtype=np.int64)
        remap[donors] = new_rows
        clone = S.Persons(**{k: v[src] for k, v in p.arrays().items()})
        clone.hh = remap[p.hh[src]].astype(np.int32)
        # a donor drawn to emigrate too has no member left to clone: its new row is closed at once
        h.alive[new_rows] = np.bincount(clone.hh - new_rows[0], minlength=new_rows.size) > 0
        # newcomers arrive without a job in AMP: they search on the labour market
        working = clone.status == S.EMPLOYED
        clone.status[working] = S.UNEMPLOYED
        clone.job_pole[:] = -1
        clone.sector[:] = -1
        clone.mode[:] = S.NO_MODE
        clone.months_jobless[:] = 0
        clone.mentored[:] = 0
        clone.training[:] = 0
        p.append(clone)
        immigrants = float(h.weight[clone.hh].sum())
        model.on_new_households(new_rows, reason="immigration")
    return emigrants, immigrants
