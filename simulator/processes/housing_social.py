"""Housing: the social-housing queue and allocation, and young adults returning to their parents.

Part of the housing process (simulator.processes.housing): eligibility by
income per consumption unit, a queue with priorities and seniority, yearly
allocation of the vacant social units (own pole first, then the nearest
pole within a radius), and the rule for young adults who left home but
found no dwelling. See docs/process_housing.md.
"""
from __future__ import annotations

import numpy as np

from .. import state as S
from . import housing as H
from . import housing_stock as HS
from .housing_market import N_COND, N_SIZE, N_TEN, Facts, cell_index, draw_condition_cells, place, stable_argsort


def _back_to_parents(model) -> float:
    """Young adults who left home this year but found no dwelling return to their parents' household.

    The parents' household is the one the person belonged to at the end of
    the previous housing step. If it no longer exists, the young adult's
    household stays "without a dwelling" (hosted) and searches again.
    The cached live mask (if any) is updated: the returning households are
    no longer live, their parents' households were and stay live.
    """
    p, h, st = model.persons, model.households, model.housing
    live = H.HousingState.live_mask(model)
    par = st.parent_hh[: h.n].copy()
    st.parent_hh[: h.n] = -1
    back = np.flatnonzero(live & (h.tenure == S.NO_DWELLING) & (par >= 0))
    back = back[live[par[back]]]
    if back.size == 0:
        return 0.0
    target = np.full(h.n, -1, dtype=np.int64)
    target[back] = par[back]
    is_back = np.zeros(h.n, dtype=bool)
    is_back[back] = True
    # their living members: only persons of households numbered from the first returning one can be
    # (an integer comparison over the persons, then lookups on those few rows; the same rows in order)
    cand = np.flatnonzero(p.hh >= back[0])
    mem = cand[is_back[p.hh[cand]] & p.alive[cand]]
    p.hh[mem] = target[p.hh[mem]]
    h.alive[back] = False
    if st._live is not None:
        st._live = live.copy()
        st._live[back] = False
        # (no occupancy change: households without a dwelling occupy no unit, before and after)
    st.in_queue[back] = False
    h.years_waiting[back] = 0.0
    return float(h.weight[back].sum())


def _update_queue(model, prm, rng, facts: Facts, initial: bool = False, b: np.ndarray | None = None) -> None:
    """Households in need and eligible join the queue (at a yearly rate), the others leave it.

    ``b``: the households' burden (H.burden) when the caller has it.
    """
    h, st = model.households, model.housing
    live = facts.live
    eligible = live & (facts.income_cu <= prm["social_ceiling_eur_cu"])
    b = H.burden(model, facts) if b is None else b
    overcrowded = (h.size_class == 0) & (facts.members >= prm["large_need_members"])
    need = eligible & (h.tenure != S.SOCIAL_RENT) & (
        (b > prm["queue_burden_threshold"]) | (h.condition != 0) | overcrowded | (h.tenure == S.NO_DWELLING))
    # (row indices rather than boolean masks: the queue is a small share of the households)
    leave = np.flatnonzero(st.in_queue & ~need)
    st.in_queue[leave] = False
    h.years_waiting[leave] = 0.0
    if not initial:
        h.years_waiting[np.flatnonzero(st.in_queue[: h.n])] += np.float32(1.0)
    join = np.flatnonzero(need & ~st.in_queue & (rng.random(h.n) < prm["queue_application_rate"]))
    st.in_queue[join] = True
    h.years_waiting[join] = rng.exponential(prm["initial_wait_years"], join.size) if initial else 0.0



