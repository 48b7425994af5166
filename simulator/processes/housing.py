"""Housing: stock, prices and rents, relocation, social-housing queue, housing access.

Each year (after demography and economy): new dwellings, demolitions,
rehabilitation; housing costs; the social-housing queue; movers choose a
pole, tenure and size by a vectorised logit under capacity constraints;
vacant social units go to the queue by priority; prices and rents react to
the vacancy left in each pole. See docs/process_housing.md for the
equations and sources; every number comes from scenarios/params/housing.toml.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from .. import state as S
from ..params import spec
from . import housing_stock as HS
from .housing_market import (N_COND, N_SIZE, N_TEN, Facts, annuity, cell_index, draw_condition_cells,
                             draw_from_cdf, energy_cost, fit_draw, household_facts, housing_aid, place_uniform)

#: state the metric functions never read: the model's metrics snapshot shares it instead of copying it
METRICS_UNREAD = ("housing.prev_hh", "housing.parent_hh", "housing.loan", "housing.loan_end", "housing.contract_rent",
                  "housing.entry_income_cu")

SPECS = {
    # dwellings and costs
    "dwelling_m2": spec("m2", 10, 200, kind="list", length=2),
    "t3_m2": spec("m2", 30, 120),
    "median_income_range_eur": spec("EUR/month", 1000, 1e6),
    "median_burden_range": spec("1", 0.5, 100),
    "large_need_members": spec("persons", 1, 10, kind="int"),
    "large_pref_members": spec("persons", 1, 10, kind="int"),
    "condition_rent_factor": spec("1", 0.3, 1.5, kind="list", length=3),
    "social_rent_share": spec("1", 0.1, 1),
    "owner_charges_eur_m2": spec("EUR/m2/month", 0, 20),
    "mortgage_rate": spec("1/yr", 0, 0.2),
    "mortgage_years": spec("yr", 5, 35),
    "down_payment_share": spec("1", 0, 1),
    "max_debt_ratio": spec("1", 0.1, 1),
    "mortgage_age_limit": spec("yr", 20, 100),
    "max_buy_age": spec("yr", 20, 110),
    "apl_max_share": spec("1", 0, 1),
    "apl_income_floor_cu": spec("EUR/month/CU", 0, 10000),
    "apl_income_ceiling_cu": spec("EUR/month/CU", 0, 10000),
    "energy_cost_eur_month": spec("EUR/month", 0, 2000, kind="list", length=6),
    "energy_price_growth": spec("1/yr", -0.1, 0.2),
    "affordability_threshold": spec("1", 0.05, 1),
    "energy_poverty_threshold": spec("1", 0.01, 0.5),
    "energy_poverty_income_quantile": spec("1", 0, 1),
    "max_burden_accept": spec("1", 0.1, 2),
    "family_support_eur": spec("EUR/month", 0, 5000),
    "family_support_max_age": spec("yr", 16, 40),
    # initial reconciliation and stock
    "social_vacancy_rate": spec("1", 0, 0.5),
    "small_prior_by_members": spec("1", 0, 1, kind="list", length=3),
    "owner_small_factor": spec("1", 0, 2),
    "social_ineligible_prior": spec("1", 0, 1),
    "fit_iterations": spec("1", 1, 500, kind="int"),
    "initial_wait_years": spec("yr", 0, 20),
    # construction, demolition, rehabilitation (levers)
    "construction_per_year": spec("dwellings/yr", 0, 100000),
    "construction_pole_weights": spec("1", 0, 100, kind="table"),
    "centre_construction_share": spec("1", 0, 1),
    "land_per_dwelling_m2": spec("m2/dwelling", 10, 2000),
    "supply_price_elasticity": spec("1", 0, 5),
    "construction_price_elasticity": spec("1", 0, 10),
    "social_share_new": spec("1", 0, 1),
    "social_construction_extra_by_pole": spec("dwellings/yr", 0, 50000, kind="table"),
    "owner_share_new": spec("1", 0, 1),
    "small_share_new": spec("1", 0, 1),
    "demolition_rate": spec("1/yr", 0, 0.2),
    "resize_rate": spec("1/yr", 0, 1),
    "rehab_per_year": spec("dwellings/yr", 0, 200000),
    "degradation_rate": spec("1/yr", 0, 0.2),
    "price_guarantee_share": spec("1", 0, 1),
    "price_guarantee_discount": spec("1", 0, 1),
    "ownership_aid_eur": spec("EUR", 0, 200000),
    "aid_income_ceiling_cu": spec("EUR/month/CU", 0, 20000),
    # prices
    "price_trend": spec("1/yr", -0.2, 0.2),
    "rent_trend": spec("1/yr", -0.2, 0.2),
    "price_vacancy_elasticity": spec("1/yr", 0, 5),
    "rent_vacancy_elasticity": spec("1/yr", 0, 5),
    "max_price_change": spec("1/yr", 0, 1),
    "natural_vacancy_adaptation": spec("1/yr", 0, 1),
    # movers and location choice
    "move_rate_by_tenure": spec("1/yr", 0, 1, kind="list", length=3),
    "overcrowded_move_rate": spec("1/yr", 0, 1),
    "burden_move_threshold": spec("1", 0, 2),
    "burden_move_rate": spec("1/yr", 0, 1),
    "long_commute_min": spec("min", 0, 300),
    "long_commute_move_rate": spec("1/yr", 0, 1),
    "elderly_age": spec("yr", 40, 110),
    "elderly_move_factor": spec("1", 0, 2),
    "max_time_min": spec("min", 30, 600),
    "beta_burden": spec("1", 0, 100),
    "beta_commute_per_h": spec("1/h", 0, 50),
    "beta_distance_per_h": spec("1/h", 0, 50),
    "beta_same_pole": spec("1", 0, 50),
    "beta_move_cost": spec("1", 0, 50),
    "beta_owner": spec("1", -20, 20),
    "beta_condition": spec("1", 0, 50),
    "beta_overcrowded": spec("1", 0, 50),
    "affinity_weight": spec("1", 0, 10),
    "choice_rounds": spec("1", 1, 20, kind="int"),
    "choice_set_size": spec("1", 2, 200, kind="int"),
    # social housing
    "social_ceiling_eur_cu": spec("EUR/month/CU", 0, 10000),
    "queue_application_rate": spec("1/yr", 0, 1),
    "queue_burden_threshold": spec("1", 0, 2),
    "priority_weights": spec("yr", 0, 20, kind="list", length=4),
    "social_offer_radius_min": spec("min", 0, 300),
    # calibration targets [target, tolerance]
    "calib_poor_households": spec("households", 0, 2e6, kind="list", length=2),
    "calib_social_share_tol_pp": spec("pp", 0, 50),
    "calib_marseille_social_share": spec("1", 0, 1, kind="list", length=2),
    "calib_aix_social_share_min": spec("1", 0, 1),
    "calib_amp_rent_eur_m2": spec("EUR/m2/month", 0, 100, kind="list", length=2),
    "calib_marseille_price_eur_m2": spec("EUR/m2", 0, 20000, kind="list", length=2),
    "calib_price_to_income_t3": spec("yr", 0, 50, kind="list", length=2),
    "calib_energy_poverty_share": spec("1", 0, 1, kind="list", length=2),
}

CAR, TRANSIT = S.MODES.index("car"), S.MODES.index("transit")
MARKET = (S.OWNER, S.PRIVATE_RENT)  # tenures reachable on the market (social: queue only)
MARSEILLE, AIX = ("Z01", "Z02", "Z03"), ("Z08",)


@dataclass
class HousingState:
    """State owned by the housing process (``model.housing``)."""

    stock: np.ndarray                 # [n_poles, 3 tenures, 2 sizes, 3 conditions], real dwellings
    price_eur_m2: np.ndarray          # [n_poles] purchase price
    rent_eur_m2: np.ndarray           # [n_poles] market rent of new private leases, EUR/m2/month
    price0_eur_m2: np.ndarray
    rent0_eur_m2: np.ndarray          # 2017 market rents (social rents are a share of them)
    natural_vacancy: np.ndarray       # [n_poles] 2017 vacancy of the market (owner + private) stock
    land_ha_left: np.ndarray          # [n_poles] land still available for greenfield housing
    start_year: int
    # per household (grown with the households arrays)
    loan: np.ndarray = field(default=None)            # EUR/month mortgage payment
    loan_end: np.ndarray = field(default=None)        # year the mortgage ends
    contract_rent: np.ndarray = field(default=None)   # EUR/m2/month rent of the private lease
    in_queue: np.ndarray = field(default=None)        # bool, in the social-housing queue
    entry_income_cu: np.ndarray = field(default=None)  # EUR/month/CU at social allocation (-1 none)
    parent_hh: np.ndarray = field(default=None)       # household a young adult left this year (-1 none)
    prev_hh: np.ndarray = field(default=None)         # per person: household at the end of the last step
    # yearly records
    built_by_pole: np.ndarray = field(default=None)
    wait_at_allocation: float = float("nan")
    allocations: float = 0.0
    eligibility_violations: float = 0.0
    moves_in: np.ndarray = field(default=None)        # [n_poles] real households that moved in this year

    _FILL = {"loan": (np.float64, 0.0), "loan_end": (np.int32, 0), "contract_rent": (np.float64, 0.0),
             "in_queue": (bool, False), "entry_income_cu": (np.float64, -1.0), "parent_hh": (np.int64, -1)}

    def grow(self, n: int) -> None:
        for name, (dt, fill) in self._FILL.items():
            a = getattr(self, name)
            if a is None:
                setattr(self, name, np.full(n, fill, dtype=dt))
            elif a.size < n:
                out = np.full(n, fill, dtype=dt)
                out[: a.size] = a
                setattr(self, name, out)

    _live: np.ndarray | None = None   # live-household mask cached during a step (membership is fixed there)
    # occupancy kept up to date during a step (housing_stock.track_occupancy): cell index and occupying
    # weight per household, and the last count (None: to recount)
    _cell: np.ndarray | None = None
    _w_occ: np.ndarray | None = None
    _occ: np.ndarray | None = None

    @staticmethod
    def live_mask(model) -> np.ndarray:
        st = getattr(model, "housing", None)
        if st is not None and st._live is not None:
            return st._live
        p, h = model.persons, model.households
        return h.alive & (np.bincount(p.hh[p.alive], minlength=h.n) > 0)


# ------------------------------------------------------------------ helpers
def _times(model) -> np.ndarray:
    """Door-to-door time [5 modes, n, n] min: the mobility process's, else the free-flow skims."""
    com = getattr(model, "commute", None)
    t = getattr(com, "time", None)
    if t is not None:
        return np.asarray(t, dtype=np.float64)
    st = model.housing
    if getattr(st, "_fallback_time", None) is None:
        terr = model.territory
        n = len(terr.ids)
        car = terr.road_skim()[0]
        tr = terr.transit_skim(year=model.start_year)["total_min"]
        walk, bike, _ = terr.active_skim()
        st._fallback_time = np.stack([car, car, tr, bike, walk]).reshape(5, n, n)
    return st._fallback_time


