"""Synthetic population of AMP from the eight persona segments.

Pipeline (each step vectorised over households or persons):

1. draw households from the persona segments (segment shares, household
   types, ages of the reference person, children, adult children);
2. draw each member's attributes from the segment's distributions
   (education, activity status, licence, income) and each household's
   cars, tenure, dwelling size and condition, and home pole (pole population
   x segment affinity for the pole's kind);
3. add the eight named personas as explicit rows (their booklet values);
4. rake household weights (simulator.calibration.rake) to the observed
   2017 marginals: pole populations, age bands, employment rate, youth
   joblessness, students, workforce without the bac, poor households,
   licences, car ownership and workers by sector;
5. give workers a job pole by a doubly-constrained gravity model on the
   free-flow car skim, per sector, so commute flows exist from year one.

`marginals_report` recomputes every marginal from the final arrays, which
is what `fabrique population` prints and the tests check.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import state as S
from .calibration import distinct_rows, rake
from .params import spec

POP_SPECS = {
    "age_band_edges": spec("yr", 0, 111, kind="list", length=9),
    "age_band_shares": spec("1", 0, 1, kind="list", length=8),
    "employment_rate_15_64": spec("1", 0.3, 0.95),
    "youth_jobless_rate": spec("1", 0, 0.8),
    "higher_ed_student_share": spec("1", 0, 0.3),
    "no_bac_share_workforce": spec("1", 0, 1),
    "poor_households": spec("households", 0, 2e6),
    "poverty_line_eur_cu": spec("EUR/month/CU", 300, 3000),
    "licence_share_adults": spec("1", 0, 1),
    "car_household_share": spec("1", 0, 1),
    "outside_workers_share": spec("1", 0, 0.5),
    "job_vacancy_share": spec("1", 0, 0.3),
    "oldest_age_decay": spec("1/yr", 0, 2),
    "student_share_by_age": spec("1", 0, 1, kind="list", length=3),
    "pupil_out_of_school_share": spec("1", 0, 0.5),
    "income_unemployed": spec("EUR/month", 0, 5000),
    "income_inactive": spec("EUR/month", 0, 5000),
    "income_student": spec("EUR/month", 0, 5000),
    "pension_median": spec("EUR/month", 200, 10000),
    "pension_sigma": spec("1", 0, 2),
    "gravity_beta_per_min": spec("1/min", 0, 1),
    "weight_bounds": spec("1", 0.01, 100, kind="list", length=2),
    "mean_household_size": spec("persons/household", 1, 5),
    "tolerance_rate_pp": spec("pp", 0, 10),
    "tolerance_count_rel": spec("1", 0, 0.5),
}

ROLE_HEAD, ROLE_PARTNER, ROLE_CHILD, ROLE_OTHER = 0, 1, 2, 3
OUTSIDE_AMP = -2  # job_pole of residents working outside the metropolis


@dataclass
class Synthesis:
    persons: S.Persons
    households: S.Households
    named: dict[str, int]          # persona id -> person row
    rake_iterations: int
    rake_max_rel_error: float


# ------------------------------------------------------------------ helpers
def _choice_by_group(rng: np.random.Generator, groups: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """For each row with group g, draw an index with probabilities probs[g]."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(groups.size)
    # the cumulative rows, each offset by its group index (values of group g lie in [g, g + 1]), so
    # that one comparison with g + u per row draws from its group's row: no n x k matrix
    g = np.asarray(groups, dtype=np.int64)
    k = cum.shape[1]
    shifted = cum + np.arange(cum.shape[0])[:, None]
    x = g + u
    if np.isfinite(shifted).all():
        # the index is the number of entries of the row below g + u (what a binary search in the
        # concatenated rows returns), counted one column at a time: a few passes over the rows, much
        # faster than numpy's binary search for unsorted keys; the last entry (g + 1) is never below
        out = np.zeros(groups.size, dtype=np.int64)
        for j in range(k - 1):
            out += shifted[:, j].take(g) < x
    else:   # a group with no weight (NaN rows): the binary search in the concatenated rows, as always done
        out = np.searchsorted(shifted.ravel(), x, side="left") - g * k
    return np.clip(out, 0, probs.shape[1] - 1)


