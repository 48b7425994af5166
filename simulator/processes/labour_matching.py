"""Search and matching of job seekers to vacancies (used by :mod:`labour`).

One year of search, vectorised over seekers:

1. offer arrival: a seeker gets offers with probability ``1 - exp(-h_i)``;
2. a share of those takes a job outside AMP (no capacity, no commute check);
3. the others draw ``offers_per_seeker`` candidate cells (pole, sector,
   level) with probability ∝ vacancies × skill_fit[skill, level] ×
   exp(-decay × free-flow car time from home), per (home pole, skill) group;
4. each candidate is judged with the mobility process's ``best_commute``
   (the person's available modes): refused if the one-way time exceeds the
   person's acceptable time or the monthly cost (net of a mobility aid,
   which the mobility process takes off the transit cost) exceeds ``max_commute_cost_share`` of the wage offered;
5. rounds: each unmatched seeker applies to their next acceptable candidate
   (highest wage net of commute cost first); each cell keeps applicants in
   the order of exponential clocks of rate h_i × fit while their cumulative
   weight fits the cell's vacancies (lexsort + cumsum per cell).
"""
from __future__ import annotations

import numpy as np

from .. import state as S


def fill_within_cells(cells: np.ndarray, keys: np.ndarray, w: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Mask of items kept when each cell takes items by increasing key while their cumulative weight fits."""
    if cells.size == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((keys, cells))
    c, ww = cells[order], w[order]
    cum = np.cumsum(ww)
    starts = np.r_[0, np.flatnonzero(np.diff(c)) + 1]
    counts = np.diff(np.r_[starts, c.size])
    within = cum - np.repeat(cum[starts] - ww[starts], counts)
    cap = capacity[c]
    keep_sorted = within <= cap + 1e-9 * np.maximum(cap, 1.0)
    keep = np.empty(cells.size, dtype=bool)
    keep[order] = keep_sorted
    return keep


def acceptable(model, persons: np.ndarray, poles: np.ndarray, max_time: np.ndarray,
               max_cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether some available mode reaches the pole within the person's time and cost limits.

    Uses the mobility process's skims (``model.commute.time`` / ``.cost_month``,
    [5, n, n]), its ``available_modes`` on each (person, pole) pair (so a
    person without a car rides as a carpool passenger only where they find a
    driver, as in the mode choice) and the transit aid
    ``model.mobility_aid_eur_month``. Returns (ok, monthly cost of the
    cheapest acceptable mode). Without a mobility process nothing is
    refused for transport and the cost is 0.
    """
    mob = model.processes.get("mobility")
    c = getattr(model, "commute", None)
    k = persons.size
    if mob is None or c is None or k == 0:
        return np.ones(k, dtype=bool), np.zeros(k)
    p, h = model.persons, model.households
    o = h.pole[p.hh[persons]].astype(np.int64)
    d = poles.astype(np.int64)
    if not hasattr(mob, "available_modes"):
        _, t, cost, _ = mob.best_commute(model, persons, d)
        ok = np.isfinite(t) & (t <= max_time) & (cost <= max_cost)
        return ok, np.where(ok, cost, 0.0)
    avail = np.asarray(mob.available_modes(model, persons, d), dtype=bool).T     # [5, k]: one row per mode
    t = np.asarray(c.time)[:, o, d]
    cost = np.asarray(c.cost_month, dtype=float)[:, o, d]
    aid_all = np.asarray(getattr(model, "mobility_aid_eur_month", np.zeros(0)), dtype=float)
    aid = np.zeros(k)
    inside = persons < aid_all.size
    aid[inside] = aid_all[persons[inside]]
    tr = S.MODES.index("transit")
    cost[tr] = np.maximum(cost[tr] - aid, 0.0)
    ok = avail & np.isfinite(t) & np.isfinite(cost) & (t <= max_time) & (cost <= max_cost)
    best_cost = np.where(ok, cost, np.inf).min(axis=0)
    any_ok = ok.any(axis=0)
    return any_ok, np.where(any_ok, best_cost, 0.0)


def sample_cells(rng: np.random.Generator, group: np.ndarray, weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw k cells per row from the distribution of its group (rows of ``weights``).

    Returns (cells [n, k], ok [n]) where ok is False for groups with no weight.
    """
    n_groups, n_cells = weights.shape
    tot = weights.sum(1)
    cum = np.cumsum(weights, axis=1) / np.where(tot > 0, tot, 1.0)[:, None]
    cum[tot > 0, -1] = 1.0
    flat = (cum + np.arange(n_groups)[:, None]).ravel()
    u = rng.random((group.size, k))
    pos = np.searchsorted(flat, group[:, None] + u, side="right")
    cells = np.clip(pos - group[:, None] * n_cells, 0, n_cells - 1)
    return cells, tot[group] > 0


def match(model, prm: dict, rng: np.random.Generator, seekers: np.ndarray, hazard: np.ndarray,
          max_time: np.ndarray, vac: np.ndarray, wage_cell: np.ndarray,
          decay: np.ndarray) -> dict[str, np.ndarray]:
    """One year of matching; ``vac`` ([poles, sectors, levels]) is decreased in place by the hires.

    Returns person indices and cells of hires inside AMP, persons hired
    outside AMP, and per-seeker counts of candidates refused for transport.
    """
    p, h = model.persons, model.households
    n_poles, n_sec, n_lev = vac.shape
    n_cells = n_poles * n_sec * n_lev
    fit = np.asarray(prm["skill_fit"], dtype=float).reshape(n_lev, n_lev)
    refused = np.zeros(seekers.size, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    out = {"hired": empty, "cell": empty, "outside": empty, "refused": refused, "offered": empty}
    if seekers.size == 0:
        return out
    arrive = rng.random(seekers.size) < 1.0 - np.exp(-hazard)
    outside = arrive & (rng.random(seekers.size) < prm["outside_amp_hire_share"])
    out["outside"] = seekers[outside]
    sel = np.flatnonzero(arrive & ~outside)            # positions in `seekers`
    out["offered"] = seekers[arrive]
    if sel.size == 0 or vac.sum() <= 0:
        return out
    who = seekers[sel]
    skill = np.clip(p.skill[who].astype(np.int64), 0, n_lev - 1)
    home = h.pole[p.hh[who]].astype(np.int64)
    W = decay[:, None, :, None, None] * np.maximum(vac, 0.0)[None, None] * fit[None, :, None, None, :]
    cells, ok = sample_cells(rng, home * n_lev + skill, W.reshape(n_poles * n_lev, n_cells),
                             int(prm["offers_per_seeker"]))
    k = cells.shape[1]
    cand_pos = np.repeat(np.arange(sel.size), k)[np.repeat(ok, k)]
    cand_cell = cells[ok].ravel()
    cand_person = who[cand_pos]
    clock = rng.exponential(size=cand_pos.size)   # drawn before the commute test: common random numbers
    pole = cand_cell // (n_sec * n_lev)
    wage = wage_cell.ravel()[cand_cell]
    accept, cost = acceptable(model, cand_person, pole, max_time[sel][cand_pos],
                              prm["max_commute_cost_share"] * wage)
    refused[sel] = np.bincount(cand_pos[~accept], minlength=sel.size)
    cand_pos, cand_cell, util, clock = cand_pos[accept], cand_cell[accept], (wage - cost)[accept], clock[accept]
    if cand_pos.size == 0:
        return out
    order, rank = _rank_within(cand_pos, -util, k)
    cand_pos, cand_cell, clock = cand_pos[order], cand_cell[order], clock[order]
    w_sel = h.weight[p.hh[who]]
    h_sel = hazard[sel]
    level = cand_cell % n_lev
    matched = np.full(sel.size, -1, dtype=np.int64)
    cap = np.maximum(vac.ravel().copy(), 0.0)
    for r in range(int(prm["matching_rounds"])):
        apps = np.flatnonzero((rank == r) & (matched[cand_pos] < 0))
        if apps.size == 0:
            break
        ap = cand_pos[apps]
        prio = h_sel[ap] * fit[skill[ap], level[apps]]
        keys = clock[apps] / np.maximum(prio, 1e-12)
        keep = fill_within_cells(cand_cell[apps], keys, w_sel[ap], cap)
        won = apps[keep]
        matched[cand_pos[won]] = cand_cell[won]
        cap -= np.bincount(cand_cell[won], weights=w_sel[cand_pos[won]], minlength=n_cells)
    hired = matched >= 0
    vac[...] = np.where(vac > 0, cap.reshape(vac.shape), vac)
    out["hired"], out["cell"] = who[hired], matched[hired]
    return out


def _rank_within(group: np.ndarray, key: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.lexsort((key, group))`` for a sorted ``group`` of at most ``k`` items each, and each item's rank.

    Sorts a dense [groups, k] table row by row (stable, so ties keep their
    order) instead of the whole sequence: the same order, faster.
    """
    starts = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    counts = np.diff(np.r_[starts, group.size])
    pos = np.arange(group.size) - np.repeat(starts, counts)
    table = np.full((starts.size, k), np.inf)
    table[np.repeat(np.arange(starts.size), counts), pos] = key
    o = np.argsort(table, axis=1, kind="stable")
    valid = np.arange(k)[None, :] < counts[:, None]
    order = (starts[:, None] + o)[valid]
    return order, pos


def wage_table(prm: dict) -> np.ndarray:
    """Expected net wage offer of each (sector, level), EUR/month."""
    lev = np.asarray(prm["wage_by_level"], dtype=float)
    sec = np.array([prm["wage_sector_factor"][s] for s in S.SECTORS])
    return sec[:, None] * lev[None, :]