def _year_index(model) -> float:
    return float(model.year - model.housing.start_year)


def _mode(h, rows) -> np.ndarray:
    return np.where(h.car[rows] > 0, CAR, TRANSIT)


def _need_size(facts: Facts, rows, prm) -> np.ndarray:
    """Size class a household looks for first (large from ``large_pref_members`` persons)."""
    return (facts.members[rows] >= prm["large_pref_members"]).astype(np.int64)


def update_costs(model, prm, facts: Facts, rows: np.ndarray | None = None) -> None:
    """housing_cost (rent net of aid, mortgage + charges, or charges) and energy_cost, EUR/month.

    ``rows`` None: every live household, computed on the whole columns (no
    gathers) and written where live. Per household, in EUR/month:
    rent = (contract rent, or social share x 2017 market rent) x m2 x condition factor, minus the aid;
    owner = mortgage (until it ends) + charges x m2; energy by (size, condition), 0 without a dwelling.
    The constants of a dwelling (m2, condition factor, social rent, charges,
    energy) are looked up by its cell when the step tracks the cells
    (housing_stock.track_occupancy), else by its columns: the same values.
    """
    h, st = model.households, model.housing
    n = h.n

    def take(a: np.ndarray) -> np.ndarray:
        return a[:n] if rows is None else a[rows]

    ten = take(h.tenure)
    m2_tab = np.asarray(prm["dwelling_m2"])
    cf_tab = np.asarray(prm["condition_rent_factor"])
    soc_tab = prm["social_rent_share"] * st.rent0_eur_m2                  # [pole] EUR/m2/month
    ch_tab = prm["owner_charges_eur_m2"] * m2_tab                          # [size] EUR/month
    en_tab = energy_cost(np.arange(N_SIZE)[:, None], np.arange(N_COND)[None, :], prm, _year_index(model))  # [size, cond]
    if st._cell is not None:
        # by cell ((pole * 3 + tenure) * 2 + size) * 3 + condition (tenure capped at 2 without a dwelling)
        cell = take(st._cell)
        n_p = soc_tab.size
        size_c = np.tile(np.repeat(np.arange(N_SIZE), N_COND), n_p * N_TEN)
        cond_c = np.tile(np.arange(N_COND), n_p * N_TEN * N_SIZE)
        pole_c = np.repeat(np.arange(n_p), N_TEN * N_SIZE * N_COND)
        m2, cf, soc, ch = m2_tab[size_c][cell], cf_tab[cond_c][cell], soc_tab[pole_c][cell], ch_tab[size_c][cell]
        en = en_tab[size_c, cond_c][cell]
    else:
        size, cond = take(h.size_class), take(h.condition)
        m2, cf, soc, ch, en = m2_tab[size], cf_tab[cond], soc_tab[take(h.pole)], ch_tab[size], en_tab[size, cond]
    icu = take(facts.income_cu)
    rent = np.where(ten == S.PRIVATE_RENT, take(st.contract_rent), soc)
    rent *= m2
    rent *= cf
    rent -= housing_aid(rent, icu, prm)                                   # rent net of aid
    loan = np.where(take(st.loan_end) > model.year, take(st.loan), 0.0)
    loan += ch                                                            # owner: mortgage + charges
    cost = rent
    np.copyto(cost, loan, where=ten == S.OWNER)
    no_home = ten == S.NO_DWELLING
    np.copyto(cost, 0.0, where=no_home)
    np.copyto(en, 0.0, where=no_home)
    if rows is None:
        live = facts.live[:n]
        np.copyto(h.housing_cost, cost, where=live)                          # float64 -> float32 as astype
        np.copyto(h.energy_cost, en, where=live)
    else:
        h.housing_cost[rows] = cost.astype(np.float32)
        h.energy_cost[rows] = en.astype(np.float32)