def _dist(seg: dict, key: str, names: tuple[str, ...]) -> np.ndarray:
    d = seg[key]
    return np.array([float(d.get(n, 0.0)) for n in names])


def _poor(income: np.ndarray, hh: np.ndarray, age: np.ndarray, n_hh: int, line: float,
          alive: np.ndarray | None = None) -> np.ndarray:
    """Household below the poverty line (OECD-modified consumption units)."""
    if alive is not None:                       # (index arrays: faster than boolean masks, same rows in order)
        live = np.flatnonzero(alive)
        income, hh, age = income[live], hh[live], age[live]
    inc = np.bincount(hh, weights=income, minlength=n_hh)
    members = np.bincount(hh, minlength=n_hh)
    adults = np.bincount(hh[np.flatnonzero(age >= 14)], minlength=n_hh)
    kids = members - adults                     # the members under 14
    cu = S.consumption_units(adults, kids)
    return (inc / cu < line) & ((adults + kids) > 0)


# ------------------------------------------------------------------ synthesis
def synthesize(territory, personas, params: dict[str, Any], scale: float,
               rng: np.random.Generator, car_time_min: np.ndarray | None = None) -> Synthesis:
    P = params
    seg_ids = [p.id for p in personas]
    segs = [p.segment for p in personas]
    n_seg = len(segs)
    n_poles = len(territory.ids)
    pop_total = float(territory.population.sum())

    # 1. households ----------------------------------------------------------
    n_hh = max(200, int(round(pop_total * scale / P["mean_household_size"])))
    shares = np.array([s["share_households"] for s in segs])
    seg = rng.choice(n_seg, size=n_hh, p=shares / shares.sum()).astype(np.int8)
    hh_type = _choice_by_group(rng, seg, np.array([_dist(s, "hh_type", S.HH_TYPE) for s in segs]))
    age_lo = np.array([s["head_age"][0] for s in segs])
    age_hi = np.array([s["head_age"][1] for s in segs])
    head_age = rng.integers(age_lo[seg], age_hi[seg] + 1)
    for _ in range(30):  # thin out the oldest ages (survival-shaped prior above 85), every head above 85 each round
        old = np.flatnonzero(head_age > 85)
        reject = old[rng.random(old.size) > np.exp(-P["oldest_age_decay"] * (head_age[old] - 85))]
        if reject.size == 0:
            break
        head_age[reject] = rng.integers(age_lo[seg[reject]], age_hi[seg[reject]] + 1)

    n_adults = np.array([1, 2, 2, 1, 0])[hh_type]      # by type; "other" households: 2 or 3 adults
    other = np.flatnonzero(hh_type == 4)
    n_adults[other] = 2 + (rng.random(other.size) < 0.4)
    has_kids = (hh_type == 2) | (hh_type == 3)
    kids_mean = np.array([s["children_mean"] for s in segs])[seg]
    n_kids = np.where(has_kids, 1 + rng.poisson(np.maximum(kids_mean - 1.0, 0.0)), 0)
    adult_child = has_kids & (rng.random(n_hh) < np.array([s["adult_child_share"] for s in segs])[seg]) \
        & (head_age >= 38)
    size = n_adults + n_kids

    # 2. persons --------------------------------------------------------------
    # (rows are selected with index arrays rather than boolean masks: same rows, same order, and several
    # times faster in numpy for masks of medium density; household values are repeated, not gathered)
    hh = np.repeat(np.arange(n_hh), size)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    pos = np.arange(hh.size) - start[hh]
    n_adults_p = np.repeat(n_adults, size)
    hh_type_p = np.repeat(hh_type, size)
    role = np.where(pos == 0, ROLE_HEAD,
                    np.where(pos < n_adults_p,
                             np.where((hh_type_p == 1) | (hh_type_p == 2), ROLE_PARTNER, ROLE_OTHER),
                             ROLE_CHILD))
    n = hh.size
    ha = np.repeat(head_age, size)
    age = ha.astype(np.float64)
    partner = np.flatnonzero(role == ROLE_PARTNER)
    age[partner] = ha[partner] + np.round(rng.normal(-2, 3, partner.size))
    oth = np.flatnonzero(role == ROLE_OTHER)
    age[oth] = ha[oth] + np.round(rng.normal(0, 6, oth.size))
    is_child = role == ROLE_CHILD
    child = np.flatnonzero(is_child)
    gap = rng.uniform(20, 40, child.size)
    ha_child = ha[child]
    cage = ha_child - gap
    too_old = np.flatnonzero((cage > 17) | (cage < 0))  # children of older parents: any age of childhood
    cage[too_old] = rng.uniform(0, np.clip(ha_child[too_old] - 18, 0, 17.99))
    age[child] = cage
    ac = np.flatnonzero(is_child & (pos == n_adults_p) & np.repeat(adult_child, size))   # first child
    age[ac] = rng.integers(18, 30, ac.size)
    age = np.where(is_child, age, np.clip(age, 18, 100))
    age = np.clip(np.round(age), 0, 100).astype(np.int16)

    sex = (rng.random(n) < 0.5).astype(np.int8)  # 1 = male
    sp_head = start[np.flatnonzero(hh_type == 3)]   # heads of single-parent households
    sex[sp_head] = (rng.random(sp_head.size) < 0.15).astype(np.int8)
    heads_sex = sex[start]
    sex[partner] = 1 - heads_sex[hh[partner]]

    pseg = np.repeat(seg, size)
    edu_p = np.array([_dist(s, "edu", S.EDU) for s in segs])
    edu = _choice_by_group(rng, pseg, edu_p).astype(np.int8)
    edu[np.flatnonzero(age < 18)] = S.EDU_NO_BAC

    status = np.full(n, S.CHILD, dtype=np.int8)
    pupil_out = (age >= 15) & (age < 18) & (rng.random(n) < P["pupil_out_of_school_share"])
    ssa = P["student_share_by_age"]
    by_age = np.zeros(101)                          # student share by age (ages are 0-100 here)
    by_age[18:21], by_age[21:25], by_age[25:30] = ssa[0], ssa[1], ssa[2]
    st_by_age = by_age[age]
    st_by_age *= np.clip(edu_p[:, 2] / 0.3, 0.3, 2.5)[pseg]     # segments with more graduates: more students
    is_student = (age >= 18) & (rng.random(n) < np.clip(st_by_age, 0, 0.95))
    student = np.flatnonzero(is_student)
    status[student] = S.STUDENT
    edu[student] = S.EDU_BAC
    working_age = ((age >= 18) | pupil_out) & (age <= 64) & ~is_student
    emp_p = np.array([s["employment"] for s in segs])[pseg]
    emp_p = np.where(age < 25, emp_p * 0.75, emp_p)
    emp_p = np.where(age >= 60, emp_p * 0.6, emp_p)
    u = rng.random(n)
    status[np.flatnonzero(working_age & (u < emp_p))] = S.EMPLOYED
    jobless = np.flatnonzero(working_age & (u >= emp_p))
    status[jobless] = np.where(rng.random(jobless.size) < 0.6, S.UNEMPLOYED, S.INACTIVE)
    early_ret = (age >= 60) & (age <= 64) & (status != S.EMPLOYED) & (rng.random(n) < 0.7)
    status[np.flatnonzero(early_ret)] = S.RETIRED
    old = np.flatnonzero(age >= 65)
    status[old] = np.where(rng.random(old.size) < 0.03, S.EMPLOYED, S.RETIRED)
    edu[np.flatnonzero((age < 25) & (edu == S.EDU_HIGHER) & ~is_student)] = S.EDU_BAC

    lic_p = np.array([s["licence"] for s in segs])[pseg] * np.where(age >= 80, 0.6, 1.0)
    licence = (age >= 18) & (rng.random(n) < lic_p)

    skill = edu.copy()  # low / mid / high skill follows the diploma
    sector = np.full(n, -1, dtype=np.int8)

    income = np.zeros(n, dtype=np.float64)
    emp = np.flatnonzero(status == S.EMPLOYED)
    med = np.array([s["income_median"] for s in segs])[pseg[emp]] * np.array([0.85, 1.0, 1.35])[skill[emp]]
    sig = np.array([s["income_sigma"] for s in segs])[pseg[emp]]
    income[emp] = np.exp(np.log(med) + sig * rng.standard_normal(emp.size))
    income[np.flatnonzero(status == S.UNEMPLOYED)] = P["income_unemployed"]
    inactive = np.flatnonzero(status == S.INACTIVE)
    income[inactive] = np.where(age[inactive] >= 18, P["income_inactive"], 0.0)
    income[np.flatnonzero(status == S.STUDENT)] = P["income_student"]
    ret = np.flatnonzero(status == S.RETIRED)
    income[ret] = np.exp(np.log(P["pension_median"]) + P["pension_sigma"] * rng.standard_normal(ret.size))

    # household attributes
    cars = _choice_by_group(rng, seg, np.array([[s["cars"].get(str(k), 0.0) for k in (0, 1, 2)] for s in segs]))
    lic_adults = np.bincount(hh[np.flatnonzero(licence)], minlength=n_hh)
    cars = np.minimum(cars, lic_adults).astype(np.int8)
    tenure = _choice_by_group(rng, seg, np.array([_dist(s, "tenure", S.TENURE[:3]) for s in segs])).astype(np.int8)
    condition = _choice_by_group(rng, seg, np.array([_dist(s, "condition", S.CONDITION) for s in segs])).astype(np.int8)
    size_class = np.where(size >= 3, 1, np.where(size == 2, (rng.random(n_hh) < 0.6), (rng.random(n_hh) < 0.25)))
    aff = np.array([[s["pole_affinity"].get(k, 1.0) for k in territory.kind] for s in segs])
    pole_p = aff * territory.population[None, :]
    pole = _choice_by_group(rng, seg, pole_p).astype(np.int16)
    income[emp] *= territory.income_index[pole[hh[emp]]]

    persons = S.Persons(age=age, sex=sex, hh=hh.astype(np.intp), segment=pseg.astype(np.int8),
                        edu=edu, status=status, licence=licence, income=income.astype(np.float32),
                        alive=np.ones(n, dtype=bool), sector=sector, skill=skill.astype(np.int8))
    households = S.Households(pole=pole, weight=np.ones(n_hh), segment=seg, hh_type=hh_type.astype(np.int8),
                              car=cars, tenure=tenure, size_class=size_class.astype(np.int8),
                              condition=condition, housing_cost=np.zeros(n_hh, np.float32),
                              energy_cost=np.zeros(n_hh, np.float32))

    # 3. the eight named personas --------------------------------------------
    named = _add_named(persons, households, personas, territory, seg_ids, rng, P)

    # outside-AMP workers and design weights
    emp = persons.status == S.EMPLOYED
    outside = emp & (rng.random(persons.n) < P["outside_workers_share"])
    outside[list(named.values())] = False
    persons.job_pole[np.flatnonzero(outside)] = OUTSIDE_AMP
    d = np.full(households.n, pop_total / persons.n)

    # 4. raking ---------------------------------------------------------------
    # Households with equal contributions to every marginal get the same weight ratio, so the
    # raking runs on the distinct rows of a compact matrix (pole, size, other marginals), expanded
    # to the full one-column-per-pole matrix only for those rows (much less memory at full scale).
    Ac, t, sc = _constraints(persons, households, territory, P, compact=True)
    first, inverse = distinct_rows(Ac)
    d_u = np.bincount(inverse, weights=d, minlength=first.size)
    res = rake(_expand(Ac[first], n_poles), t, d_u, bounds=tuple(P["weight_bounds"]), scale=sc,
               distinct=True)     # rows of Ac[first] are distinct, and so are their expansions
    households.weight = d * (res.weights / d_u)[inverse]
    del Ac
    assign_sectors(persons, households, territory, segs, P, rng, named)

    # 5. job poles -------------------------------------------------------------
    if car_time_min is None:
        car_time_min = territory.road_skim()[0]
    assign_job_poles(persons, households, territory, car_time_min, P, rng, named)
    return Synthesis(persons, households, named, res.iterations, res.max_rel_error)


