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


def _protected(model) -> np.ndarray:
    """Person mask of the named personas' households (archetypes)."""
    p, h = model.persons, model.households
    prot_h = np.zeros(h.n, dtype=bool)
    prot_h[model.named_households] = True
    return prot_h[p.hh]


def step(model) -> dict[str, float]:
    """Advance one year. Returns real-unit counts for the metrics."""
    prm: dict[str, Any] = model.params["demography"]
    rng: np.random.Generator = model.stream("demography")
    p, h = model.persons, model.households
    prot = _protected(model)

    # --- ageing
    ageing = p.alive & ~prot
    p.age[ageing] += 1

    # --- deaths (mortality by age from a table over ages, not a pass of exp over every row)
    alive = ageing
    ages = np.arange(int(p.age.max()) + 1 if p.n else 1, dtype=np.float64)
    qa = prm["mortality_makeham_c"] + np.exp(prm["mortality_log_a"] + prm["mortality_log_b"] * ages)
    qa = qa[None, :] * np.array([prm["mortality_female_factor"], prm["mortality_male_factor"]])[:, None]  # [sex, age]
    qa = np.minimum(np.where(ages <= 1, np.maximum(qa, prm["infant_mortality"]), qa), 1.0)
    r = rng.random(p.n)                                  # one draw per row, as ever; rates only for the living
    ai = np.flatnonzero(alive)
    q = qa[(p.sex[ai] == 1).astype(np.intp), np.maximum(p.age[ai], 0)]
    dies = np.zeros(p.n, dtype=bool)
    dies[ai[r[ai] < q]] = True
    deaths = float(h.weight[p.hh[dies]].sum())
    _leave(model, dies)

    # --- births (to living women 15-49 of non-protected households)
    alive = p.alive & ~prot
    women = alive & (p.sex == 0) & (p.age >= 15) & (p.age <= 49)
    wi = np.flatnonzero(women)
    r = rng.random(p.n)
    band = np.clip((p.age[wi] - 15) // 5, 0, 6)
    f = np.asarray(prm["fertility_by_age"])[band] * prm["fertility_factor"]
    mothers = wi[r[wi] < f]
    births = float(h.weight[p.hh[mothers]].sum())
    if mothers.size:
        k = mothers.size
        baby = S.Persons(
            age=np.zeros(k, np.int16), sex=(rng.random(k) < 0.512).astype(np.int8),  # 105 boys per 100 girls,
            hh=p.hh[mothers].copy(), segment=p.segment[mothers].copy(),
            edu=np.zeros(k, np.int8), status=np.full(k, S.CHILD, np.int8),
            licence=np.zeros(k, bool), income=np.zeros(k, np.float32), alive=np.ones(k, bool))
        p.append(baby)
        prot = np.concatenate([prot, np.zeros(k, bool)])

    # --- life-course transitions
    _transitions(model, prm, rng, prot)

    # --- young adults leaving the parental home
    left_home = _leave_home(model, prm, rng, prot)

    # --- migration
    emigrants, immigrants = _migration(model, prm, rng)
    return {"births": births, "deaths": deaths, "emigrants": emigrants, "immigrants": immigrants,
            "net_migration": immigrants - emigrants, "left_home": left_home}


def _leave(model, mask: np.ndarray) -> None:
    """Remove persons (death or emigration): free their job, close empty households."""
    p, h = model.persons, model.households
    p.alive[mask] = False
    p.job_pole[mask] = -1
    p.sector[mask] = -1
    p.mode[mask] = S.NO_MODE
    members = np.bincount(p.hh[p.alive], minlength=h.n)
    emptied = h.alive & (members == 0)
    h.alive[emptied] = False


def _transitions(model, prm, rng, prot) -> None:
    p = model.persons
    alive = p.alive & ~prot
    n = p.n
    u = rng.random(n)
    # school leavers at 18: higher education or the labour market
    leavers = alive & (p.status == S.CHILD) & (p.age >= 18)
    to_higher = leavers & (u < prm["higher_ed_entry_rate"])
    p.status[to_higher] = S.STUDENT
    p.income[to_higher] = model.params["population"]["income_student"]
    p.edu[to_higher] = S.EDU_BAC
    to_work = leavers & ~to_higher
    p.status[to_work] = S.UNEMPLOYED
    # students finish
    fr = np.asarray(prm["student_finish_rate"])
    stud = np.flatnonzero(alive & (p.status == S.STUDENT))     # the rates only for students (not every row)
    sa = p.age[stud]
    rate = np.where(sa <= 20, fr[0], np.where(sa <= 24, fr[1], fr[2]))
    rate = np.where(sa >= 30, 1.0, rate)
    finish = np.zeros(n, dtype=bool)
    finish[stud[u[stud] < rate]] = True
    p.edu[finish & (p.age >= 21)] = S.EDU_HIGHER
    p.skill[finish] = p.edu[finish]
    p.status[finish] = S.UNEMPLOYED
    # retirement
    r0, r1 = prm["retirement_age"]
    in_lf = alive & ((p.status == S.EMPLOYED) | (p.status == S.UNEMPLOYED) | (p.status == S.INACTIVE))
    u2 = rng.random(n)
    retire = in_lf & (((p.age >= r0) & (u2 < prm["retirement_rate"])) | (p.age >= r1))
    pension = model.params["population"]["pension_median"]
    floor = prm["minimum_pension_share"] * pension
    p.income[retire] = np.where(p.status[retire] == S.EMPLOYED,
                                np.maximum(prm["pension_replacement_rate"] * p.income[retire], floor), floor)
    p.status[retire] = S.RETIRED
    p.job_pole[retire] = -1
    p.sector[retire] = -1
    # new job seekers and the newly retired get the benefit / pension income
    new_seekers = to_work | finish
    p.income[new_seekers] = model.params["population"]["income_unemployed"] * prm["new_seeker_income_share"]


def _leave_home(model, prm, rng, prot) -> float:
    p, h = model.persons, model.households
    alive = p.alive
    oldest = np.zeros(h.n, dtype=np.int16)
    np.maximum.at(oldest, p.hh[alive], p.age[alive])
    cand = alive & ~prot & (p.age >= 18) & (p.age <= 29) & (oldest[p.hh] - p.age >= 16) \
        & (p.status != S.CHILD)
    movers = np.flatnonzero(cand & (rng.random(p.n) < prm["leave_home_rate"]))
    if movers.size == 0:
        return 0.0
    old_hh = p.hh[movers]
    k = movers.size
    new_h = S.Households(
        pole=h.pole[old_hh].copy(), weight=h.weight[old_hh].copy(), segment=p.segment[movers].copy(),
        hh_type=np.zeros(k, np.int8), car=np.zeros(k, np.int8),
        tenure=np.full(k, S.PRIVATE_RENT, np.int8), size_class=np.zeros(k, np.int8),
        condition=np.zeros(k, np.int8), housing_cost=np.zeros(k, np.float32),
        energy_cost=np.zeros(k, np.float32))
    rows = h.append(new_h)
    p.hh[movers] = rows.astype(np.int32)
    model.on_new_households(rows, reason="left_home")
    return float(h.weight[rows].sum())


def _migration(model, prm, rng) -> tuple[float, float]:
    p, h = model.persons, model.households
    prot_h = np.zeros(h.n, dtype=bool)
    prot_h[model.named_households] = True
    alive_p = p.alive
    pop = float(h.weight[p.hh[alive_p]].sum())
    size = np.bincount(p.hh[alive_p], minlength=h.n)
    oldest = np.zeros(h.n, dtype=np.int16)
    np.maximum.at(oldest, p.hh[alive_p], p.age[alive_p])
    a0, a1 = prm["migrant_head_age"]
    hh_ok = h.alive & (size > 0) & ~prot_h
    young = hh_ok & (oldest >= a0) & (oldest <= a1)
    r0, r1 = prm["immigrant_retiree_age"]
    retirees = hh_ok & (oldest >= r0) & (oldest <= r1)
    k = prm["migrant_age_preference"]
    pref_out = np.where(young, k, 1.0) * hh_ok
    pref_in = np.where(young | retirees, k, 1.0) * hh_ok

    def draw(target_persons: float, pref: np.ndarray) -> np.ndarray:
        if target_persons <= 0 or pref.sum() == 0:
            return np.zeros(0, dtype=np.int64)
        real = h.weight * size  # persons each household row stands for
        # expected draws: choose households with prob proportional to pref, without replacement
        order = np.flatnonzero(pref > 0)
        # Efraimidis-Spirakis weighted order without replacement, in its exponential form:
        # key = E / pref with E ~ Exp(1); the smallest keys come first (negated below)
        keys = -rng.standard_exponential(order.size) / pref[order]
        # only the head of the order is needed: partial sort of the largest keys, widened until
        # the persons they hold reach the target (same result as a full sort)
        r = real[order]
        top = min(order.size, max(1024, int(4 * target_persons / max(r.mean(), 1e-12))))
        while True:
            if top >= order.size:
                head = np.argsort(-keys)
            else:
                part = np.argpartition(-keys, top)[:top]
                head = part[np.argsort(-keys[part])]
            cum = np.cumsum(r[head])
            if top >= order.size or cum[-1] > target_persons:
                break
            top *= 2
        order = order[head]
        k = int(np.searchsorted(cum, target_persons))
        # stochastic rounding of the last household keeps the expectation exact
        if k < order.size:
            prev = cum[k - 1] if k > 0 else 0.0
            if rng.random() < (target_persons - prev) / max(real[order[k]], 1e-12):
                k += 1
        return order[:k]

    out_total = prm["gross_emigration_rate"] * pop
    in_total = out_total + prm["net_migration"]
    # immigrants: clones of households with young reference persons (drawn before emigration)
    donors = draw(in_total, pref_in)
    out_hh = draw(out_total, pref_out)
    out_mask = np.zeros(h.n, dtype=bool)
    out_mask[out_hh] = True
    leaving = out_mask[p.hh] & p.alive
    emigrants = float(h.weight[p.hh[leaving]].sum())
    _leave(model, leaving)
    immigrants = 0.0
    if donors.size:
        new_rows = h.append(S.Households(**{k: v[donors].copy() for k, v in h.arrays().items()}))
        h.alive[new_rows] = True
        h.years_waiting[new_rows] = 0.0
        remap = np.full(h.n, -1, dtype=np.int64)
        remap[donors] = new_rows
        src = np.flatnonzero((remap[p.hh] >= 0) & p.alive)
        clone = S.Persons(**{k: v[src].copy() for k, v in p.arrays().items()})
        clone.hh = remap[p.hh[src]].astype(np.int32)
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
