"""Housing stock dynamics: construction by pole, demolition, rehabilitation, degradation.

Stock is ``model.housing.stock[n_poles, 3 tenures, 2 sizes, 3 conditions]``
in real dwellings. Occupied units change condition together with their
occupants (a household's ``condition`` column moves with its dwelling), so
occupied <= stock holds cell by cell after every operation.
"""
from __future__ import annotations

import numpy as np

from .. import state as S
from ..params import ParameterError
from .housing_market import N_COND, N_SIZE, N_TEN, cell_index

DECENT, DEGRADED, SINK = 0, 1, 2
CENTRE_KINDS = ("metro_core", "urban")


def occupied(model, live: np.ndarray | None = None) -> np.ndarray:
    """Weighted households by (pole, tenure, size, condition), from the households' columns.

    ``live``: the live-household mask (``HousingState.live_mask``) when the caller already has it.

    During a housing step (between :func:`track_occupancy` and
    :func:`untrack_occupancy`) the per-household cell and weight columns are
    kept up to date where the step changes a household's dwelling, and the
    table is recounted only after a change: the same bincount of the same
    columns, so the same numbers. The returned array is then read-only.
    """
    st = model.housing
    if st._cell is not None:
        if st._occ is None:
            st._occ = _count(model, st._cell, st._w_occ)
            st._occ.flags.writeable = False
        return st._occ
    cell, w_occ = _cells(model, slice(None), st.live_mask(model) if live is None else live)
    return _count(model, cell, w_occ)