def _add_named(persons: S.Persons, households: S.Households, personas, territory, seg_ids, rng, P) -> dict[str, int]:
    """Append the eight named personas (and their household members) as rows."""
    named: dict[str, int] = {}
    done: set[str] = set()
    new_hs: list[S.Households] = []
    new_ps: list[S.Persons] = []
    for p in personas:
        if p.id in done:
            continue
        members = [p] + [q for q in personas if q.id in getattr(p, "household_with", [])]
        done.update(m.id for m in members)
        a = p.agent
        rows: list[dict] = []
        for m in members:
            ma = m.agent
            rows.append(dict(id=m.id, age=ma["age"], sex=S.SEX.index(ma["sex"]), edu=S.EDU.index(ma["edu"]),
                             status=S.STATUS.index(ma["status"]), licence=bool(ma["licence"]),
                             income=float(ma["income_eur_month"]),
                             sector=-1 if ma["sector"] in (None, "none") else S.SECTORS.index(ma["sector"]),
                             segment=seg_ids.index(m.id)))
        for om in a.get("other_members", []):
            st = S.STATUS.index(om.get("status", "child"))
            age = int(om["age"])
            seg_i = seg_ids.index(p.id)
            edu = S.EDU.index(om["edu"]) if "edu" in om else (S.EDU_NO_BAC if age < 18 else S.EDU_BAC)
            inc = float(om["income_eur_month"]) if "income_eur_month" in om else {
                S.EMPLOYED: p.segment["income_median"], S.UNEMPLOYED: P["income_unemployed"],
                S.INACTIVE: P["income_inactive"] if age >= 18 else 0.0, S.STUDENT: P["income_student"],
                S.RETIRED: P["pension_median"]}.get(st, 0.0)
            sector = om.get("sector")
            rows.append(dict(id=None, age=age, sex=S.SEX.index(om.get("sex", "female")), edu=edu, status=st,
                             licence=bool(om.get("licence", age >= 18 and p.segment["licence"] >= 0.5)),
                             income=inc, segment=seg_i,
                             sector=(S.SECTORS.index(sector) if sector not in (None, "none") else
                                     (S.SECTORS.index(max(p.segment["sectors"], key=p.segment["sectors"].get))
                                      if st == S.EMPLOYED else -1))))
        h_row = households.n + len(new_hs)
        new_h = S.Households(
            pole=np.array([territory.index[a["home_pole"]]], np.int16), weight=np.ones(1),
            segment=np.array([seg_ids.index(p.id)], np.int8),
            hh_type=np.array([S.HH_TYPE.index(a["hh_type"])], np.int8),
            car=np.array([int(a["cars"])], np.int8), tenure=np.array([S.TENURE.index(a["tenure"])], np.int8),
            size_class=np.array([1 if len(rows) >= 3 or a["hh_type"] != "single" else 0], np.int8),
            condition=np.array([S.CONDITION.index(a["condition"])], np.int8),
            housing_cost=np.zeros(1, np.float32), energy_cost=np.zeros(1, np.float32))
        new_hs.append(new_h)
        k = len(rows)
        new_p = S.Persons(
            age=np.array([r["age"] for r in rows], np.int16), sex=np.array([r["sex"] for r in rows], np.int8),
            hh=np.full(k, h_row, np.intp), segment=np.array([r["segment"] for r in rows], np.int8),
            edu=np.array([r["edu"] for r in rows], np.int8), status=np.array([r["status"] for r in rows], np.int8),
            licence=np.array([r["licence"] for r in rows], bool),
            income=np.array([r["income"] for r in rows], np.float32), alive=np.ones(k, bool),
            sector=np.array([r["sector"] for r in rows], np.int8),
            skill=np.array([r["edu"] for r in rows], np.int8))
        first = persons.n + sum(x.n for x in new_ps)
        new_ps.append(new_p)
        for i, r in enumerate(rows):
            if r["id"]:
                named[r["id"]] = first + i
    # one append of all the named households and persons (each append copies every column)
    if new_hs:
        households.append(S.Households(**{f: np.concatenate([getattr(x, f) for x in new_hs])
                                          for f in households.arrays()}))
        persons.append(S.Persons(**{f: np.concatenate([getattr(x, f) for x in new_ps]) for f in persons.arrays()}))
    return named


