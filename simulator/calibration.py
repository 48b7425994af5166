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
         scale: np.ndarray | None = None) -> RakeResult:
    """Calibrate weights so that ``A.T @ w == targets`` with ``L*d < w < U*d``.

    A: (n_rows, n_constraints); targets: (n_constraints,); d: design weights.
    ``scale`` gives a magnitude per constraint, used to judge convergence of
    zero-target (rate) constraints.
    """
    A = np.asarray(A, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
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
    for it in range(1, max_iter + 1):
        if err < tol:
            break
        J = (As * (d * dF)[:, None]).T @ As
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
