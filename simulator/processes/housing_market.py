"""Housing market building blocks: household facts, costs, fitting, capacity-constrained placement.

Pure vectorised functions used by :mod:`simulator.processes.housing`; they
take arrays and parameter dicts and never touch the random state of
another process. Cell index of a dwelling: ``((pole * 3 + tenure) * 2 +
size) * 3 + condition`` over the stock array ``[n_poles, 3, 2, 3]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import state as S

N_TEN, N_SIZE, N_COND = 3, 2, 3


def cell_index(pole, tenure, size, cond) -> np.ndarray:
    return ((np.asarray(pole, np.int64) * N_TEN + tenure) * N_SIZE + size) * N_COND + cond


@dataclass
class Facts:
    """Per-household aggregates of the living members (recomputed when needed)."""

    members: np.ndarray   # persons
    adults: np.ndarray    # members aged 14+
    kids: np.ndarray      # members under 14
    income: np.ndarray    # EUR/month, sum of members' incomes
    cu: np.ndarray        # OECD-modified consumption units
    oldest: np.ndarray    # age of the oldest member
    live: np.ndarray      # bool: household alive with at least one living member
    income_cu: np.ndarray = None  # EUR/month per consumption unit (set on construction)

    def __post_init__(self) -> None:
        if self.income_cu is None:
            self.income_cu = self.income / np.maximum(self.cu, 1.0)


def household_facts(p, h, prm=None, alive: tuple | None = None) -> Facts:
    """Aggregates of living members; with ``prm``, young households' income includes family support.

    With ``prm`` the support is added before the income per consumption unit
    is computed (one division, no second Facts): the same numbers as
    ``with_family_support(household_facts(p, h), prm)``. ``alive``: (rows,
    household rows, ages, members per household) of the living persons when
    the caller already has them (a metrics pass), else computed here.
    """
    n = h.n
    if alive is None:
        al = np.flatnonzero(p.alive)    # (an index is cheaper than a boolean selection of ~95 % of the rows)
        hh = p.hh[al]
        age = p.age[al]
        members = np.bincount(hh, minlength=n)
    else:
        al, hh, age, members = alive
    # members under 14 (fewer than adults: a shorter count), their rows found on the whole columns
    kids = np.bincount(p.hh[np.flatnonzero(p.alive & (p.age < 14))], minlength=n)
    adults = members - kids
    income = np.bincount(hh, weights=p.income[al], minlength=n)
    cu = _consumption_units(adults, kids)
    oldest = np.zeros(n, dtype=np.int16)
    np.maximum.at(oldest, hh, age)
    live = h.alive & (members > 0)
    if prm is not None:
        _add_family_support(income, oldest, members, prm)
    # cu >= 1 by construction (1 for the first adult, or 1 + 0.3 per child without one): max(cu, 1) is cu
    return Facts(members, adults, kids, income, cu, oldest, live, income / cu)


def _consumption_units(adults: np.ndarray, kids: np.ndarray) -> np.ndarray:
    """``S.consumption_units(adults, kids)`` read from a table of the same formula over the (adults, kids)
    pairs present (the same float operations per pair, fewer passes over the households)."""
    na, nk = int(adults.max(initial=0)) + 1, int(kids.max(initial=0)) + 1
    tab = S.consumption_units(np.arange(na)[:, None], np.arange(nk)[None, :]).reshape(-1)
    key = adults * nk
    key += kids
    return tab[key]


def _add_family_support(income: np.ndarray, oldest: np.ndarray, members: np.ndarray, prm) -> None:
    """income += support where the household is young (oldest member at most the age limit), in place."""
    # an addition where young (adding 0.0 elsewhere changes nothing: income >= +0)
    young = oldest <= prm["family_support_max_age"]
    young &= members > 0
    np.add(income, prm["family_support_eur"] * 1.0, out=income, where=young)


def with_family_support(raw: Facts, prm) -> Facts:
    """The same facts with young households' income including family support (no second pass over persons)."""
    income = raw.income.copy()
    _add_family_support(income, raw.oldest, raw.members, prm)
    return Facts(raw.members, raw.adults, raw.kids, income, raw.cu, raw.oldest, raw.live)


def annuity(principal: np.ndarray, rate: float, years: float) -> np.ndarray:
    """Monthly payment of a fixed-rate loan."""
    r, n = rate / 12.0, years * 12.0
    if r <= 0:
        return principal / n
    return principal * r / (1.0 - (1.0 + r) ** -n)