def burden(model, facts: Facts) -> np.ndarray:
    h = model.households
    return (h.housing_cost + h.energy_cost) / np.maximum(facts.income, 1.0)


def _owner_payment(model, prm, pole, size, facts: Facts, rows, current_owner) -> np.ndarray:
    """Monthly mortgage of buying a dwelling of ``size`` in ``pole`` (aid and guarantee for modest first buyers)."""
    st = model.housing
    m2 = np.asarray(prm["dwelling_m2"])[size]
    price = st.price_eur_m2[pole] * m2
    modest = (facts.income_cu[rows] <= prm["aid_income_ceiling_cu"]) & ~current_owner
    price = price * np.where(modest, 1.0 - prm["price_guarantee_share"] * prm["price_guarantee_discount"], 1.0)
    principal = np.maximum(price * (1 - prm["down_payment_share"]) - np.where(modest, prm["ownership_aid_eur"], 0.0),
                           0.0)
    outright = current_owner & (facts.oldest[rows] >= prm["mortgage_age_limit"])
    return np.where(outright, 0.0, annuity(principal, prm["mortgage_rate"], prm["mortgage_years"]))


# ------------------------------------------------------------------ init
def init(model) -> None:
    prm = model.params["housing"]
    rng = model.stream("housing")
    terr, p, h = model.territory, model.persons, model.households
    n_p = len(terr.ids)
    st = HousingState(stock=np.zeros((n_p, N_TEN, N_SIZE, N_COND)), price_eur_m2=terr.price_eur_m2.copy(),
                      rent_eur_m2=terr.rent_eur_m2.copy(), price0_eur_m2=terr.price_eur_m2.copy(),
                      rent0_eur_m2=terr.rent_eur_m2.copy(), natural_vacancy=terr.vacancy_rate.copy(),
                      land_ha_left=terr.land_ha_available.copy(), start_year=model.start_year)
    st.grow(h.n)
    st.built_by_pole = np.zeros(n_p)
    st.moves_in = np.zeros(n_p)
    model.housing = st
    facts = household_facts(p, h, prm)
    live = facts.live
    named = np.zeros(h.n, dtype=bool)
    named[model.named_households] = True
    rows = np.flatnonzero(live & ~named)
    w, pole = h.weight[rows], h.pole[rows].astype(np.int64)
    it = prm["fit_iterations"]
    # tenure: segment priors, social rarely for households above the ceiling, fitted to the pole stock
    n_seg = len(model.personas)
    seg_ten = np.array([[s.segment["tenure"].get(t, 0.0) for t in S.TENURE[:3]] for s in model.personas]) + 1e-6
    prior = np.concatenate([seg_ten, seg_ten * np.array([1.0, 1.0, prm["social_ineligible_prior"]])])
    above = (facts.income_cu[rows] > prm["social_ceiling_eur_cu"]).astype(np.int64)
    key = h.segment[rows].astype(np.int64) + n_seg * above
    h.tenure[rows] = fit_draw(prior, key, pole, w, terr.dwellings, rng, it).astype(np.int8)
    # size: small preferred by small households and by tenants, fitted to the pole's small share
    ps = np.clip(np.concatenate([np.asarray(prm["small_prior_by_members"]),
                                 np.asarray(prm["small_prior_by_members"]) * prm["owner_small_factor"]]), 1e-6, 1 - 1e-6)
    key = np.clip(facts.members[rows], 1, 3) - 1 + 3 * (h.tenure[rows] == S.OWNER)
    tgt = np.stack([terr.small_share, 1 - terr.small_share], axis=1)
    h.size_class[rows] = fit_draw(np.stack([ps, 1 - ps], axis=1), key, pole, w, tgt, rng, it).astype(np.int8)
    # condition: segment priors fitted to the pole's degraded / energy-sink shares
    seg_c = np.array([[s.segment["condition"].get(c, 0.0) for c in S.CONDITION] for s in model.personas]) + 1e-6
    tgt = np.stack([1 - terr.degraded_share - terr.energy_sink_share, terr.degraded_share, terr.energy_sink_share], 1)
    h.condition[rows] = fit_draw(seg_c, h.segment[rows].astype(np.int64), pole, w, tgt, rng, it).astype(np.int8)
    # stock = occupied / (1 - vacancy): every cell holds its occupants plus the pole's vacancy
    occ = HS.occupied(model)
    vac = np.repeat(terr.vacancy_rate[:, None], N_TEN, axis=1)
    vac[:, S.SOCIAL_RENT] = np.minimum(vac[:, S.SOCIAL_RENT], prm["social_vacancy_rate"])
    st.stock = occ / (1.0 - vac)[:, :, None, None]
    # leases at the 2017 market rent; mortgages of owners below the age limit, remaining years uniform
    allr = np.flatnonzero(live)
    st.contract_rent[allr] = st.rent_eur_m2[h.pole[allr]]
    owners = allr[(h.tenure[allr] == S.OWNER) & (facts.oldest[allr] < prm["mortgage_age_limit"])]
    st.loan[owners] = _owner_payment(model, prm, h.pole[owners], h.size_class[owners], facts, owners,
                                     np.zeros(owners.size, bool))
    st.loan_end[owners] = model.year + rng.integers(1, int(prm["mortgage_years"]) + 1, owners.size)
    update_costs(model, prm, facts)
    # initial social queue, with a seniority drawn around the observed mean
    _update_queue(model, prm, rng, facts, initial=True)
    st.prev_hh = p.hh.copy()