def _cells(model, rows: np.ndarray, live_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell index and occupying weight of ``rows`` (weight 0 unless the row is live and has a dwelling)."""
    h = model.households
    ten = h.tenure[rows]
    # tenure capped at 2 so the rows without a dwelling (weight 0) still fall in a valid cell
    cell = cell_index(h.pole[rows], np.minimum(ten, N_TEN - 1), h.size_class[rows], h.condition[rows])
    return cell, np.where(live_rows & (ten != S.NO_DWELLING), h.weight[rows], 0.0)


def _count(model, cell: np.ndarray, w_occ: np.ndarray) -> np.ndarray:
    # every row binned with its weight, 0 unless it occupies a dwelling (no gathers of the live rows)
    n_p = len(model.territory.ids)
    return np.bincount(cell, weights=w_occ, minlength=n_p * N_TEN * N_SIZE * N_COND).reshape(n_p, N_TEN, N_SIZE, N_COND)


def track_occupancy(model) -> None:
    """Start keeping the occupancy columns up to date (housing step; the live mask is fixed meanwhile)."""
    st = model.housing
    st._cell, st._w_occ = _cells(model, slice(None), st.live_mask(model))
    st._occ = None


def occupancy_changed(model, rows: np.ndarray) -> None:
    """``rows`` changed dwelling (pole, tenure, size, condition) or left: update their cell and weight."""
    st = model.housing
    if st._cell is None:
        return
    st._cell[rows], st._w_occ[rows] = _cells(model, rows, st.live_mask(model)[rows])
    st._occ = None


def untrack_occupancy(model) -> None:
    st = model.housing
    st._cell = st._w_occ = st._occ = None


def _by_pole_table(model, table: dict[str, float], key: str) -> np.ndarray:
    ids = model.territory.ids
    bad = sorted(set(table) - set(ids))
    if bad:
        raise ParameterError(f"housing: key '{key}': unknown pole id(s) {bad}; allowed: {ids}")
    return np.array([float(table.get(i, 0.0)) for i in ids])


def construct(model, prm, events: dict[str, float]) -> None:
    """New dwellings by pole: baseline trend placed on land available, centre share, social share."""
    st, terr = model.housing, model.territory
    n_p = len(terr.ids)
    centre = np.array([k in CENTRE_KINDS for k in terr.kind])
    land_m2 = prm["land_per_dwelling_m2"]
    rel = st.price_eur_m2 / st.price0_eur_m2
    supply = rel ** prm["supply_price_elasticity"]
    stock_p = st.stock.sum(axis=(1, 2, 3))
    mean_rel = float((rel * stock_p).sum() / max(stock_p.sum(), 1e-12))
    total = prm["construction_per_year"] * mean_rel ** prm["construction_price_elasticity"]
    pole_w = _by_pole_table(model, prm["construction_pole_weights"], "construction_pole_weights")
    pole_w = np.where(pole_w > 0, pole_w, 1.0) if prm["construction_pole_weights"] else np.ones(n_p)
    # centre share: renewal and densification of already urbanised land in centres (no new land)
    cw = stock_p * centre * supply * pole_w
    n_centre = prm["centre_construction_share"] * total * cw / max(cw.sum(), 1e-12)
    # the rest: greenfield, placed in proportion to the land still available, limited by it
    gw = st.land_ha_left * supply * pole_w
    n_green = (1 - prm["centre_construction_share"]) * total * gw / max(gw.sum(), 1e-12)
    n_green = np.minimum(n_green, st.land_ha_left * 1e4 / land_m2)
    land_used = n_green * land_m2 / 1e4
    st.land_ha_left = np.maximum(st.land_ha_left - land_used, 0.0)
    new = n_centre + n_green
    extra_social = _by_pole_table(model, prm["social_construction_extra_by_pole"], "social_construction_extra_by_pole")
    social = prm["social_share_new"] * new + extra_social
    private = new * (1 - prm["social_share_new"])
    by_ten = np.stack([private * prm["owner_share_new"], private * (1 - prm["owner_share_new"]), social], axis=1)
    small = prm["small_share_new"]
    st.stock[:, :, 0, DECENT] += by_ten * small
    st.stock[:, :, 1, DECENT] += by_ten * (1 - small)
    st.built_by_pole = by_ten.sum(1)
    events["dwellings_built"] = float(by_ten.sum())
    events["social_dwellings_built"] = float(social.sum())
    events["land_used_ha"] = float(land_used.sum())


def demolish(model, prm, events: dict[str, float]) -> None:
    """Demolition of vacant degraded / energy-sink units (never an occupied one)."""
    st = model.housing
    vac = np.maximum(st.stock - occupied(model), 0.0)
    target = prm["demolition_rate"] * st.stock[..., 1:]
    gone = np.minimum(target, vac[..., 1:])
    st.stock[..., 1:] -= gone
    events["dwellings_demolished"] = float(gone.sum())


def convert(model, rng, amount: np.ndarray, src: int, dst: int, occupying: np.ndarray | None = None) -> float:
    """Move ``amount[pole, tenure, size]`` dwellings from condition ``src`` to ``dst``.

    In each (pole, tenure, size) group a share f = amount / stock of the
    ``src`` units changes condition: each occupying household with
    probability f (with its dwelling), the vacant units by f. Returns the
    real units converted. ``occupying``: mask of the live households with a
    dwelling, when the caller has it.
    """
    st, h = model.housing, model.households
    stock_src = st.stock[..., src]
    f = np.clip(np.where(stock_src > 0, amount / np.maximum(stock_src, 1e-12), 0.0), 0.0, 1.0)
    if occupying is None:
        occupying = st.live_mask(model) & (h.tenure != S.NO_DWELLING)
    rows = np.flatnonzero(occupying & (h.condition == src))
    if st._cell is not None:
        # by the tracked cells (all of condition src): cell = group * 3 + src, so the sums by cell, read at
        # condition src, are the sums by (pole, tenure, size) group (no division of the cell index)
        key = st._cell[rows]
        f_key = np.repeat(f.reshape(-1), N_COND)
        n_key = stock_src.size * N_COND
    else:
        key = (h.pole[rows].astype(np.int64) * N_TEN + h.tenure[rows]) * N_SIZE + h.size_class[rows]
        f_key = f.reshape(-1)
        n_key = stock_src.size

    def by_group(k: np.ndarray, w: np.ndarray) -> np.ndarray:
        tot = np.bincount(k, weights=w, minlength=n_key)
        return (tot.reshape(-1, N_COND)[:, src] if n_key > stock_src.size else tot).reshape(stock_src.shape)

    is_hit = rng.random(rows.size) < f_key[key]
    hit = rows[is_hit]
    w = h.weight[rows]
    # households moved with their dwelling, summed in row order (as np.add.at)
    occ_moved = by_group(key[is_hit], w[is_hit])
    # households in ``src`` units (the rows above, before any changes condition), as occupied()[..., src]
    occ_src = by_group(key, w)
    vac_moved = f * np.maximum(stock_src - occ_src, 0.0)
    moved = np.minimum(occ_moved + vac_moved, stock_src)
    st.stock[..., src] -= moved
    st.stock[..., dst] += moved
    h.condition[hit] = dst
    occupancy_changed(model, hit)
    return float(moved.sum())


def rehabilitate(model, prm, rng, events: dict[str, float]) -> None:
    """Energy renovation (energy sinks first, then degraded units) and slow degradation."""
    st = model.housing
    budget = prm["rehab_per_year"]
    done = 0.0
    h = model.households
    occupying = st.live_mask(model) & (h.tenure != S.NO_DWELLING)     # (only conditions change below)
    for src in (SINK, DEGRADED):
        s = st.stock[..., src]
        tot = s.sum()
        if budget <= 0 or tot <= 0:
            continue
        take = min(budget, tot)
        done += convert(model, rng, s * (take / tot), src, DECENT, occupying)
        budget -= take
    events["dwellings_rehabilitated"] = done
    rate = prm["degradation_rate"]
    down = convert(model, rng, st.stock[..., DEGRADED] * rate, DEGRADED, SINK, occupying)
    down += convert(model, rng, st.stock[..., DECENT] * rate, DECENT, DEGRADED, occupying)
    events["dwellings_degraded"] = down


def resize(model, prm, events: dict[str, float]) -> None:
    """Landlords split vacant T3+ into studios/T2 where small rentals are scarcer than large ones.

    In each pole, when the vacancy rate of small private rentals is below
    that of large ones, a share ``resize_rate`` of the vacant large units in
    excess is re-let as small units, one for one (same condition), so the
    number of dwellings does not change.
    """
    st = model.housing
    vac = np.maximum(st.stock - occupied(model), 0.0)[:, S.PRIVATE_RENT]        # [pole, size, cond]
    stock = st.stock[:, S.PRIVATE_RENT]
    v_small = vac[:, 0].sum(-1) / np.maximum(stock[:, 0].sum(-1), 1e-12)
    v_large = vac[:, 1].sum(-1) / np.maximum(stock[:, 1].sum(-1), 1e-12)
    excess = np.maximum(v_large - v_small, 0.0) * stock[:, 1].sum(-1)              # large units in excess
    share = np.clip(prm["resize_rate"] * excess / np.maximum(vac[:, 1].sum(-1), 1e-12), 0.0, 1.0)
    moved = vac[:, 1] * share[:, None]
    st.stock[:, S.PRIVATE_RENT, 1] -= moved
    st.stock[:, S.PRIVATE_RENT, 0] += moved
    events["dwellings_split"] = float(moved.sum())