def _age_masks(age: np.ndarray, edges) -> list[np.ndarray]:
    return [(age >= edges[i]) & (age < edges[i + 1]) for i in range(len(edges) - 1)]


def _expand(Ac: np.ndarray, n_poles: int) -> np.ndarray:
    """Full constraint rows from compact ones: column 0 pole, column 1 size -> one column per pole."""
    A = np.zeros((Ac.shape[0], n_poles + Ac.shape[1] - 2))
    A[np.arange(Ac.shape[0]), Ac[:, 0].astype(np.int64)] = Ac[:, 1]
    A[:, n_poles:] = Ac[:, 2:]
    return A


def _constraints(p: S.Persons, h: S.Households, terr, P,
                 compact: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constraint matrix (households x marginals), targets and scales.

    The first ``n_poles`` columns are the household's persons in its own
    pole (0 elsewhere); with ``compact`` they are given as two columns (pole,
    persons) instead (see ``_expand``).
    """
    nh = h.n
    pop_total = float(terr.population.sum())
    targets, scales = [], []
    edges, shares = P["age_band_edges"], P["age_band_shares"]
    nb = len(edges) - 1
    n_bands = min(nb, len(shares)) - 1                  # the last band follows from the others
    # Column-major, filled column by column as each is computed (no list of columns held besides it:
    # the fresh memory of a full-scale synthesis is what costs most on some machines)
    Ac = np.empty((nh, 2 + n_bands + 8), order="F")
    hh = p.hh.astype(np.intp)

    def count(mask: np.ndarray) -> np.ndarray:
        """Persons per household among the rows of ``mask`` (selected by index: faster than by mask)."""
        return np.bincount(hh[np.flatnonzero(mask)], minlength=nh).astype(np.float64)

    Ac[:, 0] = h.pole
    Ac[:, 1] = count(p.alive)
    for j in range(len(terr.ids)):
        targets.append(terr.population[j]); scales.append(terr.population[j])
    # persons per household in each age band (edges[b] <= age < edges[b + 1], as _age_masks), the band
    # of each person read from a table over ages
    band_of_age = np.searchsorted(np.asarray(edges), np.arange(int(p.age.max()) + 1 if p.n else 1),
                                  side="right") - 1
    band = np.where((band_of_age >= 0) & (band_of_age < nb), band_of_age, -1).astype(np.int8)[p.age]
    for b in range(n_bands):
        Ac[:, 2 + b] = count(band == b)
        targets.append(shares[b] * pop_total); scales.append(shares[b] * pop_total)
    del band
    j = 2 + n_bands
    a1564 = (p.age >= 15) & (p.age <= 64)
    emp = p.status == S.EMPLOYED
    Ac[:, j] = count(a1564 & emp) - P["employment_rate_15_64"] * count(a1564)
    targets.append(0.0); scales.append(pop_total * 0.6)
    y = (p.age >= 15) & (p.age <= 24) & (p.status != S.STUDENT) & ~((p.status == S.CHILD))
    Ac[:, j + 1] = count(y & ~emp) - P["youth_jobless_rate"] * count(y)
    targets.append(0.0); scales.append(pop_total * 0.05)
    Ac[:, j + 2] = count(p.status == S.STUDENT)
    t = P["higher_ed_student_share"] * pop_total
    targets.append(t); scales.append(t)
    active = emp | (p.status == S.UNEMPLOYED)
    Ac[:, j + 3] = count(active & (p.edu == S.EDU_NO_BAC)) - P["no_bac_share_workforce"] * count(active)
    targets.append(0.0); scales.append(pop_total * 0.4)
    Ac[:, j + 4] = _poor(p.income, p.hh, p.age, nh, P["poverty_line_eur_cu"])
    targets.append(P["poor_households"]); scales.append(P["poor_households"])
    adults = p.age >= 18
    Ac[:, j + 5] = count(adults & p.licence) - P["licence_share_adults"] * count(adults)
    targets.append(0.0); scales.append(pop_total * 0.7)
    Ac[:, j + 6] = (h.car > 0).astype(np.float64) - P["car_household_share"]
    targets.append(0.0); scales.append(pop_total / 2.2)
    inside = emp & (p.job_pole != OUTSIDE_AMP)
    t_in = terr.jobs.sum() * (1 - P["job_vacancy_share"])
    Ac[:, j + 7] = count(inside)
    targets.append(t_in); scales.append(t_in)
    return (Ac if compact else _expand(Ac, len(terr.ids))), np.array(targets), np.array(scales)


def assign_sectors(p: S.Persons, h: S.Households, terr, segs, P, rng, named) -> None:
    """Sector of each worker: segment priors fitted (IPF) to AMP's jobs by sector.

    The (segment x sector) matrix of weighted workers starts from each
    segment's sector mix and is balanced so that its rows keep each
    segment's workers and its columns match the jobs by sector of the
    territory (scaled to the workers); each worker then draws a sector from
    its segment's fitted row. The named personas keep their card sectors.
    """
    emp = p.alive & (p.status == S.EMPLOYED)
    keep = np.zeros(p.n, dtype=bool)
    keep[list(named.values())] = True
    named_hh = np.zeros(h.n, dtype=bool)               # the named personas' households
    named_hh[p.hh[list(named.values())]] = True
    keep |= named_hh[p.hh] & (p.sector >= 0)
    todo = np.flatnonzero(emp & ~keep & (p.job_pole != OUTSIDE_AMP))
    n_seg = len(segs)
    prior = np.array([_dist(s, "sectors", S.SECTORS) for s in segs]) + 1e-6
    rows = np.bincount(p.segment[todo], weights=h.weight[p.hh[todo]], minlength=n_seg)
    cols = terr.jobs.sum(axis=0).astype(np.float64)
    cols *= rows.sum() / cols.sum()
    T = prior * rows[:, None]
    for _ in range(200):
        T *= (rows / np.maximum(T.sum(1), 1e-12))[:, None]
        T *= (cols / np.maximum(T.sum(0), 1e-12))[None, :]
    idx = np.flatnonzero(emp & ~keep)          # the fitted workers and those working outside AMP
    p.sector[idx] = _choice_by_group(rng, p.segment[idx].astype(np.int64), T + 1e-12).astype(np.int8)


def assign_job_poles(p: S.Persons, h: S.Households, terr, car_time: np.ndarray, P, rng, named) -> None:
    """Doubly-constrained gravity (Furness) per sector, then sampling and repair.

    Filled jobs never exceed job positions: after sampling, workers in
    over-full (pole, sector) cells move to the nearest cell with room, in
    their sector first, then in another sector at the same or the nearest
    pole (a worker is one agent of real weight w, so leftover room smaller
    than w cannot take a whole agent).
    """
    n_poles = len(terr.ids)
    w = h.weight[p.hh]
    inside = np.flatnonzero(p.alive & (p.status == S.EMPLOYED) & (p.job_pole != OUTSIDE_AMP))
    # the workers' sector, home pole and weight, selected once (then by sector among them, in row order)
    sec_in, home_in, w_in = p.sector[inside], h.pole[p.hh[inside]], w[inside]
    deter = np.exp(-P["gravity_beta_per_min"] * car_time)
    cap = terr.jobs  # positions, real units
    for s in range(len(S.SECTORS)):
        sel = np.flatnonzero(sec_in == s)
        if sel.size == 0:
            continue
        home = home_in[sel]
        rows = np.bincount(home, weights=w_in[sel], minlength=n_poles)
        cols = cap[:, s] * (rows.sum() / max(cap[:, s].sum(), 1e-9))
        T = deter * np.outer(rows, cols)
        for _ in range(60):
            T *= (rows / np.maximum(T.sum(1), 1e-12))[:, None]
            T *= (cols / np.maximum(T.sum(0), 1e-12))[None, :]
        p.job_pole[inside[sel]] = _choice_by_group(rng, home, T + 1e-12).astype(np.int16)
    repair_job_capacity(p, w, inside, cap, car_time, rng)


def repair_job_capacity(p: S.Persons, w: np.ndarray, idx: np.ndarray, cap: np.ndarray,
                        car_time: np.ndarray, rng) -> None:
    """Move workers out of over-full (pole, sector) cells; see assign_job_poles."""
    n_poles, n_sec = cap.shape
    cell = p.job_pole[idx].astype(np.int64) * n_sec + p.sector[idx]
    filled = np.bincount(cell, weights=w[idx], minlength=n_poles * n_sec).reshape(n_poles, n_sec)
    over = np.argwhere(filled > cap + 1e-6)
    for j, s in over:       # (workers only leave an over-full cell while it is processed: the start cells hold)
        here = idx[cell == j * n_sec + s]
        here = here[rng.permutation(here.size)]
        for i in here:
            if filled[j, s] <= cap[j, s] + 1e-6:
                break
            wi = w[i]
            room = cap - filled
            placed = False
            for k in np.argsort(car_time[j], kind="stable"):
                if room[k, s] >= wi:
                    tgt = (k, s)
                elif room[k].max() >= wi:
                    tgt = (k, int(np.argmax(room[k])))
                else:
                    continue
                filled[j, s] -= wi
                filled[tgt] += wi
                p.job_pole[i], p.sector[i] = tgt
                placed = True
                break
            if not placed:  # no room anywhere: the worker becomes a job seeker
                filled[j, s] -= wi
                p.status[i] = S.UNEMPLOYED
                p.job_pole[i] = -1
                p.sector[i] = -1


# ------------------------------------------------------------------ report
def marginals_report(p: S.Persons, h: S.Households, terr, P) -> list[dict[str, Any]]:
    """Target vs achieved for every calibrated marginal, from the final arrays."""
    w = h.weight[p.hh] * p.alive
    hw = h.weight * h.alive
    pop = w.sum()
    tol_pp = P["tolerance_rate_pp"] / 100
    tol_rel = P["tolerance_count_rel"]
    out: list[dict[str, Any]] = []

    def rate(name, target, num_mask, den_mask, unit="share"):
        den = w[den_mask].sum()
        ach = w[num_mask & den_mask].sum() / den if den > 0 else float("nan")
        out.append(dict(marginal=name, unit=unit, target=float(target), achieved=float(ach),
                        tolerance=tol_pp, ok=bool(abs(ach - target) <= tol_pp)))

    def count(name, target, achieved, unit):
        out.append(dict(marginal=name, unit=unit, target=float(target), achieved=float(achieved),
                        tolerance=tol_rel, ok=bool(abs(achieved - target) <= tol_rel * target)))

    count("population", terr.population.sum(), pop, "persons")
    for j, pid in enumerate(terr.ids):
        count(f"population pole={pid}", terr.population[j], w[h.pole[p.hh] == j].sum(), "persons")
    alive = p.alive
    rate("share aged under 25", P["age_band_shares"][0] + P["age_band_shares"][1], p.age < 25, alive)
    rate("share aged 60+", sum(s for s, lo in zip(P["age_band_shares"], P["age_band_edges"]) if lo >= 60),
         p.age >= 60, alive)
    for m, share, lo, hi in zip(_age_masks(p.age, P["age_band_edges"]), P["age_band_shares"],
                                P["age_band_edges"][:-1], P["age_band_edges"][1:]):
        rate(f"share aged {int(lo)}-{int(hi) - 1}", share, m, alive)
    a1564 = alive & (p.age >= 15) & (p.age <= 64)
    emp = p.status == S.EMPLOYED
    rate("employment rate 15-64", P["employment_rate_15_64"], emp, a1564)
    y = alive & (p.age >= 15) & (p.age <= 24) & (p.status != S.STUDENT) & (p.status != S.CHILD)
    rate("youth jobless rate 15-24 (non-students)", P["youth_jobless_rate"], ~emp, y)
    rate("higher-education students share", P["higher_ed_student_share"], p.status == S.STUDENT, alive)
    active = alive & (emp | (p.status == S.UNEMPLOYED))
    rate("workforce without the bac", P["no_bac_share_workforce"], p.edu == S.EDU_NO_BAC, active)
    poor = _poor(p.income, p.hh, p.age, h.n, P["poverty_line_eur_cu"], p.alive)
    count("households below the poverty line", P["poor_households"], hw[poor].sum(), "households")
    rate("adults with a driving licence", P["licence_share_adults"], p.licence, alive & (p.age >= 18))
    hh_alive = h.alive & (np.bincount(p.hh[alive], minlength=h.n) > 0)
    car_share = hw[hh_alive & (h.car > 0)].sum() / hw[hh_alive].sum()
    out.append(dict(marginal="households with a car", unit="share", target=P["car_household_share"],
                    achieved=float(car_share), tolerance=tol_pp,
                    ok=bool(abs(car_share - P["car_household_share"]) <= tol_pp)))
    inside = alive & emp & (p.job_pole >= 0)
    jobs_target = terr.jobs.sum() * (1 - P["job_vacancy_share"])
    count("jobs held by residents inside AMP", jobs_target, w[inside].sum(), "jobs")
    return out