def housing_aid(rent: np.ndarray, income_cu: np.ndarray, prm) -> np.ndarray:
    """Personal housing aid (APL-like) of renters, EUR/month: full share up to the floor, linear taper to the ceiling."""
    lo, hi = prm["apl_income_floor_cu"], prm["apl_income_ceiling_cu"]
    taper = np.clip((hi - income_cu) / max(hi - lo, 1e-9), 0.0, 1.0)
    return prm["apl_max_share"] * rent * taper


def energy_cost(size: np.ndarray, cond: np.ndarray, prm, year_index: float) -> np.ndarray:
    table = np.asarray(prm["energy_cost_eur_month"]).reshape(N_COND, N_SIZE)
    return table[cond, size] * (1.0 + prm["energy_price_growth"]) ** year_index


def fit_draw(prior: np.ndarray, key: np.ndarray, group: np.ndarray, w: np.ndarray, targets: np.ndarray,
             rng: np.random.Generator, iterations: int) -> np.ndarray:
    """Draw one category per row so that weighted totals per group approach ``targets``.

    ``prior`` [K, k] preferences of K row types, ``key`` [n] row type,
    ``group`` [n] group index (pole), ``targets`` [G, k] wanted totals
    (rescaled to each group's weight). Iterative proportional fitting of
    group x category factors b on the aggregated (group, type) weights: the
    probability of a row for category c is prior[key, c] b[group, c]
    normalised over c.
    """
    G, k = targets.shape
    K = prior.shape[0]
    W = np.bincount(group * K + key, weights=w, minlength=G * K).reshape(G, K)
    tot = W.sum(1)
    tgt = targets / np.maximum(targets.sum(1, keepdims=True), 1e-12) * tot[:, None]
    b = np.ones((G, k))
    for _ in range(iterations):
        q = prior[None, :, :] * b[:, None, :]                       # [G, K, k]
        q /= np.maximum(q.sum(2, keepdims=True), 1e-300)
        col = (W[:, :, None] * q).sum(1)
        b *= np.where(col > 0, tgt / np.maximum(col, 1e-300), 1.0)
    q = prior[None, :, :] * b[:, None, :]
    cum = np.cumsum(q, axis=2)
    cum /= np.maximum(cum[:, :, -1:], 1e-300)
    c = cum[group, key]                                               # [n, k]
    return np.minimum((rng.random(group.size)[:, None] > c).sum(1), k - 1)


def place(cells: np.ndarray, w: np.ndarray, priority: np.ndarray, vacant: np.ndarray,
          order: np.ndarray | None = None) -> np.ndarray:
    """Accept candidates into cells without over-filling them; returns the accepted mask.

    Within each cell candidates are taken by decreasing priority while the
    cumulative weight fits the vacant units (an agent fits whole or not).
    ``vacant`` (flat, real units) is decreased in place by what is taken.
    ``order`` (optional) is ``np.argsort(-priority, kind="stable")`` when the
    caller already has it (one sort of the social queue serves both rounds).
    """
    if cells.size == 0:
        return np.zeros(0, dtype=bool)
    # the order of np.lexsort((-priority, cells)) in two stable sorts, the second a radix sort of small ints
    if order is None:
        order = np.argsort(-priority, kind="stable")
    small = np.int16 if cells.max() < np.iinfo(np.int16).max else np.int64
    order = order[np.argsort(cells[order].astype(small), kind="stable")]
    return _take_in_order(cells, w, vacant, order)


def place_uniform(cells: np.ndarray, w: np.ndarray, u: np.ndarray, vacant: np.ndarray) -> np.ndarray:
    """:func:`place` for priorities ``u`` drawn by ``Generator.random`` (float64 multiples of 2^-53 in [0, 1)).

    Same result as ``place(cells, w, u, vacant)``: the lexicographic order
    (cell, decreasing u, row) is one sort of the integer key
    cell * 2^53 + (2^53 - 1 - u 2^53) (exact: u 2^53 is an integer below
    2^53, cells < 2^10); the quicksort is taken only when the keys are all
    distinct (then every sort gives the same order), else the stable one.
    """
    if cells.size == 0:
        return np.zeros(0, dtype=bool)
    c = np.asarray(cells, np.int64)
    if c.max() >= 1 << 10:
        return place(cells, w, u, vacant)
    key = (c << 53) | ((1 << 53) - 1 - (u * 2.0 ** 53).astype(np.int64))
    return _take_in_order(cells, w, vacant, _order_packed(key, int(c.max()).bit_length() + 53))


