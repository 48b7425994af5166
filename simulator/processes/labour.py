"""Labour market: separations, search and matching, programmes, wages and benefits.

Each year, after demography (retirements, deaths, school leavers and
migrants, who arrive as job seekers) and economy (new positions):

1. programmes count down; finished training / second-chance courses raise
   skill levels (:mod:`labour_programmes`);
2. layoffs where the economy cut positions below the filled ones;
3. separations: hazard = rate(first year in the job or not) × sector × age
   × skill factors; the person becomes UNEMPLOYED (job_pole -1);
4. discouragement (long spells → INACTIVE) and reactivation;
5. programme entries (second chance, training, mentoring, mobility aids);
6. matching (:mod:`labour_matching`), with the job-finding hazard
   h = base × (θ/θ_ref)^α × f(age) × g(duration) × skill × (1 + mentoring)
   × childcare, θ = vacancies / seekers;
7. in-commuters (non-residents) separate and take part of the vacancies left;
8. durations, benefits and wages.

Per-person state of this process lives in ``model.labour`` (a
:class:`LabourState`, arrays sized to ``persons.n`` and grown with them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import metrics as M
from .. import state as S
from ..params import spec
from . import labour_matching as LM
from . import labour_programmes as LP
from .economy import N_LEVELS, resident_filled

SPECS = {
    # separations
    "separation_rate": spec("1/yr", 0, 1),
    "separation_rate_new_hire": spec("1/yr", 0, 1),
    "separation_sector_factor": spec("1", 0, 10, kind="table", choices=S.SECTORS),
    "separation_age_factor": spec("1", 0, 10, kind="list", length=3),
    "separation_skill_factor": spec("1", 0, 10, kind="list", length=3),
    "initial_new_hire_share": spec("1", 0, 1),
    "months_at_separation": spec("months", 0, 12),
    # search and matching
    "base_finding_hazard": spec("1/yr", 0, 20),
    "reference_tightness": spec("1", 1e-6, 100),
    "matching_elasticity": spec("1", 0, 1),
    "finding_age_factor": spec("1", 0, 10, kind="list", length=3),
    "finding_duration_factor": spec("1", 0, 10, kind="list", length=3),
    "finding_skill_factor": spec("1", 0, 10, kind="list", length=3),
    "skill_fit": spec("1", 0, 1, kind="list", length=9),
    "offers_per_seeker": spec("offers", 1, 20, kind="int"),
    "matching_rounds": spec("rounds", 1, 20, kind="int"),
    "candidate_time_decay": spec("1/min", 0, 1),
    "max_commute_min": spec("min", 1, 300),
    "max_commute_cost_share": spec("1", 0, 1),
    "outside_amp_hire_share": spec("1", 0, 0.5),
    "in_commuter_fill_rate": spec("1/yr", 0, 1),
    # wages and benefits
    "wage_by_level": spec("EUR/month", 0, 20_000, kind="list", length=3),
    "wage_sector_factor": spec("1", 0, 5, kind="table", choices=S.SECTORS),
    "wage_sigma": spec("1", 0, 2),
    "benefit_replacement_rate": spec("1", 0, 1.5),
    "benefit_duration_months": spec("months", 0, 120),
    "benefit_floor": spec("EUR/month", 0, 5000),
    # discouragement
    "discouraged_after_months": spec("months", 0, 240),
    "discouragement_rate": spec("1/yr", 0, 1),
    "reactivation_rate": spec("1/yr", 0, 1),
    # programmes
    "mentoring_capacity_per_year": spec("persons/yr", 0, 1e6),
    "mentoring_effect": spec("1", 0, 10),
    "mentoring_duration_years": spec("yr", 0.5, 10),
    "mentoring_age_range": spec("yr", 0, 100, kind="list", length=2),
    "mentoring_long_term_eligible": spec("1", kind="bool"),
    "mentoring_max_skill": spec("level", 0, 2, kind="int"),
    "training_capacity_per_year": spec("persons/yr", 0, 1e6),
    "training_duration_years": spec("yr", 0.5, 10),
    "training_completion_rate": spec("1", 0, 1),
    "training_skill_gain": spec("level", 0, 2, kind="int"),
    "training_age_range": spec("yr", 0, 100, kind="list", length=2),
    "training_priority": spec("1", kind="str", choices=("long_term_first", "random")),
    "second_chance_capacity_per_year": spec("persons/yr", 0, 1e6),
    "second_chance_duration_years": spec("yr", 0.5, 10),
    "second_chance_positive_rate": spec("1", 0, 1),
    "second_chance_age_range": spec("yr", 0, 100, kind="list", length=2),
    "mobility_aid_capacity_per_year": spec("persons/yr", 0, 1e6),
    "mobility_aid_duration_years": spec("yr", 0.5, 10),
    "mobility_aid_eur_month": spec("EUR/month", 0, 1000),
    "childcare_factor_single_parent": spec("1", 0, 1),
    "childcare_max_commute_factor": spec("1", 0, 1),
    "childcare_child_age": spec("yr", 0, 18),
    "childcare_places_per_year": spec("persons/yr", 0, 1e6),
    # initial state and targets
    "initial_mean_months_jobless": spec("months", 0, 240),
    "named_months_jobless": spec("months", 0, 600, kind="table"),
    "long_term_share_target": spec("1", 0, 1),
}


@dataclass
class LabourState:
    """Per-person arrays of the labour process (sized to persons.n)."""

    job_level: np.ndarray        # int8, skill level of the position held
    years_in_job: np.ndarray     # int16, years since hire (0 = hired this year)
    programme: np.ndarray        # int8, labour_programmes.PROGRAMMES index
    mobility_aid: np.ndarray     # int8, years of mobility aid left (0 = none)
    refused_transport: np.ndarray  # int16, candidate jobs refused for transport this year
    decay: np.ndarray            # [poles, poles] exp(-decay x free-flow car time)
    events: dict[str, float] = field(default_factory=dict)
    calib_2017: dict[str, float] = field(default_factory=dict)

    def ensure(self, n: int) -> None:
        if self.job_level.size >= n:
            return
        for name in ("job_level", "years_in_job", "programme", "mobility_aid", "refused_transport"):
            a = getattr(self, name)
            b = np.zeros(n, dtype=a.dtype)
            b[: a.size] = a
            setattr(self, name, b)


def _state(model) -> LabourState:
    st: LabourState = model.labour
    st.ensure(model.persons.n)
    return st


def _band(age: np.ndarray, edges=(25, 50)) -> np.ndarray:
    """Age band: number of edges <= age (0: below 25, 1: 25-49, 2: 50 and over)."""
    band = np.zeros(age.shape, dtype=np.int8)
    for e in edges:
        band += age >= e
    return band


def _dur_band(months: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array([12, 24]), months, side="right")


# ------------------------------------------------------------------ init
def init(model) -> None:
    prm = model.params["labour"]
    rng = model.stream("labour")
    p = model.persons
    n = p.n
    emp = p.alive & (p.status == S.EMPLOYED)
    years = np.where(rng.random(n) < prm["initial_new_hire_share"], 0, 1 + rng.integers(0, 20, n))
    car_t = model.territory.road_skim()[0]
    st = LabourState(job_level=np.where(emp, p.skill, 0).astype(np.int8),
                     years_in_job=np.where(emp, years, 0).astype(np.int16),
                     programme=np.zeros(n, np.int8), mobility_aid=np.zeros(n, np.int8),
                     refused_transport=np.zeros(n, np.int16),
                     decay=np.exp(-prm["candidate_time_decay"] * car_t))
    model.labour = st
    _publish_aid(model, st, prm)
    un = p.alive & (p.status == S.UNEMPLOYED)
    months = rng.exponential(prm["initial_mean_months_jobless"], n)
    p.months_jobless[un] = np.minimum(months[un], 600).astype(np.int16)
    for pid, m in prm["named_months_jobless"].items():
        if pid in model.named:
            p.months_jobless[model.named[pid]] = int(m)
    st.calib_2017 = _headline(model)


def on_new_households(model, rows, reason) -> None:
    _state(model)


def on_compact(model, keep_p, keep_h, pmap, hmap) -> None:
    """Per-person arrays follow the compaction of the person rows (see FabriqueModel.compact)."""
    st: LabourState = model.labour
    for name in ("job_level", "years_in_job", "programme", "mobility_aid", "refused_transport"):
        setattr(st, name, S.compact_rows(getattr(st, name), keep_p, 0))


# ------------------------------------------------------------------ step
def step(model) -> dict[str, float]:
    prm = model.params["labour"]
    rng = model.stream("labour")
    st = _state(model)
    p = model.persons
    ev: dict[str, float] = {}
    st.refused_transport[:] = 0
    # unemployed at the start of the year with no month of search yet (arrived this year). Masks over all
    # rows here and below: a comparison over 2 M int8 / bool rows costs ~0.2 ms, cheaper than gathering rows
    new_seeker = p.alive & (p.status == S.UNEMPLOYED) & (p.months_jobless == 0)

    ev.update(LP.advance(model, st, prm, rng))
    emp = p.alive & (p.status == S.EMPLOYED)                    # workers (after the programme exits)
    held = _positions_held(model, st, emp)
    sep = _layoffs(model, st, rng, held)
    ev["layoffs"] = float(S.person_weight(model.persons, model.households, sep).sum())
    sep2 = _separations(model, st, prm, rng, emp)
    ev["separations"] = float(S.person_weight(model.persons, model.households, sep2).sum())
    sep = np.concatenate([sep, sep2])
    _separate(model, st, prm, sep)
    separated = np.zeros(p.n, dtype=bool)
    separated[sep] = True
    # unemployed or inactive rows (after the separations): from here on nobody else becomes unemployed or
    # inactive this year, so the later selections (seekers, end-of-year durations) are made among these rows
    jl_any = np.flatnonzero((p.status == S.UNEMPLOYED) | (p.status == S.INACTIVE))
    # jobless persons in no programme: the discouragement moves some between unemployed and inactive, same set
    jobless = jl_any[p.alive[jl_any] & (st.programme[jl_any] == LP.NONE)]
    ev.update(_discouragement(model, st, prm, rng, jobless))
    ev.update(LP.enrol(model, st, prm, rng, separated, jobless=jobless))
    _publish_aid(model, st, prm)
    held = held.keep(~separated[held.rows])                     # positions still held after the separations
    ev.update(_matching(model, st, prm, rng, separated, _filled(model, held), jobless))
    ev.update(_in_commuters(model, prm))
    _durations_and_income(model, st, prm, separated, new_seeker, jl_any)
    st.events = ev
    return ev


@dataclass
class _Held:
    """Residents holding a position inside AMP: the terms of ``economy.resident_filled``.

    The same rows in the same order with the same cells and weights, so that
    :func:`_filled` gives the same positions as ``resident_filled`` and,
    after separations, recounts them from the rows still held without a
    pass over all persons. (After the hires, merging them in row order costs
    as much as ``resident_filled``, which is called instead.)
    """

    rows: np.ndarray      # person rows, ascending
    cell: np.ndarray      # flat (pole, sector, level) index
    w: np.ndarray         # real weight (household weight)
    all_inside: bool      # rows = every worker with a job pole inside AMP, cell = their unclipped cell

    def keep(self, mask: np.ndarray) -> "_Held":
        """The rows of ``mask`` only (e.g. those not separated)."""
        return _Held(self.rows[mask], self.cell[mask], self.w[mask], all_inside=False)


def _positions_held(model, st: LabourState, emp: np.ndarray) -> _Held:
    """:class:`_Held` of the workers ``emp`` (mask of living employed persons)."""
    p = model.persons
    n_sec = model.territory.jobs.shape[1]
    inside = emp & (p.job_pole >= 0)
    rows = np.flatnonzero(inside & (p.sector >= 0))
    lev = st.job_level[rows]
    clipped = rows.size == 0 or (lev.min() >= 0 and lev.max() <= 2)
    cell = (p.job_pole[rows].astype(np.int64) * n_sec + p.sector[rows]) * N_LEVELS \
        + (lev if clipped else np.clip(lev, 0, 2))
    all_inside = bool(clipped and rows.size == np.count_nonzero(inside))
    return _Held(rows, cell, S.person_weight(model.persons, model.households, rows), all_inside=all_inside)


def _filled(model, held: _Held) -> np.ndarray:
    """Positions held by residents [poles, sectors, 3], real units (as ``resident_filled``)."""
    shape = model.economy.positions.shape
    return np.bincount(held.cell, weights=held.w, minlength=int(np.prod(shape))).reshape(shape)


def _layoffs(model, st: LabourState, rng, held: _Held) -> np.ndarray:
    """Lay off residents of cells whose positions fell below the filled ones (in-commuters go first)."""
    eco = model.economy
    res = _filled(model, held)
    excess = np.maximum(res + eco.external - eco.positions, 0.0)
    cut_ext = np.minimum(excess, eco.external)
    eco.external -= cut_ext
    cap_res = np.maximum(eco.positions - eco.external, 0.0)
    over = res > cap_res + 1e-9 * np.maximum(cap_res, 1.0)
    if not over.any():
        return np.zeros(0, dtype=np.int64)
    p = model.persons
    n_sec = eco.positions.shape[1]
    if held.all_inside:
        idx, cell, w = held.rows, held.cell, held.w
    else:
        idx = np.flatnonzero(p.alive & (p.status == S.EMPLOYED) & (p.job_pole >= 0))
        cell = (p.job_pole[idx].astype(np.int64) * n_sec + p.sector[idx]) * N_LEVELS + st.job_level[idx]
        w = S.person_weight(model.persons, model.households, idx)
    inside = over.ravel()[cell]
    idx, cell = idx[inside], cell[inside]
    keep = LM.fill_within_cells(cell, rng.random(idx.size), w[inside], cap_res.ravel())
    return idx[~keep]


def _separations(model, st: LabourState, prm, rng, emp: np.ndarray) -> np.ndarray:
    """Workers (inside or outside AMP, up to 64) who leave their job this year.

    hazard = rate(new hire or not) x sector x age band x level factors, 1/yr,
    read from a [2, sectors, 3, 3] table of the products (the same products,
    computed once per combination rather than once per worker). ``emp``:
    mask of the living employed persons.
    """
    p = model.persons
    idx = np.flatnonzero(emp & (p.job_pole != -1) & (p.age <= 64))
    n_sec = len(S.SECTORS)
    base = np.array([prm["separation_rate"], prm["separation_rate_new_hire"]])
    sec = np.array([prm["separation_sector_factor"][s] for s in S.SECTORS])
    age_f = np.asarray(prm["separation_age_factor"], dtype=float)
    lev_f = np.asarray(prm["separation_skill_factor"], dtype=float)
    table = base[:, None, None, None] * sec[None, :, None, None] * age_f[None, None, :, None] * lev_f[None, None, None, :]
    # flat table index, in 16-bit integers (the table has 2 x sectors x 9 entries)
    cls = (st.years_in_job[idx] < 1).astype(np.int16) * np.int16(n_sec * 9)
    cls += np.clip(p.sector[idx], 0, n_sec - 1).astype(np.int16) * np.int16(9)
    cls += _band(p.age[idx]) * np.int8(3)
    cls += np.clip(st.job_level[idx], 0, 2)
    haz = np.minimum(table, 1.0).ravel()[cls]                  # capped at 1 in the table (same values)
    return idx[rng.random(idx.size) < haz]


def _separate(model, st: LabourState, prm, rows: np.ndarray) -> None:
    p = model.persons
    p.status[rows] = S.UNEMPLOYED
    p.job_pole[rows] = -1
    p.sector[rows] = -1
    p.mode[rows] = S.NO_MODE
    p.months_jobless[rows] = int(prm["months_at_separation"])
    p.income[rows] = np.maximum(prm["benefit_floor"], prm["benefit_replacement_rate"] * p.income[rows])
    st.years_in_job[rows] = 0
    st.job_level[rows] = 0


def _discouragement(model, st: LabourState, prm, rng, rows: np.ndarray) -> dict[str, float]:
    """Long-term unemployed become inactive (discouraged), inactive persons search again (reactivated).

    One uniform draw per person row (the same draws whoever is concerned); the
    tests run on ``rows`` only: the living persons in no programme, unemployed or inactive.
    """
    p = model.persons
    u = rng.random(p.n)
    status, u, age = p.status[rows], u[rows], p.age[rows]
    disc = rows[(status == S.UNEMPLOYED) & (p.months_jobless[rows] >= prm["discouraged_after_months"])
                & (p.mentored[rows] == 0) & (u < prm["discouragement_rate"])]
    react = rows[(status == S.INACTIVE) & (age >= 18) & (age <= 59) & (u < prm["reactivation_rate"])]
    p.status[disc] = S.INACTIVE
    p.income[disc] = np.minimum(p.income[disc], prm["benefit_floor"])
    p.status[react] = S.UNEMPLOYED
    return {"discouraged": float(S.person_weight(p, model.households, disc).sum()),
            "reactivated": float(S.person_weight(p, model.households, react).sum())}


def _publish_aid(model, st: LabourState, prm) -> None:
    """``model.mobility_aid_eur_month`` (read by the mobility process): transit aid of aided persons."""
    n = model.persons.n
    model.mobility_aid_eur_month = np.where(st.mobility_aid[:n] > 0, prm["mobility_aid_eur_month"], 0.0)


def childcare_constrained(model, rows: np.ndarray) -> np.ndarray:
    """Adults of single-parent households with a child below childcare_child_age (assumption: see docs)."""
    prm = model.params["labour"]
    p, h = model.persons, model.households
    young = p.alive & (p.age < prm["childcare_child_age"])
    has_young = np.zeros(h.n, dtype=bool)
    has_young[p.hh[young]] = True
    hh = p.hh[rows]
    return (h.hh_type[hh] == S.HH_TYPE.index("single_parent")) & has_young[hh] & (p.age[rows] >= 18)


def _seekers(model, blocked: np.ndarray, among: np.ndarray | None = None) -> np.ndarray:
    """Rows of the job seekers (living, unemployed, aged 15-64, in no programme) not ``blocked``, ascending.

    ``among``: ascending rows known to hold every seeker (e.g. this year's
    jobless rows in no programme after the separations), else all rows.
    """
    p, st = model.persons, model.labour
    un = np.flatnonzero(p.status == S.UNEMPLOYED) if among is None else among[p.status[among] == S.UNEMPLOYED]
    age = p.age[un]
    return un[p.alive[un] & (age >= 15) & (age <= 64) & (st.programme[un] == LP.NONE) & ~blocked[un]]


def _matching(model, st: LabourState, prm, rng, separated, filled, jobless=None) -> dict[str, float]:
    """Search and matching of this year's seekers; ``filled``: positions held by residents now.

    ``jobless``: ascending rows holding every seeker (see :func:`_seekers`).
    """
    p = model.persons
    eco = model.economy
    seekers = _seekers(model, separated, jobless)
    w_s = S.person_weight(model.persons, model.households, seekers)
    vac = np.maximum(eco.positions - filled - eco.external, 0.0)
    u_w = float(w_s.sum())
    theta = vac.sum() / max(u_w, 1e-9)
    age_f = np.asarray(prm["finding_age_factor"])[_band(p.age[seekers])]
    dur_f = np.asarray(prm["finding_duration_factor"])[_dur_band(p.months_jobless[seekers])]
    sk_f = np.asarray(prm["finding_skill_factor"])[np.clip(p.skill[seekers], 0, 2)]
    ment = 1.0 + prm["mentoring_effect"] * (p.mentored[seekers] > 0)
    constrained = childcare_constrained(model, seekers)
    cidx = np.flatnonzero(constrained)
    placed = LP.select(rng, cidx, w_s[cidx], prm["childcare_places_per_year"])
    constrained[placed] = False
    care = np.where(constrained, prm["childcare_factor_single_parent"], 1.0)
    hazard = prm["base_finding_hazard"] * (theta / prm["reference_tightness"]) ** prm["matching_elasticity"] \
        * age_f * dur_f * sk_f * ment * care
    max_t = prm["max_commute_min"] * np.where(constrained, prm["childcare_max_commute_factor"], 1.0)
    wages = LM.wage_table(prm)                               # [sectors, levels]
    wage_cell = np.broadcast_to(wages[None], eco.positions.shape)
    out = LM.match(model, prm, rng, seekers, hazard, max_t, vac, wage_cell, st.decay, weight=w_s)
    st.refused_transport[seekers] = np.minimum(out["refused"], 32000).astype(np.int16)
    n_sec = eco.positions.shape[1]
    hired, cell = out["hired"], out["cell"]
    sector = (cell // N_LEVELS) % n_sec
    _hire(model, st, prm, rng, hired, cell // (n_sec * N_LEVELS), sector, cell % N_LEVELS)
    outside = out["outside"]
    if outside.size:
        tot = eco.positions.sum((0, 2))
        sec_o = rng.choice(len(S.SECTORS), size=outside.size, p=tot / tot.sum())
        _hire(model, st, prm, rng, outside, np.full(outside.size, -2), sec_o,
              np.clip(p.skill[outside], 0, 2))
    return {"hires": float(S.person_weight(p, model.households, hired).sum()),
            "hires_outside_amp": float(S.person_weight(p, model.households, outside).sum()),
            "job_seekers": u_w, "tightness": float(theta),
            "offers_refused_transport": float((w_s * out["refused"]).sum()),
            "childcare_places": float(w_s[placed].sum())}


def _hire(model, st: LabourState, prm, rng, rows, pole, sector, level) -> None:
    if rows.size == 0:
        return
    p = model.persons
    wages = LM.wage_table(prm)
    sig = prm["wage_sigma"]
    noise = np.exp(sig * rng.standard_normal(rows.size) - 0.5 * sig * sig)
    p.status[rows] = S.EMPLOYED
    p.job_pole[rows] = pole.astype(np.int16)
    p.sector[rows] = sector.astype(np.int8)
    st.job_level[rows] = level.astype(np.int8)
    p.income[rows] = (wages[sector, level] * noise).astype(np.float32)
    p.months_jobless[rows] = 0
    st.years_in_job[rows] = -1   # becomes 0 at the end of the year: hired this year


def _in_commuters(model, prm) -> dict[str, float]:
    eco = model.economy
    eco.external *= 1.0 - prm["separation_rate"]
    vac = np.maximum(eco.positions - resident_filled(model) - eco.external, 0.0)
    add = prm["in_commuter_fill_rate"] * vac
    eco.external += add
    return {"in_commuter_hires": float(add.sum())}


def _durations_and_income(model, st: LabourState, prm, separated, new_seeker, candidates) -> None:
    """Years in job, months without a job and benefits at the end of the year.

    ``new_seeker``: mask of the persons unemployed at the start of the year with
    0 months of search; ``candidates``: rows (each once) among which all the living
    unemployed or inactive persons are (those unemployed or inactive after the
    separations: none of the later steps makes anyone else unemployed or inactive).
    """
    p = model.persons
    alive = p.alive
    years = st.years_in_job[: p.n]
    years += alive & (p.status == S.EMPLOYED)                 # + 1 year for every worker
    status = p.status[candidates]
    jobless = candidates[((status == S.UNEMPLOYED) | (status == S.INACTIVE)) & ~separated[candidates]
                         & alive[candidates]]
    first = new_seeker[jobless]
    p.months_jobless[jobless[first]] = int(prm["months_at_separation"])
    longer = jobless[~first]
    p.months_jobless[longer] = np.minimum(p.months_jobless[longer].astype(np.int32) + 12, 32000).astype(np.int16)
    un = jobless[p.status[jobless] == S.UNEMPLOYED]
    lt = un[p.months_jobless[un] >= prm["benefit_duration_months"]]
    p.income[lt] = prm["benefit_floor"]


# ------------------------------------------------------------------ outputs
def _headline(model) -> dict[str, float]:
    p, h = model.persons, model.households
    w = h.weight[p.hh] * p.alive
    a = (p.age >= 15) & (p.age <= 64)
    emp = p.status == S.EMPLOYED
    un = p.status == S.UNEMPLOYED
    y = (p.age >= 15) & (p.age <= 24) & (p.status != S.STUDENT) & (p.status != S.CHILD)
    ua = un & a

    def r(num, den):
        d = w[den].sum()
        return float(w[num & den].sum() / d) if d > 0 else float("nan")
    return {"employment_rate": r(emp, a), "unemployment_rate": r(un, a & (emp | un)),
            "youth_jobless_rate": r(~emp, y), "long_term_unemployed_share": r(p.months_jobless >= 12, ua)}


def metrics(model, g) -> list[tuple[str, str, float]]:
    st = _state(model)
    p = model.persons
    rows: list[tuple[str, str, float]] = []
    a = (p.age >= 15) & (p.age <= 64)
    emp = p.status == S.EMPLOYED
    un = p.status == S.UNEMPLOYED
    y = (p.age >= 15) & (p.age <= 24) & (p.status != S.STUDENT) & (p.status != S.CHILD)
    M.add_rate(rows, "employment_rate", g, emp, a)
    M.add_rate(rows, "unemployment_rate", g, un, a & (emp | un))
    M.add_rate(rows, "youth_jobless_rate", g, ~emp, y)
    M.add_rate(rows, "long_term_unemployed_share", g, p.months_jobless >= 12, un & a)
    M.add_mean(rows, "mean_income", g, p.income, p.age >= 18)      # float32 x float64 weights: float64 products
    # boolean masks: add_sum counts the weights of living rows in the mask (no float copies of every row)
    M.add_sum(rows, "mentored", g, p.mentored > 0, by=("segment",))
    M.add_sum(rows, "in_training", g, st.programme[: p.n] == LP.TRAINING, by=("segment",))
    M.add_sum(rows, "in_second_chance", g, st.programme[: p.n] == LP.SECOND_CHANCE, by=("segment",))
    M.add_sum(rows, "mobility_aided", g, st.mobility_aid[: p.n] > 0, by=("segment",))
    M.add_sum(rows, "employed_outside_amp", g, emp & (p.job_pole == -2), by=())
    for key in ("hires", "separations", "layoffs", "offers_refused_transport", "discouraged", "reactivated",
                "in_commuter_hires", "training_completed", "tightness"):
        if key in st.events:
            rows.append((key, "all", float(st.events[key])))
    return rows


def persona_extra(model, row: int, hh: int) -> dict[str, Any]:
    st = _state(model)
    p = model.persons
    return {"months_jobless": int(p.months_jobless[row]),
            "job_offers_refused_transport": int(st.refused_transport[row]),
            "programme": LP.PROGRAMMES[int(st.programme[row])],
            "mobility_aid_years_left": int(st.mobility_aid[row]),
            "childcare_constrained": _childcare_constrained_one(model, row, hh)}


def _childcare_constrained_one(model, row: int, hh: int) -> bool:
    """childcare_constrained for one person, without a pass over every household (personas, each year)."""
    p, h = model.persons, model.households
    if h.hh_type[hh] != S.HH_TYPE.index("single_parent") or p.age[row] < 18:
        return False
    mem = np.flatnonzero(p.hh == hh)
    return bool(np.any(p.alive[mem] & (p.age[mem] < model.params["labour"]["childcare_child_age"])))


def invariants(model) -> list[str]:
    st = _state(model)
    p, eco = model.persons, model.economy
    errs: list[str] = []
    filled = resident_filled(model) + eco.external
    over = filled - eco.positions
    if np.any(over > 1e-6 * np.maximum(eco.positions, 1.0)):
        errs.append(f"filled jobs exceed positions in {int((over > 1e-6).sum())} (pole, sector, level) cells "
                    f"(max excess {over.max():.3f})")
    emp = p.alive & (p.status == S.EMPLOYED)
    if np.any(emp & ((p.job_pole == -1) | (p.job_pole < -2))):
        errs.append("employed persons without a job pole")
    if np.any(emp & (p.job_pole >= 0) & (p.sector < 0)):
        errs.append("employed persons inside AMP without a sector")
    if np.any(p.alive & ~emp & (p.job_pole != -1)):
        errs.append("persons without a job hold a job pole")
    if np.any((p.status < 0) | (p.status >= len(S.STATUS))):
        errs.append("unknown activity status")
    if np.any((st.programme[: p.n] > 0) & p.alive & (p.status != S.INACTIVE)):
        errs.append("programme participants who are not out of the labour force")
    return errs


def calibration(model) -> list[dict]:
    """2017 targets vs the synthesised start, and the same figures now (steady state)."""
    prm, pop = model.params["labour"], model.params["population"]
    tol = pop["tolerance_rate_pp"] / 100
    targets = {"employment_rate": (pop["employment_rate_15_64"], "FACTS ECO-4"),
               "youth_jobless_rate": (pop["youth_jobless_rate"], "FACTS ECO-6"),
               "long_term_unemployed_share": (prm["long_term_share_target"], "assumption INSEE 2017")}
    st = _state(model)
    now = _headline(model)
    rows = []
    for key, (target, _src) in targets.items():
        for label, val, t in ((f"{key} 2017", st.calib_2017[key], tol),
                              (f"{key} {model.year} (steady state)", now[key], 3 * tol)):
            rows.append(dict(marginal=label, unit="share", target=float(target), achieved=float(val),
                             tolerance=t, ok=bool(abs(val - target) <= t)))
    return rows
