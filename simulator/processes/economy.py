"""Economy: job positions by pole, sector and skill level, and their yearly net creation.

State (``model.economy``, an :class:`EconomyState`):

* ``positions[pole, sector, level]``: job positions in real units (level =
  low / mid / high skill, ``state.SKILL``);
* ``external[pole, sector, level]``: positions held by workers who live
  outside AMP (in-commuters; filled by the labour process).

``model.jobs`` is kept equal to ``positions.sum(-1)`` (``[n_poles,
n_sectors]``, the contract other processes read).

At ``init`` the 735,000 positions of the territory (FACTS.md ECO-3) are split
by skill level so that every position held by a resident keeps its holder's
level and the vacant positions of a (pole, sector) cell take the skill mix
of the cell's sector. Each ``step`` adds the trend's net creation (6,500
jobs/yr, FACTS.md ECO-1/ECO-2) and the engagement levers' extra jobs:

    Δ_s      = N · J_s r_s / Σ_s' J_s' r_s'                (sector trend)
    Δ_{j,s}  = Δ_s · J_{j,s} k_kind(j) / Σ_j' J_{j',s} k_kind(j')   (pole split)
    E_{j,s}  = extra_s · w_j J_{j,s} / Σ_j' w_j' J_{j',s}  (engagement levers)

New positions are split by level with ``new_jobs_skill_mix`` (and
``extra_jobs_skill_mix``); negative creation removes vacant positions first,
then held ones (the labour process lays off the holders of over-full cells).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import state as S
from ..params import ParameterError, spec
from ..territory import KINDS

N_LEVELS = len(S.SKILL)

SPECS = {
    "net_job_creation": spec("jobs/yr", -50_000, 100_000,
                             doc="trend net creation of job positions per year, whole AMP"),
    "sector_trend_growth": spec("1/yr", -0.2, 0.2, kind="table", choices=S.SECTORS,
                                doc="relative trend growth rate of each sector (pattern of the net creation)"),
    "pole_kind_growth": spec("1", 0, 10, kind="table", choices=KINDS,
                             doc="weight of a pole's kind in locating a sector's new positions"),
    "new_jobs_skill_mix": spec("1", 0, 1, kind="list", length=N_LEVELS,
                               doc="low/mid/high shares of newly created positions"),
    "extra_jobs_per_year_by_sector": spec("jobs/yr", -50_000, 100_000, kind="table", choices=S.SECTORS,
                                          doc="engagement lever: extra net creation per sector"),
    "extra_jobs_pole_weights": spec("1", 0, 1e6, kind="table",
                                    doc="engagement lever: pole id -> weight for the extra jobs (empty = like the trend)"),
    "extra_jobs_skill_mix": spec("1", 0, 1, kind="list", length=N_LEVELS,
                                 doc="low/mid/high shares of the extra jobs"),
}


@dataclass
class EconomyState:
    positions: np.ndarray                 # [n_poles, n_sectors, 3] real positions
    external: np.ndarray                  # [n_poles, n_sectors, 3] held by in-commuters
    created_last: float = 0.0             # net positions created in the last step
    history: dict[int, float] = field(default_factory=dict)  # year -> total positions


# ------------------------------------------------------------------ helpers
def resident_filled(model) -> np.ndarray:
    """Positions held by residents, [n_poles, n_sectors, 3], real units."""
    p, h = model.persons, model.households
    n_poles, n_sec = model.territory.jobs.shape
    lab = getattr(model, "labour", None)
    level = lab.job_level[: p.n] if lab is not None and lab.job_level.size >= p.n else p.skill
    held = p.alive & (p.status == S.EMPLOYED) & (p.job_pole >= 0) & (p.sector >= 0)
    idx = np.flatnonzero(held)
    cell = (p.job_pole[idx].astype(np.int64) * n_sec + p.sector[idx]) * N_LEVELS + np.clip(level[idx], 0, 2)
    w = h.weight[p.hh[idx]]
    return np.bincount(cell, weights=w, minlength=n_poles * n_sec * N_LEVELS).reshape(n_poles, n_sec, N_LEVELS)


def _mix(values, where: str) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    if a.sum() <= 0:
        raise ParameterError(f"economy: key '{where}' must have a positive sum")
    return a / a.sum()


def _pole_weights(model, table: dict[str, float], key: str) -> np.ndarray | None:
    if not table:
        return None
    ids = model.territory.ids
    unknown = sorted(set(table) - set(ids))
    if unknown:
        raise ParameterError(f"economy: key '{key}': unknown pole id(s) {unknown}; allowed: {ids}")
    return np.array([table.get(i, 0.0) for i in ids], dtype=float)


def _spread(total_by_sector: np.ndarray, base: np.ndarray, pole_w: np.ndarray) -> np.ndarray:
    """Split per-sector totals over poles ∝ base[j, s] · pole_w[j] (uniform ∝ pole_w if a sector is empty)."""
    wts = base * pole_w[:, None]
    col = wts.sum(0)
    empty = col <= 0
    if empty.any():
        wts[:, empty] = pole_w[:, None]
        col = wts.sum(0)
    return wts / np.where(col > 0, col, 1.0) * total_by_sector[None, :]


def _add(st: EconomyState, delta: np.ndarray, mix: np.ndarray, held: np.ndarray) -> None:
    """Add delta[j, s] positions (split by ``mix``); negative deltas remove vacant positions first."""
    pos = st.positions
    up = np.maximum(delta, 0.0)
    pos += up[:, :, None] * mix[None, None, :]
    cut = np.maximum(-delta, 0.0)
    if not cut.any():
        return
    vac = np.maximum(pos - held, 0.0)
    vsum = vac.sum(-1)
    from_vac = np.minimum(cut, vsum)
    share_v = np.where(vsum[..., None] > 0, vac / np.where(vsum > 0, vsum, 1.0)[..., None], 0.0)
    pos -= from_vac[..., None] * share_v
    rest = cut - from_vac
    psum = pos.sum(-1)
    share_p = np.where(psum[..., None] > 0, pos / np.where(psum > 0, psum, 1.0)[..., None], 0.0)
    pos -= np.minimum(rest, psum)[..., None] * share_p
    np.maximum(pos, 0.0, out=pos)


# ------------------------------------------------------------------ hooks
def init(model) -> None:
    terr = model.territory
    jobs2d = terr.jobs.astype(float)
    filled = resident_filled(model)
    fill2d = filled.sum(-1)
    vac2d = np.maximum(jobs2d - fill2d, 0.0)
    mix = filled.sum(0)
    mix = np.where(mix.sum(-1, keepdims=True) > 0, mix / np.maximum(mix.sum(-1, keepdims=True), 1e-12),
                   1.0 / N_LEVELS)
    positions = filled + vac2d[:, :, None] * mix[None, :, :]
    model.economy = EconomyState(positions=positions, external=np.zeros_like(positions))
    model.economy.history[model.year] = float(positions.sum())
    model.jobs = positions.sum(-1)


def step(model) -> dict[str, float]:
    prm = model.params["economy"]
    st: EconomyState = model.economy
    terr = model.territory
    before = float(st.positions.sum())
    held = resident_filled(model) + st.external
    stock = st.positions.sum(-1)                       # [poles, sectors]
    by_sector = stock.sum(0)
    rate = np.array([prm["sector_trend_growth"][s] for s in S.SECTORS])
    raw = by_sector * rate
    denom = raw.sum()
    if abs(denom) < 1e-9:
        raise ParameterError("economy: key 'sector_trend_growth' gives no net trend; allowed: rates whose "
                             "stock-weighted sum is not zero")
    trend_s = raw * prm["net_job_creation"] / denom
    kind_w = np.array([prm["pole_kind_growth"][k] for k in terr.kind])
    delta = _spread(trend_s, stock, kind_w)
    _add(st, delta, _mix(prm["new_jobs_skill_mix"], "new_jobs_skill_mix"), held)

    extra_s = np.array([prm["extra_jobs_per_year_by_sector"][s] for s in S.SECTORS])
    if np.any(extra_s != 0):
        pw = _pole_weights(model, prm["extra_jobs_pole_weights"], "extra_jobs_pole_weights")
        base = st.positions.sum(-1) if pw is None else np.ones_like(stock)
        extra = _spread(extra_s, base, np.ones(terr.n) if pw is None else pw)
        _add(st, extra, _mix(prm["extra_jobs_skill_mix"], "extra_jobs_skill_mix"), held)

    model.jobs[...] = st.positions.sum(-1)
    after = float(st.positions.sum())
    st.created_last = after - before
    st.history[model.year] = after
    return {"jobs_created": st.created_last}


def metrics(model, g) -> list[tuple[str, str, float]]:
    st: EconomyState = model.economy
    held = resident_filled(model) + st.external
    pos = st.positions
    vac = np.maximum(pos - held, 0.0)
    rows: list[tuple[str, str, float]] = [("jobs", "all", float(pos.sum())),
                                          ("vacancies", "all", float(vac.sum())),
                                          ("jobs_created", "all", float(st.created_last)),
                                          ("jobs_held_by_in_commuters", "all", float(st.external.sum()))]
    jp, vp = pos.sum((1, 2)), vac.sum((1, 2))
    for j, pid in enumerate(model.territory.ids):
        rows.append(("jobs", f"pole={pid}", float(jp[j])))
        rows.append(("vacancies", f"pole={pid}", float(vp[j])))
    js = pos.sum((0, 2))
    for s, name in enumerate(S.SECTORS):
        rows.append(("jobs", f"sector={name}", float(js[s])))
    for k, name in enumerate(S.SKILL):
        rows.append(("jobs", f"skill={name}", float(pos[:, :, k].sum())))
    return rows


def invariants(model) -> list[str]:
    st: EconomyState = model.economy
    errs = []
    if not np.all(np.isfinite(st.positions)) or np.any(st.positions < -1e-9):
        errs.append("job positions negative or not finite")
    if not np.allclose(model.jobs, st.positions.sum(-1)):
        errs.append("model.jobs differs from the positions by skill level")
    return errs


def calibration(model) -> list[dict]:
    """2017 jobs (FACTS.md ECO-3) and the net creation of the last simulated year (ECO-1/2)."""
    prm = model.params["economy"]
    st: EconomyState = model.economy
    hist = st.history
    first = min(hist)
    rows = [dict(marginal="jobs 2017", unit="jobs", target=735_000.0, achieved=float(hist[first]),
                 tolerance=0.01, ok=bool(abs(hist[first] / 735_000.0 - 1) <= 0.01))]
    years = sorted(hist)
    if len(years) >= 2:
        created = hist[years[1]] - hist[years[0]]
        rows.append(dict(marginal=f"net job creation {years[0]}-{years[1]}", unit="jobs/yr", target=6500.0,
                         achieved=float(created), tolerance=500.0,
                         ok=bool(6000.0 <= created <= 7000.0)))
    else:
        rows.append(dict(marginal="net job creation (parameter, before the first step)", unit="jobs/yr",
                         target=6500.0, achieved=float(prm["net_job_creation"]), tolerance=500.0,
                         ok=bool(6000.0 <= prm["net_job_creation"] <= 7000.0)))
    return rows