# ------------------------------------------------------------------ hooks
def on_compact(model, keep_p, keep_h, pmap, hmap) -> None:
    """Per-household arrays and household references follow the compaction (see FabriqueModel.compact)."""
    st = model.housing
    for name, (_, fill) in HousingState._FILL.items():
        setattr(st, name, S.compact_rows(getattr(st, name), keep_h, fill))
    st.parent_hh = S.remap_index(st.parent_hh, hmap)
    if st.prev_hh is not None:
        st.prev_hh = S.remap_index(S.compact_rows(st.prev_hh, keep_p, -1), hmap)
    st._live = None


def on_new_households(model, rows: np.ndarray, reason: str) -> None:
    """New households (left_home, immigration) start without a dwelling and search this year."""
    h, st = model.households, model.housing
    st.grow(h.n)
    h.tenure[rows] = S.NO_DWELLING
    h.size_class[rows] = 0
    h.condition[rows] = 0
    h.housing_cost[rows] = 0.0
    h.energy_cost[rows] = 0.0
    h.years_waiting[rows] = 0.0
    st.loan[rows] = 0.0
    st.loan_end[rows] = 0
    st.in_queue[rows] = False
    st.entry_income_cu[rows] = -1.0
    st.parent_hh[rows] = -1
    if reason == "left_home" and st.prev_hh is not None:
        p = model.persons
        new = np.zeros(h.n, dtype=bool)
        new[rows] = True
        mem = np.flatnonzero(new[p.hh] & p.alive)
        mem = mem[mem < st.prev_hh.size]
        st.parent_hh[p.hh[mem]] = st.prev_hh[mem]


