"""Housing outcomes: metrics, invariants, persona columns and 2017 calibration rows.

Part of the housing process (simulator.processes.housing). Metric names:
housing_access_rate, housing_cost_burden, social_housing_wait_years (and
_at_allocation, social_housing_allocations), price_to_income_t3,
young_adults_independent_share, energy_poverty_share, poor_households,
social_queue_households, households_without_dwelling, dwellings,
social_housing_stock_share, vacancy_rate, price_eur_m2, rent_eur_m2,
energy_sink_share_stock. See docs/process_housing.md.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import metrics as M
from .. import state as S
from . import housing as H
from . import housing_stock as HS
from .housing_market import Facts, annuity, energy_cost, household_facts, housing_aid, with_family_support


# ------------------------------------------------------------------ outcomes
def _facts_of_groups(p, h, g: M.Groups) -> Facts:
    """``household_facts(p, h)`` from the living persons' rows and member counts the Groups of this
    collection pass already hold (the same operations on the same arrays, one index, gather and count fewer)."""
    al = g.p_alive_idx
    # (the living persons' ages: the pass's gather when every living person is counted)
    age = g.live_age() if g._live_idx is al else p.age[al]
    return household_facts(p, h, alive=(al, g.p_alive_hh, age, g.h_members))


def household_outcomes(model, g: M.Groups | None = None) -> dict[str, np.ndarray]:
    """Per-household burden, access, energy poverty (shared by metrics, calibration, personas).

    With ``g`` (a metrics pass) the household facts reuse its living rows and member counts.
    ``income_rows`` are the housed households with an income (the rows of the burden medians).
    """
    prm = model.params["housing"]
    h, st = model.households, model.housing
    # members' incomes only, as population._poor
    raw = household_facts(model.persons, h) if g is None else _facts_of_groups(model.persons, h, g)
    facts = with_family_support(raw, prm)
    housed = facts.live & (h.tenure != S.NO_DWELLING)
    b = H.burden(model, facts)
    access = housed & (b <= prm["affordability_threshold"]) & (h.condition == 0)
    m = housed & (facts.income > 0)
    mm = np.flatnonzero(m)
    cut = _medians(facts.income_cu[mm], h.weight[mm], [(None, 1)],
                   hi=prm["median_income_range_eur"], q=prm["energy_poverty_income_quantile"])[0][0]
    e_share = h.energy_cost / np.maximum(facts.income, 1.0)
    epov = m & (facts.income_cu <= cut) & (e_share > prm["energy_poverty_threshold"])
    poor = raw.live & (raw.income_cu < model.params["population"]["poverty_line_eur_cu"])
    return dict(facts=facts, housed=housed, burden=b, access=access, energy_poor=epov, poor=poor,
                queued=facts.live & st.in_queue[: h.n], income_rows=mm)


def _independent(model, oldest: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Persons aged 18-29, and those of them living independently.

    Living with a parent: someone in the household is at least 16 years
    older than the person (the rule demography uses for leaving home).
    Households without a dwelling (hosted) are not independent.
    """
    p = model.persons
    yi, ind = _independent_rows(model, oldest)
    young = np.zeros(p.n, dtype=bool)
    young[yi] = True
    indep = np.zeros(p.n, dtype=bool)
    indep[yi[ind]] = True
    return young, indep