def _allocate_social(model, prm, rng, facts: Facts, events: dict[str, float]) -> None:
    """Vacant social units go to queued households by priority: own pole first, then nearby poles."""
    h, st, terr = model.households, model.housing, model.territory
    n_p = len(terr.ids)
    vacant = np.maximum(st.stock - HS.occupied(model), 0.0).reshape(-1)
    pw = np.asarray(prm["priority_weights"])  # poor, without dwelling, overcrowded, degraded
    q = np.flatnonzero(st.in_queue & facts.live)
    st.allocations, st.wait_at_allocation = 0.0, float("nan")
    if q.size == 0:
        events["social_allocations"] = 0.0
        return
    poor = facts.income_cu[q] < model.params["population"]["poverty_line_eur_cu"]
    need = H._need_size(facts, q, prm)
    prio = (h.years_waiting[q] + pw[0] * poor + pw[1] * (h.tenure[q] == S.NO_DWELLING)
            + pw[2] * ((h.size_class[q] == 0) & (facts.members[q] >= prm["large_need_members"]))
            + pw[3] * (h.condition[q] != 0)
            + rng.random(q.size) * 1e-3)
    by_prio = stable_argsort(-prio)   # queue positions by decreasing priority (ties: queue order)
    car = H._times(model)[H.CAR]
    placed = np.zeros(q.size, dtype=bool)
    waits, weights = [], []
    for rnd in range(2):
        vs = vacant.reshape(n_p, N_TEN, N_SIZE, N_COND)[:, S.SOCIAL_RENT]     # [pole, size, cond]
        if rnd == 0:
            tgt = h.pole[q].astype(np.int64)
        else:
            has = vs.sum((1, 2)) > 0
            near = np.full(n_p, -1)
            for i in range(n_p):
                cand = np.flatnonzero(has & (car[i] <= prm["social_offer_radius_min"]))
                cand = cand[cand != i]
                if cand.size:
                    near[i] = cand[np.argmin(car[i, cand])]
            tgt = near[h.pole[q]]
        todo = np.flatnonzero(~placed & (tgt >= 0))
        if todo.size == 0:
            continue
        j = tgt[todo]
        # vacant social units by (pole, size): the row sums of the same contiguous [., 3] rows as vs[j, size]
        vs_tot = np.ascontiguousarray(vs).reshape(n_p * N_SIZE, N_COND).sum(-1)
        s = np.where(vs_tot[j * N_SIZE + need[todo]] >= h.weight[q[todo]], need[todo], 1 - need[todo])
        c = draw_condition_cells(vacant, cell_index(j, S.SOCIAL_RENT, s, 0), rng)
        # argsort(-prio[todo], stable) from the one sort of the queue: todo is increasing, so its
        # positions in the queue order keep their relative order
        if todo.size == q.size:
            order = by_prio
        else:
            at = np.full(q.size, -1)
            at[todo] = np.arange(todo.size)
            order = at[by_prio]
            order = order[order >= 0]
        acc = place(cell_index(j, S.SOCIAL_RENT, s, c), h.weight[q[todo]], prio[todo], vacant, order=order)
        rows = q[todo[acc]]
        if rows.size == 0:
            continue
        placed[todo[acc]] = True
        elig = facts.income_cu[rows] <= prm["social_ceiling_eur_cu"]
        st.eligibility_violations += float(h.weight[rows][~elig].sum())
        waits.append(h.years_waiting[rows].astype(np.float64))
        weights.append(h.weight[rows])
        st.entry_income_cu[rows] = facts.income_cu[rows]
        st.moves_in += np.bincount(j[acc], weights=h.weight[rows], minlength=n_p)
        h.pole[rows], h.tenure[rows], h.size_class[rows], h.condition[rows] = j[acc], S.SOCIAL_RENT, s[acc], c[acc]
        HS.occupancy_changed(model, rows)
        st.loan[rows] = 0.0
        st.in_queue[rows] = False
        h.years_waiting[rows] = 0.0
        H.update_costs(model, prm, facts, rows)
    if waits:
        wv, ww = np.concatenate(waits), np.concatenate(weights)
        st.allocations = float(ww.sum())
        st.wait_at_allocation = float((wv * ww).sum() / ww.sum())
    events["social_allocations"] = st.allocations