# ------------------------------------------------------------------ step
def step(model) -> dict[str, float]:
    prm: dict[str, Any] = model.params["housing"]
    rng = model.stream("housing")
    st, h = model.housing, model.households
    st.grow(h.n)
    events: dict[str, float] = {}
    facts = household_facts(model.persons, h, prm)
    st._live = facts.live
    HS.track_occupancy(model)
    HS.construct(model, prm, events)
    HS.demolish(model, prm, events)
    HS.resize(model, prm, events)
    HS.rehabilitate(model, prm, rng, events)
    update_costs(model, prm, facts)
    b = burden(model, facts)            # (costs do not change between the queue and the choice of movers)
    _update_queue(model, prm, rng, facts, b=b)
    _market(model, prm, rng, facts, events, b=b)
    _allocate_social(model, prm, rng, facts, events)
    events["returned_to_parents"] = _back_to_parents(model)     # updates the cached live mask
    _update_prices(model, prm)
    events["households_without_dwelling"] = float(
        h.weight[HousingState.live_mask(model) & (h.tenure == S.NO_DWELLING)].sum())
    HS.untrack_occupancy(model)
    st._live = None
    st.prev_hh = model.persons.hh.copy()
    return events


def _movers(model, prm, rng, facts: Facts, b: np.ndarray | None = None, workers: np.ndarray | None = None
            ) -> np.ndarray:
    """Rows of households that look for a dwelling this year (life events, cost, commute).

    ``b`` (burden) and ``workers`` (mask of living persons with a job pole) when the caller has them.
    """
    p, h = model.persons, model.households
    live = facts.live
    ten = h.tenure
    # (no need to exclude households without a dwelling: they always search, whatever the other flags)
    overcrowded = (h.size_class == 0) & (facts.members >= prm["large_need_members"])
    heavy = (burden(model, facts) if b is None else b) > prm["burden_move_threshold"]
    workers = p.alive & (p.job_pole >= 0) if workers is None else workers
    far = workers & (p.commute_min > prm["long_commute_min"])
    hh_far = np.zeros(h.n, dtype=bool)
    hh_far[p.hh[np.flatnonzero(far)]] = True
    elderly = facts.oldest >= prm["elderly_age"]
    # the yearly move probability depends only on (tenure, overcrowded, heavy burden, long commute, elderly):
    # it is computed for the 4 x 2^4 combinations, with the same float operations per household as
    # q = (1 - rate) x (1 - r_crowd or 1) x (1 - r_burden or 1) x (1 - r_commute or 1), pr = 1 - q
    # (x elderly_move_factor), and looked up by a small integer code
    t4 = np.arange(4)
    q = 1.0 - np.where(t4 < 3, np.asarray(prm["move_rate_by_tenure"])[np.minimum(t4, 2)], 0.0)  # [tenure]
    flag = np.array([False, True])[:, None, None, None, None]
    q = q * np.where(flag, 1 - prm["overcrowded_move_rate"], 1.0)                 # [crowd, 1, 1, 1, tenure]
    q = q * np.where(flag, 1 - prm["burden_move_rate"], 1.0).reshape(1, 2, 1, 1, 1)
    q = q * np.where(flag, 1 - prm["long_commute_move_rate"], 1.0).reshape(1, 1, 2, 1, 1)
    pr = 1 - q
    pr = np.where(flag.reshape(1, 1, 1, 2, 1), pr * prm["elderly_move_factor"], pr)
    pr[..., S.NO_DWELLING] = 2.0                    # households without a dwelling always search (u < 2)
    pr = pr.reshape(-1)
    code = ten.astype(np.uint8)                     # ((crowd * 2 + heavy) * 2 + far) * 2 + elderly) * 4 + tenure
    code += elderly.view(np.uint8) << 2
    code += hh_far.view(np.uint8) << 3
    code += heavy.view(np.uint8) << 4
    code += overcrowded.view(np.uint8) << 5
    move = rng.random(h.n) < pr[code]
    move &= live
    return np.flatnonzero(move)


def _commute_matrix(model, movers, modes, T, cand, workers: np.ndarray | None = None) -> np.ndarray:
    """Summed one-way time (min) of each mover's workers to their job poles, from each of its candidate poles.

    ``cand`` [movers, m] candidate poles; returns [movers, m]. Sums run over a
    mover's workers in person order (one bincount: the same additions as a
    sequential sum per mover). ``workers``: mask of living persons with a job pole.
    """
    p, h = model.persons, model.households
    # position of each household among the movers (-1: not a mover), read for each worker (no search)
    pos = np.full(h.n, -1, dtype=np.int32)
    pos[movers] = np.arange(movers.size, dtype=np.int32)
    wk = np.flatnonzero(p.alive & (p.job_pole >= 0) if workers is None else workers)
    mi = pos[p.hh[wk]]
    sel = np.flatnonzero(mi >= 0)
    wk, mi = wk[sel], mi[sel].astype(np.int64)
    k, m = cand.shape
    if wk.size == 0:
        return np.zeros(cand.shape)
    n = T.shape[1]
    # flat index into T [mode, from, to]: (mode * n + candidate) * n + job pole
    ti = (modes[mi] * n)[:, None] + cand[mi]
    ti *= n
    ti += p.job_pole[wk].astype(np.int64)[:, None]
    tw = T.reshape(-1)[ti]                                                       # [workers, m]
    bins = (mi * m)[:, None] + np.arange(m)
    return np.bincount(bins.reshape(-1), weights=tw.reshape(-1), minlength=k * m).reshape(k, m)


