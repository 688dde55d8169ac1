"""Robust dense linear algebra for Gaussian processes."""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.linalg.lapack import dpotri

__all__ = ["robust_cholesky", "cholesky_append", "inverse_from_cholesky"]


def robust_cholesky(K, max_tries=7):
    """Lower Cholesky factor, adding diagonal jitter when ``K`` is not PD.

    Parameters
    ----------
    K : (n, n) symmetric array

    Returns
    -------
    L : (n, n) lower-triangular array
    jitter : float
        The jitter that was added to the diagonal (0 when none was needed).

    Raises
    ------
    np.linalg.LinAlgError
        When even the largest jitter (1e-4 of the mean diagonal) fails.
    """
    if not np.all(np.isfinite(K)):
        raise np.linalg.LinAlgError("covariance matrix contains NaN or inf")
    scale = float(np.mean(np.diag(K))) if len(K) else 1.0
    jitter = 0.0
    for k in range(max_tries):
        try:
            Kj = K if jitter == 0 else K + jitter * np.eye(len(K))
            return cholesky(Kj, lower=True, check_finite=False), jitter
        except np.linalg.LinAlgError:
            jitter = scale * 10.0 ** (-10 + k)
    raise np.linalg.LinAlgError(
        f"covariance matrix is not positive definite even with jitter {jitter:.2e}"
    )


def cholesky_append(L, K12, K22):
    """Extend a Cholesky factor by new rows.

    Parameters
    ----------
    L : (n, n) lower factor of ``K11``
    K12 : (n, m) covariance between old and new rows
    K22 : (m, m) covariance of the new rows (noise included)

    Returns
    -------
    (n + m, n + m) lower factor of ``[[K11, K12], [K12^T, K22]]``.
    """
    n, m = K12.shape
    L21 = solve_triangular(L, K12, lower=True, check_finite=False).T
    S = K22 - L21 @ L21.T
    L22, _ = robust_cholesky(0.5 * (S + S.T))
    out = np.zeros((n + m, n + m))
    out[:n, :n] = L
    out[n:, :n] = L21
    out[n:, n:] = L22
    return out


def inverse_from_cholesky(L):
    """Inverse of ``L L^T`` from its lower Cholesky factor (LAPACK potri)."""
    inv, info = dpotri(L, lower=1)
    if info != 0:
        # fall back to two triangular solves
        return cho_solve((L, True), np.eye(len(L)))
    inv = np.tril(inv)
    return inv + np.tril(inv, -1).T