def _order_packed(key: np.ndarray, key_bits: int) -> np.ndarray:
    """``stable_argsort(key)`` for non-negative keys below 2^key_bits, by a sort of values (cheaper than an
    argsort): the row number is packed in the low bits under the key's leading bits. Where two keys agree on
    the bits kept, the packed order may not be the key order: the exact argsort is taken then (rare)."""
    ib = max(int(key.size - 1).bit_length(), 1)
    drop = key_bits + ib - 63                       # low bits of the key left out to make room for the row
    if drop <= 0 or drop >= key_bits:
        return stable_argsort(key)
    packed = key >> drop
    packed <<= ib
    packed |= np.arange(key.size, dtype=np.int64)
    packed.sort()
    hi = packed >> ib
    if np.any(hi[1:] == hi[:-1]):
        return stable_argsort(key)
    return packed & ((1 << ib) - 1)


def stable_argsort(a: np.ndarray) -> np.ndarray:
    """``np.argsort(a, kind="stable")``, by the faster default sort when the values are all distinct and
    not NaN (then every sort gives the same order); the stable sort otherwise."""
    order = np.argsort(a)
    s = a[order]
    if s.size and (np.any(s[1:] == s[:-1]) or (s.dtype.kind == "f" and np.isnan(s[-1]))):
        order = np.argsort(a, kind="stable")
    return order


def _take_in_order(cells: np.ndarray, w: np.ndarray, vacant: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Acceptance of :func:`place` once candidates are sorted by (cell, decreasing priority)."""
    c, ww = cells[order], w[order]
    cs = np.cumsum(ww)
    start = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    first = np.repeat(start, np.diff(np.r_[start, c.size]))
    within = cs - (cs[first] - ww[first])
    ok_sorted = within <= vacant[c] + 1e-9
    ok = np.empty_like(ok_sorted)
    ok[order] = ok_sorted
    np.subtract.at(vacant, cells[ok], w[ok])
    np.maximum(vacant, 0.0, out=vacant)
    return ok


def draw_condition(vac_ts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw a condition for each row in proportion to the vacant units by condition ([n, 3])."""
    cum = np.cumsum(vac_ts, axis=1)
    tot = cum[:, -1:]
    u = rng.random(vac_ts.shape[0])[:, None] * np.maximum(tot, 1e-300)
    return np.minimum((u > cum).sum(1), N_COND - 1)


def draw_condition_cells(vacant: np.ndarray, cell0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """:func:`draw_condition` of ``vacant[cell0 + (0, 1, 2)]`` (flat vacant units, ``cell0`` the cells of
    condition 0), without building the [n, 3] table: the same cumulative sums, draws and comparisons."""
    c0 = vacant[cell0]
    c1 = c0 + vacant[cell0 + 1]
    c2 = c1 + vacant[cell0 + 2]
    u = rng.random(cell0.size) * np.maximum(c2, 1e-300)
    out = (u > c0).astype(np.int64)
    out += u > c1
    out += u > c2
    return np.minimum(out, N_COND - 1, out=out)


def draw_from_cdf(rng: np.random.Generator, q: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``rng.choice(q.size, size=shape, p=q)`` (same draws, same result), faster for a short ``q``.

    numpy draws ``rng.random(shape)`` and takes ``cdf.searchsorted(u, "right")``
    with ``cdf = q.cumsum() / q.cumsum()[-1]``; here the answer is read from a
    table over 4,096 equal steps of u, exact for the steps that hold no cdf
    value, and searched as numpy does for the few draws in the other steps
    (u 4096 is exact for u in [0, 1): a power of two).
    """
    cdf = q.cumsum()
    cdf /= cdf[-1]
    u = rng.random(shape)
    G = 4096
    edges = np.arange(G + 1) / G
    lo = cdf.searchsorted(edges[:-1], side="right")            # answer at the start of each step
    mixed = cdf.searchsorted(edges[1:], side="left") > lo      # some cdf value inside the step (or at its end)
    tab = np.where(mixed, -1, lo)                              # the answer, -1 for the steps to search
    u = u.reshape(-1)
    u *= G
    idx = tab[u.astype(np.intp)]
    amb = np.flatnonzero(idx < 0)
    idx[amb] = cdf.searchsorted(u[amb] / G, side="right")
    return idx.astype(np.int64, copy=False).reshape(shape)