def _market(model, prm, rng, facts: Facts, events: dict[str, float], b: np.ndarray | None = None) -> None:
    """Movers choose (pole, owner/private) by logit; capacity-constrained placement in rounds.

    Utility of option (pole j, tenure t, size s) for household i:
    U = -b_burden burden_ijts - b_commute C_ij - b_dist D_ij + b_same [j = origin]
        + w_aff log affinity(segment_i, kind_j) + b_owner [t = owner]
        - b_crowd [s small, 3+ persons] - b_move - ln(E n_j) + Gumbel,
    against staying: U0 = -b_burden burden_i - b_commute C_i,origin + b_same
        + w_aff log affinity + b_owner [owner] - b_cond [not decent] - b_crowd [overcrowded] + Gumbel.
    Choice sets (McFadden 1978 sampling of alternatives): the current pole
    plus ``choice_set_size`` - 1 poles drawn with replacement in proportion
    to their market stock, each corrected by -ln of its expected number of
    draws. Each household looks first at its preferred size and falls back
    on the other one where no unit of its size is free.

    Implementation: every term that depends only on small categories (pole,
    size, mode, segment, loan case) is computed once per category with the
    same float operations and gathered by a flat index; the rest is computed
    in place on [mover, candidate] arrays, in the same order of operations.
    """
    h, st, terr = model.households, model.housing, model.territory
    n_p = len(terr.ids)
    workers = model.persons.alive & (model.persons.job_pole >= 0)
    movers = _movers(model, prm, rng, facts, b, workers)
    st.moves_in = np.zeros(n_p)
    events["movers"] = float(h.weight[movers].sum())
    events["moves"] = 0.0
    if movers.size == 0:
        return
    k, m = movers.size, prm["choice_set_size"]
    T = np.minimum(_times(model), prm["max_time_min"])
    modes = _mode(h, movers)
    origin = h.pole[movers].astype(np.int64)
    mstock = st.stock[:, list(MARKET)].sum((1, 2, 3))
    q = mstock / mstock.sum()
    cand = np.empty((k, m), dtype=np.int64)
    cand[:, 0] = origin
    cand[:, 1:] = draw_from_cdf(rng, q, (k, m - 1))            # = rng.choice(n_p, size=(k, m - 1), p=q)
    inc = np.maximum(facts.income[movers], 1.0)
    icu = facts.income_cu[movers]
    need = _need_size(facts, movers, prm)
    big = facts.members[movers] >= prm["large_need_members"]
    cur_owner = h.tenure[movers] == S.OWNER
    has_home = h.tenure[movers] != S.NO_DWELLING
    w = h.weight[movers]
    C = _commute_matrix(model, movers, modes, T, cand, workers)
    C /= 60.0                                                                   # [mover, candidate], h
    aff = np.log(np.maximum(np.array([[s.segment["pole_affinity"].get(kd, 1.0) for kd in terr.kind]
                                      for s in model.personas]), 1e-6))
    seg = h.segment[movers].astype(np.int64)
    # base = (-b_commute C - b_dist T / 60 + w_aff aff - b_move + b_same [j = origin]) in float64, then float32
    # + the sampling correction -ln((m - 1) q_j) (0 for the current pole)
    dist = prm["beta_distance_per_h"] * T / 60.0                                # [mode, from, to]
    waff = prm["affinity_weight"] * aff                                         # [segment, pole]
    x = C * -prm["beta_commute_per_h"]
    x -= dist.reshape(-1)[((modes * n_p + origin) * n_p)[:, None] + cand]
    x += waff.reshape(-1)[(seg * n_p)[:, None] + cand]
    x -= prm["beta_move_cost"]
    # + b_same where the candidate is the current pole: column 0, and the draws that hit it
    x[:, 0] += prm["beta_same_pole"]
    r_same, c_same = np.nonzero(cand[:, 1:] == origin[:, None])
    x[r_same, c_same + 1] += prm["beta_same_pole"]
    corr = (-np.log(np.maximum((m - 1) * q, 1e-12))).astype(np.float32)        # [pole]
    corr_c = corr[cand]
    corr_c[:, 0] = 0.0                             # the current pole: a zero correction (-0.0 becomes 0.0)
    # float32(x) + correction in one pass (x rounded to float32 on input, as x.astype(np.float32))
    base = np.add(x, corr_c, dtype=np.float32, casting="same_kind")
    del x, corr_c
    # monthly costs of each option [mover, candidate] for the preferred and the other size:
    # mortgage (linear in the principal) + charges + energy, or rent net of aid + energy
    m2 = np.asarray(prm["dwelling_m2"])
    en = energy_cost(np.array([0, 1]), np.array([0, 0]), prm, _year_index(model))
    modest = (icu <= prm["aid_income_ceiling_cu"]) & ~cur_owner
    a = float(annuity(np.array([1.0]), prm["mortgage_rate"], prm["mortgage_years"])[0])
    val = st.price_eur_m2[:, None] * m2[None, :] * (1 - prm["down_payment_share"])           # [pole, size]
    rent = (st.rent_eur_m2[:, None] * m2[None, :]).reshape(-1)                              # [pole * 2 + size]
    outright = cur_owner & (facts.oldest[movers] >= prm["mortgage_age_limit"])
    # mortgage by loan case (0 ordinary, 1 modest first buyer: guarantee and aid, 2 paid outright) and
    # [pole, size]: a max(pf value - aid, 0), as the per-household formula
    pf_m = 1.0 - prm["price_guarantee_share"] * prm["price_guarantee_discount"]
    loan_tab = np.stack([a * np.maximum(val, 0.0), a * np.maximum(pf_m * val - prm["ownership_aid_eur"], 0.0),
                         np.zeros_like(val)]).reshape(-1)                                   # [case * pole * size]
    own_tab = loan_tab + np.tile(prm["owner_charges_eur_m2"] * m2 + en, 3 * n_p)          # + charges + energy
    case = np.where(outright, 2, modest.astype(np.int64))
    lo, hi = prm["apl_income_floor_cu"], prm["apl_income_ceiling_cu"]
    keep = (1.0 - prm["apl_max_share"] * np.clip((hi - icu) / max(hi - lo, 1e-9), 0.0, 1.0))[:, None]
    inc2 = inc[:, None]
    debt_cap = prm["max_debt_ratio"] * inc2
    young_ok = (facts.oldest[movers] <= prm["max_buy_age"])[:, None]
    mb, bb = prm["max_burden_accept"], np.float32(prm["beta_burden"])
    crowd_pen = np.float32(prm["beta_overcrowded"])
    gumbel = _gumbel32(rng, (k, m, 2))
    cand2 = cand * 2                                  # pole * 2: the flat (pole, size) index without the size
    def utilities(other: bool, r: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Utilities with their taste shocks, -inf where the option is not affordable, [mover, candidate,
        tenure], of the preferred size (``other`` False) or the other one, for movers ``r`` (None: all);
        and the flat (pole * 2 + size) index of the options [mover, candidate]."""
        sub = partial(_take, r)
        nd = sub(need)
        sz = (1 - nd if other else nd)[:, None]
        fi = sub(cand2) + sz                                                   # [mover, cand] pole * 2 + size
        u = np.empty(fi.shape + (2,), dtype=np.float32)
        f = np.empty(fi.shape + (2,), dtype=bool)
        b32 = np.empty(fi.shape, dtype=np.float32)
        inc_r = sub(inc2)
        # burdens: the float64 quotient rounded to float32 on output (as .astype(np.float32) of it)
        div32 = partial(np.divide, out=b32, dtype=np.float64, casting="same_kind")
        # owner: (mortgage + charges + energy) / income, affordable below max burden and max debt ratio
        # (and for households not older than max_buy_age: the others' owner options are set below)
        li = fi + (sub(case) * (2 * n_p))[:, None]
        div32(own_tab[li], inc_r)
        np.less_equal(b32, mb, out=f[:, :, 0])
        f[:, :, 0] &= np.less_equal(loan_tab[li], sub(debt_cap))
        f[np.flatnonzero(~sub(young_ok)[:, 0]), :, 0] = False
        base_r = sub(base)
        np.subtract(base_r, np.multiply(b32, bb, out=b32), out=u[:, :, 0])     # base - b_burden burden
        u[:, :, 0] += np.float32(prm["beta_owner"])
        # private rent: (rent net of aid + energy) / income
        bur = rent[fi]
        bur *= sub(keep)
        bur += en[sz]
        div32(bur, inc_r)
        np.less_equal(b32, mb, out=f[:, :, 1])
        np.subtract(base_r, np.multiply(b32, bb, out=b32), out=u[:, :, 1])
        crowded = np.flatnonzero((sz[:, 0] == 0) & sub(big))    # a small unit for 3+ persons (0 elsewhere)
        u[crowded] -= crowd_pen
        u += sub(gumbel)
        np.copyto(u, np.float32(-np.inf), where=np.logical_not(f, out=f))
        return u, fi

    # options of the preferred size for all; those of the other size are needed only in rounds where some
    # (pole, tenure, size) has no room for some mover, and only for the movers still active then
    # (computed on first need: row by row the same numbers)
    g_pref, fi_pref = utilities(False, None)
    g_oth = fi_oth = None
    have_oth = np.zeros(k, dtype=bool)
    b_now = ((h.housing_cost[movers] + h.energy_cost[movers]) / inc).astype(np.float64)
    crowd = (h.size_class[movers] == 0) & big
    u_stay = (-prm["beta_burden"] * b_now - prm["beta_commute_per_h"] * C[:, 0]
              + prm["affinity_weight"] * aff[seg, origin] + prm["beta_same_pole"] + prm["beta_owner"] * cur_owner
              - prm["beta_condition"] * (h.condition[movers] != 0) - prm["beta_overcrowded"] * crowd)
    u_stay = np.where(has_home, u_stay + rng.gumbel(size=k), -np.inf)
    rejected = np.zeros((k, m, 2), dtype=bool)
    any_rejected = False
    active = np.ones(k, dtype=bool)
    vacant = np.maximum(st.stock - HS.occupied(model), 0.0).reshape(-1)
    ten_of = np.asarray(MARKET)
    for _ in range(prm["choice_rounds"]):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        sel = None if idx.size == k else idx              # first round: no gathers of the [k, m, 2] arrays
        sub = partial(_take, sel)
        vac3 = vacant.reshape(n_p, N_TEN, N_SIZE, N_COND)[:, list(MARKET)].sum(-1)    # [pole, 2, size]
        ww = sub(w)
        if vac3.min() >= ww.max():
            # every (pole, tenure, size) has room for any mover: each option is of the preferred size
            use_pref = None
            u = sub(g_pref)
            if any_rejected:
                u = np.where(sub(rejected), np.float32(-np.inf), u)
        else:
            missing = idx[~have_oth[idx]]
            if missing.size == k:
                g_oth, fi_oth = utilities(True, None)
            elif missing.size:
                if g_oth is None:
                    g_oth, fi_oth = np.empty((k, m, 2), dtype=np.float32), np.empty((k, m), dtype=np.int64)
                g_oth[missing], fi_oth[missing] = utilities(True, missing)
            have_oth[missing] = True
            use_pref = np.empty((idx.size, m, 2), dtype=bool)                    # [active, m, 2]
            use_oth = np.empty_like(use_pref)
            wc = ww[:, None]
            for t_ in range(2):
                v = np.ascontiguousarray(vac3[:, t_]).reshape(-1)                  # [pole * 2 + size]
                np.greater_equal(v[sub(fi_pref)], wc, out=use_pref[:, :, t_])    # a unit of the preferred size
                np.greater_equal(v[sub(fi_oth)], wc, out=use_oth[:, :, t_])      # one of the other size only
            np.greater(use_oth, use_pref, out=use_oth)                          # use_oth & ~use_pref
            u = np.where(use_pref, sub(g_pref), np.where(use_oth, sub(g_oth), -np.inf))
            if any_rejected:
                np.copyto(u, np.float32(-np.inf), where=sub(rejected))     # (cheaper than a boolean index)
        u = u.reshape(idx.size, -1)
        best = np.argmax(u, axis=1)
        stay = u[np.arange(idx.size), best] <= u_stay[idx]
        active[idx[stay]] = False      # staying (or, for a household without a dwelling, nothing acceptable)
        go = np.flatnonzero(~stay)
        if go.size == 0:
            break
        gi = idx[go]
        slot, t = best[go] // 2, best[go] % 2
        j = cand[gi, slot]
        s = need[gi] if use_pref is None else np.where(use_pref[go, slot, t], need[gi], 1 - need[gi])
        ten = ten_of[t]
        c = draw_condition_cells(vacant, cell_index(j, ten, s, 0), rng)
        acc = place_uniform(cell_index(j, ten, s, c), w[gi], rng.random(gi.size), vacant)
        rej = ~acc
        if rej.any():
            rejected[gi[rej], slot[rej], t[rej]] = True
            any_rejected = True
        rows = movers[gi[acc]]
        if rows.size:
            had = h.tenure[rows] != S.NO_DWELLING
            old = cell_index(h.pole[rows], h.tenure[rows], h.size_class[rows], h.condition[rows])
            np.add.at(vacant, old[had], h.weight[rows][had])
            _move_in(model, prm, facts, rows, j[acc], ten[acc], s[acc], c[acc], cur_owner[gi[acc]])
            events["moves"] += float(h.weight[rows].sum())
            active[gi[acc]] = False


def _gumbel32(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard Gumbel draws in float32 (-log(-log U)): the taste shocks of the choice sets, half the memory
    and a third of the time of float64 draws; the tail is cut at ~17 (U rounded to 1 - 2^-24)."""
    u = rng.random(shape, dtype=np.float32)
    with np.errstate(divide="ignore"):
        np.log(u, out=u)
        np.negative(u, out=u)
        np.log(u, out=u)
    return np.negative(u, out=u)


def _take(idx: np.ndarray | None, a: np.ndarray) -> np.ndarray:
    """``a[idx]`` (``a`` itself for ``idx`` None: every row)."""
    return a if idx is None else a[idx]


def _move_in(model, prm, facts, rows, pole, ten, size, cond, was_owner) -> None:
    h, st = model.households, model.housing
    st.moves_in += np.bincount(pole, weights=h.weight[rows], minlength=st.moves_in.size)
    h.pole[rows] = pole
    h.tenure[rows] = ten
    h.size_class[rows] = size
    h.condition[rows] = cond
    buy = ten == S.OWNER
    st.loan[rows] = np.where(buy, _owner_payment(model, prm, pole, size, facts, rows, was_owner), 0.0)
    st.loan_end[rows] = np.where(buy, model.year + int(prm["mortgage_years"]), 0)
    st.contract_rent[rows] = np.where(ten == S.PRIVATE_RENT, st.rent_eur_m2[pole], 0.0)
    HS.occupancy_changed(model, rows)
    update_costs(model, prm, facts, rows)


def _update_prices(model, prm) -> None:
    """Prices and market rents move with the gap between natural and current vacancy (Rosen & Smith 1983).

    growth = trend + elasticity x (v* - v) / v*, clipped; v* (2017 vacancy of
    the pole's market stock) adapts each year towards the observed vacancy,
    so a lasting shift of demand moves prices by a bounded amount.
    """
    st = model.housing
    occ = HS.occupied(model)[:, list(MARKET)].sum((1, 2, 3))
    stock = st.stock[:, list(MARKET)].sum((1, 2, 3))
    v = np.where(stock > 0, 1 - occ / np.maximum(stock, 1e-12), st.natural_vacancy)
    gap = (st.natural_vacancy - v) / np.maximum(st.natural_vacancy, 1e-6)
    mx = prm["max_price_change"]
    st.price_eur_m2 *= 1 + np.clip(prm["price_trend"] + prm["price_vacancy_elasticity"] * gap, -mx, mx)
    st.rent_eur_m2 *= 1 + np.clip(prm["rent_trend"] + prm["rent_vacancy_elasticity"] * gap, -mx, mx)
    # lasting vacancy becomes structural (withdrawn, long-term vacant units): the natural rate adapts
    st.natural_vacancy += prm["natural_vacancy_adaptation"] * (np.clip(v, 0.0, 1.0) - st.natural_vacancy)


from .housing_outputs import (calibration, household_outcomes, invariants, metrics,  # noqa: E402,F401
                              persona_extra, price_to_income)
from .housing_social import _allocate_social, _back_to_parents, _update_queue  # noqa: E402
