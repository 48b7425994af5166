"""Raking household weights to observed marginals.

Generalised calibration (Deville & Särndal 1992, "Calibration estimators in
survey sampling", JASA 87:376-382) with the bounded *logit* distance: the
weights are ``w = d * F(A @ lam)`` where ``F`` maps the real line onto
``(L, U)``, so every weight stays within ``L..U`` times its design weight
``d`` by construction (the method "logit" of R's ``sampling::calib``), and
``A.T @ w = t`` for every constraint column of ``A``. Each household row of
``A`` holds its contribution to each marginal (persons of the pole, persons
aged 60+, employed 15-64 minus 0.65 x persons 15-64, ...), so person-level
and household-level marginals are met together (integrated calibration).
A rate target is a linear constraint with target 0. The equations are
solved by Newton's method with a backtracking line search; scipy's dense
solver does the K x K steps.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg


@dataclass
class RakeResult:
    weights: np.ndarray
    iterations: int
    max_rel_error: float
    converged: bool


def _logit_F(u: np.ndarray, L: float, U: float) -> tuple[np.ndarray, np.ndarray]:
    """Deville-Särndal logit calibration function and its derivative (F(0) = 1, F'(0) = 1)."""
    B = (U - L) / ((1 - L) * (U - 1))
    e = np.exp(np.clip(B * u, -60, 60))
    den = (U - 1) + (1 - L) * e
    F = (L * (U - 1) + U * (1 - L) * e) / den
    dF = (1 - L) * (U - 1) * (U - L) * B * e / den ** 2
    return F, dF


def rake(A: np.ndarray, targets: np.ndarray, d: np.ndarray, *, tol: float = 1e-8,
         max_iter: int = 200, bounds: tuple[float, float] = (0.1, 10.0),
         scale: np.ndarray | None = None, distinct: bool = False) -> RakeResult:
    """Calibrate weights so that ``A.T @ w == targets`` with ``L*d < w < U*d``.

    A: (n_rows, n_constraints); targets: (n_constraints,); d: design weights.
    ``scale`` gives a magnitude per constraint, used to judge convergence of
    zero-target (rate) constraints. ``distinct``: the caller guarantees the
    rows of A are distinct (skips the grouping pass).
    """
    A = np.asarray(A, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    # Rows with identical constraint contributions get the same weight ratio F(A lam), so the
    # problem is solved exactly on the distinct rows (with summed design weights): much faster
    # at full scale, where many households are alike.
    if distinct:
        return _rake(A, t, d, tol=tol, max_iter=max_iter, bounds=bounds, scale=scale)
    first, inverse = distinct_rows(A)
    if first.size < A.shape[0]:
        d_u = np.bincount(inverse, weights=d, minlength=first.size)
        res = _rake(A[first], t, d_u, tol=tol, max_iter=max_iter, bounds=bounds, scale=scale)
        ratio = res.weights / d_u
        return RakeResult(weights=d * ratio[inverse], iterations=res.iterations,
                          max_rel_error=res.max_rel_error, converged=res.converged)
    return _rake(A, t, d, tol=tol, max_iter=max_iter, bounds=bounds, scale=scale)


def distinct_rows(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of one row per distinct row of A, and each row's group (fast: sort two fixed projections).

    Rows are compared through two projections on fixed pseudo-random
    vectors; equal rows always share them, and distinct rows of small
    integers and shares colliding on both is practically impossible.
    The rows are ordered by the first projection alone with an unstable
    sort (about twice as fast as the stable two-key lexsort): when rows
    with equal first projections also have equal second ones (checked;
    otherwise, or with non-finite projections, :func:`_distinct_rows_lexsort`
    is used), the groups, their order and their first (lowest) rows are
    those of the lexsort.
    """
    h = A @ _projections(A)
    if not np.isfinite(h).all():
        return _distinct_rows_lexsort(A)
    h0, h1 = h[:, 0], h[:, 1]
    order = np.argsort(h0)
    s0, s1 = h0[order], h1[order]
    same = s0[1:] == s0[:-1]
    if np.any(same & (s1[1:] != s1[:-1])):
        return _distinct_rows_lexsort(A)
    new = np.ones(order.size, dtype=bool)
    new[1:] = ~same
    inverse = np.empty(order.size, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    first = np.minimum.reduceat(order, np.flatnonzero(new)) if order.size else order
    return first, inverse


def _projections(A: np.ndarray) -> np.ndarray:
    return np.random.default_rng(12345).random((A.shape[1], 2)) + 0.5


def _distinct_rows_lexsort(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`distinct_rows` by a stable lexsort of the two projections (the reference; any projections)."""
    h = A @ _projections(A)
    order = np.lexsort((h[:, 1], h[:, 0]))
    hs = h[order]
    new = np.ones(order.size, dtype=bool)
    new[1:] = (hs[1:, 0] != hs[:-1, 0]) | (hs[1:, 1] != hs[:-1, 1])
    group_sorted = np.cumsum(new) - 1
    inverse = np.empty(order.size, dtype=np.int64)
    inverse[order] = group_sorted
    first = order[new]
    return first, inverse


def _rake(A: np.ndarray, t: np.ndarray, d: np.ndarray, *, tol: float, max_iter: int,
          bounds: tuple[float, float], scale: np.ndarray | None) -> RakeResult:
    L, U = bounds
    if not (0 <= L < 1 < U):
        raise ValueError(f"bounds must satisfy 0 <= L < 1 < U, got {bounds}")
    if scale is None:
        scale = np.maximum(np.abs(t), 1.0)
    cs = np.maximum(np.abs(A).max(axis=0), 1e-12)  # column scaling for conditioning
    As = A / cs
    ts = t / cs
    sc = scale / cs
    lam = np.zeros(A.shape[1])

    def residual(l):
        F, dF = _logit_F(As @ l, L, U)
        w = d * F
        return w, dF, As.T @ w - ts

    w, dF, r = residual(lam)
    it = 0
    err = float(np.max(np.abs(r) / sc))
    buf = np.empty_like(As)           # the weighted rows of each Newton step, one buffer for all steps
    for it in range(1, max_iter + 1):
        if err < tol:
            break
        J = np.multiply(As, (d * dF)[:, None], out=buf).T @ As
        J[np.diag_indices_from(J)] += 1e-12 * (np.trace(J) / J.shape[0] + 1e-12)
        try:
            step = scipy.linalg.solve(J, -r, assume_a="pos")
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            step = np.linalg.lstsq(J, -r, rcond=None)[0]
        f0 = float(np.sum((r / sc) ** 2))
        alpha = 1.0
        for _ls in range(40):
            w1, dF1, r1 = residual(lam + alpha * step)
            if float(np.sum((r1 / sc) ** 2)) < f0 or alpha < 1e-8:
                break
            alpha *= 0.5
        lam = lam + alpha * step
        w, dF, r = w1, dF1, r1
        err = float(np.max(np.abs(r) / sc))
    return RakeResult(weights=w, iterations=it, max_rel_error=err, converged=err < 1e-4)