def _independent_rows(model, oldest: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``_independent`` as the rows of the living persons aged 18-29 and, for each, whether independent."""
    p, h = model.persons, model.households
    if oldest is None:
        oldest = np.zeros(h.n, dtype=np.int16)
        np.maximum.at(oldest, p.hh[p.alive], p.age[p.alive])
    yi = np.flatnonzero(p.alive & (p.age >= 18) & (p.age <= 29))
    hh = p.hh[yi]
    return yi, (oldest[hh] - p.age[yi] < 16) & (h.tenure[hh] != S.NO_DWELLING)


def _medians(values: np.ndarray, w: np.ndarray, keysets: list[tuple[np.ndarray, int]], hi: float,
             bins: int = 4000, q: float = 0.5) -> list[np.ndarray]:
    """Weighted medians of ``values`` per group for several groupings, from weighted histograms.

    Values are binned on [0, hi] in ``bins`` bins (values above ``hi`` go to
    the last bin); the median is the centre of the first bin where the
    cumulative weight reaches half of the group's weight, exact to
    hi / bins. No sorting: O(n) per grouping. Keys None: one group (every row).
    """
    x = values / hi
    x *= bins                                  # (in place: the same numbers as values / hi * bins)
    b = x.astype(np.int64)
    np.clip(b, 0, bins - 1, out=b)
    out = []
    for keys, n in keysets:
        if keys is None:
            kb = b
        else:                                  # keys * bins + b, in one intp array
            kb = np.multiply(keys, bins, dtype=np.intp)
            kb += b
        hist = np.bincount(kb, weights=w, minlength=n * bins).reshape(n, bins)
        cum = np.cumsum(hist, axis=1)
        tot = cum[:, -1]
        pos = (cum < q * tot[:, None]).sum(1)
        out.append(np.where(tot > 0, (np.minimum(pos, bins - 1) + 0.5) * hi / bins, np.nan))
    return out


def _groupings(g: M.Groups, rows: np.ndarray) -> list[tuple[np.ndarray | None, int]]:
    """Overall (keys None), per segment and per pole keys of household ``rows``."""
    return [(None, 1), (g.h_seg[rows], len(g.seg_ids)), (g.h_pole[rows], len(g.pole_ids))]


def price_to_income(model, o: dict[str, np.ndarray], g: M.Groups | None = None) -> list[np.ndarray]:
    """Price of a T3 (t3_m2 at the residents' pole prices) / median annual household income, years.

    Returns [overall (1,), per segment, per pole] (only overall without ``g``).
    """
    h, st = model.households, model.housing
    if g is None:
        rows = np.flatnonzero(o["facts"].live)
        w = h.weight[rows]
    else:   # the pass's live households (facts.live is g.h_alive) and their weights (h.weight x 1.0: the same)
        rows, _, w = M._select(g, "household", None)
    # (the T3 price of each pole, then gathered: the same products as gathering the m2 price first)
    price = (model.params["housing"]["t3_m2"] * st.price_eur_m2)[h.pole[rows]]
    ks = _groupings(g, rows) if g is not None else [(None, 1)]
    med = _medians(o["facts"].income[rows], w, ks, hi=model.params["housing"]["median_income_range_eur"])
    out = []
    wp = w * price
    for (keys, n), md in zip(ks, med):
        if keys is None:       # one group: a bincount of zero keys (a sum in row order, as in the grouped case)
            keys = np.zeros(rows.size, dtype=np.intp)
        den = np.bincount(keys, weights=w, minlength=n)
        mp = np.bincount(keys, weights=wp, minlength=n) / np.where(den > 0, den, np.nan)
        out.append(mp / (12.0 * md))
    return out


def metrics(model, g: M.Groups) -> list[M.Row]:
    h, st = model.households, model.housing
    o = household_outcomes(model, g)
    rows: list[M.Row] = []
    hl = g.h_alive
    M.add_rate(rows, "housing_access_rate", g, o["access"], hl, level="household")
    hb = o["income_rows"]                    # housed, with an income
    med = _medians(o["burden"][hb], h.weight[hb], _groupings(g, hb), hi=model.params["housing"]["median_burden_range"])
    M._emit(rows, "housing_cost_burden", med[0][0], med[1], med[2], g)   # weighted medians
    M.add_mean(rows, "social_housing_wait_years", g, h.years_waiting, o["queued"],
               level="household")
    rows.append(("social_housing_wait_at_allocation", "all", st.wait_at_allocation))
    rows.append(("social_housing_allocations", "all", st.allocations))
    pti = price_to_income(model, o, g)
    M._emit(rows, "price_to_income_t3", pti[0][0], pti[1], pti[2], g)
    yi, ind = _independent_rows(model, o["facts"].oldest)      # (rows: no whole-column masks)
    M.add_rate_of_rows(rows, "young_adults_independent_share", g, yi, ind)
    M.add_rate(rows, "energy_poverty_share", g, o["energy_poor"], hl, level="household")
    M.add_sum(rows, "poor_households", g, o["poor"], level="household")
    M.add_sum(rows, "social_queue_households", g, o["queued"], level="household")
    M.add_sum(rows, "households_without_dwelling", g, hl & ~o["housed"], level="household")
    stock_p = st.stock.sum((1, 2, 3))
    # the pass's live households are HousingState.live_mask outside a housing step (when metrics are computed)
    occ = HS.occupied(model, live=st._live if st._live is not None else g.h_alive)
    M._emit(rows, "dwellings", stock_p.sum(), None, stock_p, g)
    soc = st.stock[:, S.SOCIAL_RENT].sum((1, 2))
    M._emit(rows, "social_housing_stock_share", soc.sum() / stock_p.sum(), None, soc / np.maximum(stock_p, 1e-12), g)
    vac = 1 - occ.sum((1, 2, 3)) / np.maximum(stock_p, 1e-12)
    M._emit(rows, "vacancy_rate", 1 - occ.sum() / stock_p.sum(), None, vac, g)
    M._emit(rows, "price_eur_m2", (st.price_eur_m2 * stock_p).sum() / stock_p.sum(), None, st.price_eur_m2, g)
    M._emit(rows, "rent_eur_m2", (st.rent_eur_m2 * stock_p).sum() / stock_p.sum(), None, st.rent_eur_m2, g)
    sink = st.stock[..., 2].sum((1, 2))
    M._emit(rows, "energy_sink_share_stock", sink.sum() / stock_p.sum(), None, sink / np.maximum(stock_p, 1e-12), g)
    return rows


def invariants(model) -> list[str]:
    h, st = model.households, model.housing
    err: list[str] = []
    occ = HS.occupied(model)
    over = occ > st.stock * (1 + 1e-9) + 1e-6
    if over.any():
        i = np.argwhere(over)[0]
        err.append(f"{int(over.sum())} dwelling cells over-occupied, e.g. pole {model.territory.ids[i[0]]} "
                   f"{S.TENURE[i[1]]}/{S.DWELLING_SIZE[i[2]]}/{S.CONDITION[i[3]]}: {occ[tuple(i)]:.1f} > "
                   f"{st.stock[tuple(i)]:.1f}")
    if np.any(st.stock < -1e-9) or not np.all(np.isfinite(st.stock)):
        err.append("negative or non-finite stock")
    if not (np.all(np.isfinite(st.price_eur_m2)) and np.all(st.price_eur_m2 > 0)
            and np.all(np.isfinite(st.rent_eur_m2)) and np.all(st.rent_eur_m2 > 0)):
        err.append("non-finite or non-positive prices/rents")
    live = H.HousingState.live_mask(model)
    bad_t = live & ((h.tenure < 0) | (h.tenure > S.NO_DWELLING))
    if bad_t.any():
        err.append(f"{int(bad_t.sum())} households with an invalid tenure code")
    homeless_cost = live & (h.tenure == S.NO_DWELLING) & ((h.housing_cost != 0) | (h.energy_cost != 0))
    if homeless_cost.any():
        err.append(f"{int(homeless_cost.sum())} households without a dwelling pay housing costs")
    if st.eligibility_violations > 0:
        err.append(f"{st.eligibility_violations:.1f} households entered social housing above the income ceiling")
    soc_entry = live & (h.tenure == S.SOCIAL_RENT) & (st.entry_income_cu[: h.n] > model.params["housing"]
                                                      ["social_ceiling_eur_cu"])
    if soc_entry.any():
        err.append(f"{int(soc_entry.sum())} social tenants recorded above the ceiling at entry")
    for name in ("loan", "contract_rent", "entry_income_cu"):
        if not np.all(np.isfinite(getattr(st, name))):
            err.append(f"NaN/inf in housing.{name}")
    return err


def persona_extra(model, row: int, hh: int) -> dict[str, Any]:
    """Burden, access and what a dwelling of one's own would cost (Malika's worry) for one persona."""
    prm = model.params["housing"]
    p, h, st = model.persons, model.households, model.housing
    # the named households never change membership: their agents keep the member rows (no pass over all persons)
    mem = next((a.members for a in getattr(model, "persona_agents", {}).values() if a.household == hh), None)
    mem = np.flatnonzero(p.hh == hh) if mem is None else mem
    inc = float(p.income[mem[p.alive[mem]]].sum())
    b = float((h.housing_cost[hh] + h.energy_cost[hh]) / max(inc, 1.0))
    own = max(float(p.income[row]), 1.0)
    j = int(h.pole[hh])
    rent = st.rent_eur_m2[j] * prm["dwelling_m2"][0]
    studio = rent - float(housing_aid(np.array([rent]), np.array([own]), prm)[0]) \
        + float(energy_cost(np.array([0]), np.array([0]), prm, H._year_index(model))[0])
    price = st.price_eur_m2[j] * prm["dwelling_m2"][0]
    modest = own <= prm["aid_income_ceiling_cu"]
    principal = max(price * (1 - prm["down_payment_share"])
                    * (1 - (prm["price_guarantee_share"] * prm["price_guarantee_discount"] if modest else 0.0))
                    - (prm["ownership_aid_eur"] if modest else 0.0), 0.0)
    pay = float(annuity(np.array([principal]), prm["mortgage_rate"], prm["mortgage_years"])[0])
    return {
        "housing_burden": b,
        "housing_access": bool(h.tenure[hh] != S.NO_DWELLING and b <= prm["affordability_threshold"]
                               and h.condition[hh] == 0),
        "in_social_queue": bool(st.in_queue[hh]),
        "own_small_rent_burden": studio / own,
        "can_buy_small_home_pole": bool(pay <= prm["max_debt_ratio"] * own),
        "price_eur_m2_home_pole": float(st.price_eur_m2[j]),
    }


def calibration(model) -> list[dict[str, Any]]:
    """2017 targets vs the model (call on a fresh model)."""
    prm = model.params["housing"]
    h, st, terr = model.households, model.housing, model.territory
    o = household_outcomes(model)
    out: list[dict[str, Any]] = []

    def row(name, unit, target, achieved, tol, ok=None):
        ok = bool(abs(achieved - target) <= tol) if ok is None else bool(ok)
        out.append(dict(marginal=name, unit=unit, target=float(target), achieved=float(achieved),
                        tolerance=float(tol), ok=ok))

    t, tol = prm["calib_poor_households"]
    row("households below the poverty line", "households", t,
        float(h.weight[o["poor"]].sum()), tol * t)
    stock_p = st.stock.sum((1, 2, 3))
    soc = st.stock[:, S.SOCIAL_RENT].sum((1, 2)) / stock_p
    target_soc = terr.dwellings[:, 2] / terr.dwellings.sum(1)
    tp = prm["calib_social_share_tol_pp"] / 100
    for j, pid in enumerate(terr.ids):
        row(f"social housing share pole={pid}", "share", target_soc[j], soc[j], tp)
    mars = np.array([i in H.MARSEILLE for i in terr.ids])
    t, tol = prm["calib_marseille_social_share"]
    row("social housing share Marseille (Z01-Z03)", "share", t,
        st.stock[mars, S.SOCIAL_RENT].sum() / stock_p[mars].sum(), tol)
    aix = np.array([i in H.AIX for i in terr.ids])
    a = st.stock[aix, S.SOCIAL_RENT].sum() / stock_p[aix].sum()
    row("social housing share Aix (> target)", "share", prm["calib_aix_social_share_min"], a, 0.0,
        ok=a >= prm["calib_aix_social_share_min"])
    pr = o["housed"] & (h.tenure == S.PRIVATE_RENT)
    t, tol = prm["calib_amp_rent_eur_m2"]
    row("mean private rent per m2 (AMP)", "EUR/m2/month", t,
        float((st.contract_rent[: h.n][pr] * h.weight[pr]).sum() / h.weight[pr].sum()), tol)
    t, tol = prm["calib_marseille_price_eur_m2"]
    row("mean price per m2 (Marseille)", "EUR/m2", t,
        float((st.price_eur_m2[mars] * stock_p[mars]).sum() / stock_p[mars].sum()), tol)
    t, tol = prm["calib_price_to_income_t3"]
    row("price of a T3 / median household income", "years", t, float(price_to_income(model, o)[0][0]), tol)
    t, tol = prm["calib_energy_poverty_share"]
    live = o["facts"].live
    row("energy poverty share (ONPE, bottom 3 deciles > 8 %)", "share", t,
        float(h.weight[o["energy_poor"]].sum() / h.weight[live].sum()), tol)
    return out
