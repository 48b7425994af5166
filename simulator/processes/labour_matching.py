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
    order = _lexsort_small(keys, cells)
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


def _lexsort_small(keys: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """``np.lexsort((keys, cells))`` (by cell, then key, ties in input order) for non-negative integer cells.

    lexsort is a stable sort by key then a stable sort by cell; here the sort
    by key is a quicksort (ties, which would need the stable sort, are
    checked for and then sorted stably) and the sort by cell a radix sort of
    16-bit integers when the cells fit: the same permutation, faster.
    """
    o = np.argsort(keys)
    sk = keys[o]
    if np.any(sk[1:] == sk[:-1]) or np.isnan(sk[-1]):
        o = np.argsort(keys, kind="stable")
    c = cells[o]
    if np.iinfo(np.int16).min <= c.min() and c.max() <= np.iinfo(np.int16).max:
        c = c.astype(np.int16)
    return o[np.argsort(c, kind="stable")]


def acceptable(model, persons: np.ndarray, poles: np.ndarray, max_time: np.ndarray,
               max_cost: np.ndarray, home: np.ndarray | None = None,
               of: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Whether some available mode reaches the pole within the person's time and cost limits.

    Uses the mobility process's skims (``model.commute.time`` / ``.cost_month``,
    [5, n, n]), its ``available_modes`` on each (person, pole) pair (so a
    person without a car rides as a carpool passenger only where they find a
    driver, as in the mode choice) and the transit aid
    ``model.mobility_aid_eur_month``. Returns (ok, monthly cost of the
    cheapest acceptable mode), one per candidate. Without a mobility process
    nothing is refused for transport and the cost is 0.

    ``persons``, ``max_time`` (min) and ``home`` (home poles, read from the
    households if not given) are per person; ``poles`` and ``max_cost``
    (EUR/month) per candidate, candidate i being person ``of[i]`` (default:
    one candidate per person).

    The cheapest mode within the time limit only depends on (home pole, job
    pole, set of available modes, time limit, aid), a few thousand classes:
    it is tabulated once per call, then each candidate reads its class
    (cheaper than judging 5 modes per candidate). A candidate is acceptable
    iff that cheapest cost is within its cost limit (if the cheapest mode
    costs too much, so do all the others), so the result is the same as
    testing each mode.
    """
    mob = model.processes.get("mobility")
    c = getattr(model, "commute", None)
    k = poles.size
    if mob is None or c is None or k == 0:
        return np.ones(k, dtype=bool), np.zeros(k)
    p, h = model.persons, model.households
    if of is None:
        of = np.arange(k)
    cand_person = persons[of]
    d = np.asarray(poles, dtype=np.int64)
    if not hasattr(mob, "available_modes"):
        _, t, cost, _ = mob.best_commute(model, cand_person, d)
        ok = np.isfinite(t) & (t <= max_time[of]) & (cost <= max_cost)
        return ok, np.where(ok, cost, 0.0)
    o = np.asarray(h.pole[p.hh[persons]] if home is None else home, dtype=np.int64)    # per person
    # available modes as bits (mode m -> 2**m). Car, bike, walk and transit do not depend on the job pole:
    # one call per person (without job poles carpool is listed as available). Carpool depends on the pole
    # only for persons without car access (a driver found on that OD, mobility's no_carpool_driver, which
    # available_modes applies to them); with car access it is available. So the driver test is made on the
    # candidates of persons without car access only, and their carpool bit cleared where they find no
    # driver: the bits of available_modes on every candidate, without its per-candidate passes.
    avail_p = np.ascontiguousarray(mob.available_modes(model, persons), dtype=bool)      # [persons, 5]
    n_modes = avail_p.shape[1]
    if n_modes <= 8:
        bits_p = (avail_p.view(np.uint8) @ (1 << np.arange(n_modes)).astype(np.uint8)).astype(np.int64)
    else:
        bits_p = avail_p.astype(np.int64) @ (1 << np.arange(n_modes))
    cp_mode = S.MODES.index("carpool")
    no_car = np.flatnonzero(~avail_p[:, S.MODES.index("car")][of])                      # candidates
    # always called (also with no such candidate), as before: the driver draws of new persons are made here
    of_nc = of[no_car]
    no_cp = no_car[mob.no_carpool_driver(model, cand_person[no_car], o[of_nc], d[no_car], c.carpool_avail,
                                         p.hh[persons][of_nc])]
    t_val, t_cls = _few_values(np.asarray(max_time, dtype=float))
    aid_all = np.asarray(getattr(model, "mobility_aid_eur_month", np.zeros(0)), dtype=float)
    if persons.size and persons.max() < aid_all.size:
        aid = aid_all[persons]
    else:
        aid = np.zeros(persons.size)
        inside = persons < aid_all.size
        aid[inside] = aid_all[persons[inside]]
    a_val, a_cls = _few_values(aid)
    # table [bits, time limit, aid, o, d]: monthly cost of the cheapest usable mode (inf: none)
    n = c.time.shape[1]
    t = np.asarray(c.time)                                                  # [5, n, n] min
    cost = np.broadcast_to(np.asarray(c.cost_month, dtype=float), (a_val.size, n_modes, n, n)).copy()
    tr = S.MODES.index("transit")
    cost[:, tr] = np.maximum(cost[:, tr] - a_val[:, None, None], 0.0)       # [aid, 5, n, n] EUR/month
    usable = (np.arange(2 ** n_modes)[:, None] >> np.arange(n_modes)[None, :]) & 1 > 0    # [bits, 5]
    ok = usable[:, None, None, :, None, None] \
        & np.isfinite(t)[None, None, None] & np.isfinite(cost)[None, None] \
        & (t[None, None, None] <= t_val[None, :, None, None, None, None])    # [bits, time, aid, 5, n, n]
    table = np.where(ok, cost[None, None], np.inf).min(axis=3)              # [bits, time, aid, n, n]
    # flat index ((((bits, time), aid), o), d): the part of each person computed once per person
    stride = t_val.size * a_val.size * n * n                                # of one bits value
    person_part = bits_p * stride + ((t_cls * a_val.size + a_cls) * n + o) * n
    flat = person_part[of] + d
    flat[no_cp] -= (1 << cp_mode) * stride                                  # no carpool driver on that OD
    best = table.ravel()[flat]
    any_ok = best <= max_cost
    return any_ok, np.where(any_ok, best, 0.0)


def _few_values(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, index of each element's value), fast when x takes at most two values."""
    if x.size == 0:
        return np.zeros(1), np.zeros(0, dtype=np.int64)
    lo, hi = x.min(), x.max()
    is_hi = x == hi
    if lo == hi:
        return np.array([lo]), np.zeros(x.size, dtype=np.int64)
    if np.all(is_hi | (x == lo)):
        return np.array([lo, hi]), is_hi.astype(np.int64)
    val, inv = np.unique(x, return_inverse=True)
    return val, inv.ravel()


def sample_cells(rng: np.random.Generator, group: np.ndarray, weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw k cells per row from the distribution of its group (rows of ``weights``).

    Returns (cells [n, k], ok [n]) where ok is False for groups with no weight.

    Inverse transform sampling: the draw ``x = group + u`` (u uniform in [0, 1))
    falls at ``pos = searchsorted(flat, x, "right")`` = number of entries of the
    groups' cumulative distributions laid end to end (``flat``) that are <= x.
    Rather than a binary search per draw, the axis is cut into buckets of
    width 1/B (exact binary fractions): for each bucket the counts of entries
    <= its left edge (``lo``) and < its right edge (``hi``) are tabulated; a
    draw in a bucket where they agree takes that count (no entry between the
    edges), the few others (a distribution step inside their bucket) are
    searched. Same indices as searching every draw, a few times faster.
    """
    n_groups, n_cells = weights.shape
    tot = weights.sum(1)
    cum = np.cumsum(weights, axis=1) / np.where(tot > 0, tot, 1.0)[:, None]
    cum[tot > 0, -1] = 1.0
    flat = (cum + np.arange(n_groups)[:, None]).ravel()
    u = rng.random((group.size, k))
    x = group[:, None] + u
    B = 4096                                   # buckets per unit of x (a power of 2: j / B and x * B are exact)
    m = n_groups * B + 2
    if x.size * 4 < m:                         # few draws (small scales): the tables would cost more than searching
        pos = np.searchsorted(flat, x, side="right")
        return np.clip(pos - group[:, None] * n_cells, 0, n_cells - 1), tot[group] > 0
    fB = flat * B
    lo = np.cumsum(np.bincount(np.ceil(fB).astype(np.int64), minlength=m)[:m])       # lo[j] = #(flat <= j / B)
    hi = np.cumsum(np.bincount(np.floor(fB).astype(np.int64) + 1, minlength=m)[:m])  # hi[j] = #(flat < j / B)
    # one small table: the count in bucket j if lo[j] = hi[j + 1], else -1 (search that draw)
    count = np.where(lo[:-1] == hi[1:], lo[:-1], -1).astype(np.int32 if flat.size < 2 ** 31 else np.int64)
    j = (x * B).astype(np.int64)               # bucket of each draw: j / B <= x < (j + 1) / B
    pos = count[j].astype(np.int64)
    amb = np.flatnonzero(pos < 0)
    pos.ravel()[amb] = np.searchsorted(flat, x.ravel()[amb], side="right")
    cells = np.clip(pos - group[:, None] * n_cells, 0, n_cells - 1)
    return cells, tot[group] > 0


def match(model, prm: dict, rng: np.random.Generator, seekers: np.ndarray, hazard: np.ndarray,
          max_time: np.ndarray, vac: np.ndarray, wage_cell: np.ndarray,
          decay: np.ndarray, weight: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """One year of matching; ``vac`` ([poles, sectors, levels]) is decreased in place by the hires.

    ``weight``: real weights of the seekers if the caller has them (else read from the households).

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
    clock = rng.exponential(size=cand_pos.size)   # drawn before the commute test: common random numbers
    pole = cand_cell // (n_sec * n_lev)
    wage = wage_cell.ravel()[cand_cell]
    accept, cost = acceptable(model, who, pole, max_time[sel], prm["max_commute_cost_share"] * wage,
                              home=home, of=cand_pos)
    refused[sel] = np.bincount(cand_pos[~accept], minlength=sel.size)
    # each seeker's acceptable candidates, highest wage net of commute cost first (candidates are [seekers, k])
    order, rank = _order_by_row(-(wage - cost).reshape(-1, k), accept.reshape(-1, k))
    cand_pos, cand_cell, clock = cand_pos[accept], cand_cell[accept], clock[accept]
    if cand_pos.size == 0:
        return out
    cand_pos, cand_cell, clock = cand_pos[order], cand_cell[order], clock[order]
    w_sel = h.weight[p.hh[who]] if weight is None else weight[sel]
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


def _order_by_row(key: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort the valid entries of a [n, k] table by row, then key (ties in column order); each one's rank in its row.

    The valid entries are taken row by row (row-major, as ``key[valid]``);
    returns (order, rank) with order = ``np.lexsort((key[valid], row[valid]))``
    and rank = the position of each entry among the valid ones of its row
    (so, after sorting, the rank of the entry in each sorted slot). For each
    pair of columns i < j, entry i sorts before entry j if its key is smaller
    or equal (a stable sort), else j before i: an entry's count is its rank
    among the sorted entries of its row. For a small k these k (k-1) / 2
    vectorised comparisons are cheaper than sorting each row. Valid keys must
    be finite (invalid entries are set to +inf and sort after them).
    """
    n, k = key.shape
    t = np.where(valid, key, np.inf).T.copy()                  # [k, n]: contiguous columns
    sorted_rank = np.zeros((k, n), dtype=np.int64)
    for i in range(k):
        for j in range(i + 1, k):
            i_first = t[i] <= t[j]
            sorted_rank[j] += i_first
            sorted_rank[i] += ~i_first
    # rank of each entry among the valid ones of its row (the valid entries of the columns before it),
    # column by column on [k, n] arrays: a sum or cumsum along rows of k entries is several times slower
    v = np.ascontiguousarray(valid.T)
    rank_t = np.zeros((k, n), dtype=np.int64)
    for j in range(1, k):
        np.add(rank_t[j - 1], v[j - 1], out=rank_t[j])
    counts = rank_t[k - 1] + v[k - 1]
    start = np.cumsum(counts) - counts                          # first slot of each row among the valid entries
    sorted_rank += start                                        # sorted slot of each entry
    sel = np.flatnonzero(valid.ravel())                        # the valid entries, row by row
    dest = np.ascontiguousarray(sorted_rank.T).ravel()[sel]
    order = np.empty(dest.size, dtype=np.int64)
    order[dest] = np.arange(dest.size)
    rank = np.ascontiguousarray(rank_t.T).ravel()[sel]
    return order, rank


def wage_table(prm: dict) -> np.ndarray:
    """Expected net wage offer of each (sector, level), EUR/month."""
    lev = np.asarray(prm["wage_by_level"], dtype=float)
    sec = np.array([prm["wage_sector_factor"][s] for s in S.SECTORS])
    return sec[:, None] * lev[None, :]
