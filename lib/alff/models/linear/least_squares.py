"""Input checks and the stable ridge solve shared by the linear fits
(:mod:`.bayesian_fits`, :mod:`.ard`): rows and columns validated with the
first bad row named, the SVD reduction of a design, ridge by SVD."""

from __future__ import annotations

import numpy as np

__all__ = ["ridge_fit"]

_EPS = np.finfo(np.float64).eps


# ----------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------

def _first_bad_row(a):
    """Index of the first row of ``a`` holding a non-finite value, or None."""
    bad = ~np.isfinite(a)
    if a.ndim > 1:
        bad = bad.any(axis=tuple(range(1, a.ndim)))
    rows = np.flatnonzero(bad)
    return int(rows[0]) if rows.size else None


def _check_X(X, n_features=None, name="X"):
    """Return ``X`` as a float64 (n_rows, n_features) array or raise ValueError."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_rows, n_features), got shape {X.shape}")
    if X.shape[0] < 1:
        raise ValueError(f"{name} must have at least one row, got shape {X.shape}")
    if X.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column (feature), got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features (columns) but the model was fitted "
                         f"with {n_features}")
    row = _first_bad_row(X)
    if row is not None:
        col = int(np.flatnonzero(~np.isfinite(X[row]))[0])
        raise ValueError(f"{name} contains a non-finite value (NaN or inf): first in row {row} "
                         f"(column {col}, value {X[row, col]})")
    return X


def _check_Xy(X, y):
    """Validate a design and its target; return float64 (n, p) and (n,) arrays."""
    X = _check_X(X)
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array (n_rows,), got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X and y have different numbers of rows: X has {X.shape[0]}, "
                         f"y has {y.shape[0]}")
    row = _first_bad_row(y)
    if row is not None:
        raise ValueError(f"y contains a non-finite value (NaN or inf): first in row {row} "
                         f"(value {y[row]})")
    return X, y


def _reduce(X, y):
    """Thin SVD reduction of a least-squares problem.

    Parameters
    ----------
    X : ndarray, shape (n, p)
    y : ndarray, shape (n,)

    Returns
    -------
    s : ndarray, shape (k,)
        Singular values, ``k = min(n, p)``, descending.
    Vt : ndarray, shape (k, p)
        Right singular vectors (rows).
    Uty : ndarray, shape (k,)
        ``U^T y``.
    rperp2 : float
        ``|y - U U^T y|^2``, the part of ``|y - X c|^2`` no ``c`` can change.
    """
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    Uty = U.T @ y
    if U.shape[0] > U.shape[1]:
        rperp2 = float(np.sum((y - U @ Uty) ** 2))
    else:
        rperp2 = 0.0
    return s, Vt, Uty, rperp2


# ----------------------------------------------------------------------------
# ridge
# ----------------------------------------------------------------------------

def ridge_fit(X, y, alpha):
    """Ridge regression without intercept, solved through the SVD of ``X``.

    Minimises ``|y - X c|^2 + alpha |c|^2``.  With ``X = U diag(s) V^T`` the
    solution is ``c = V diag(s / (s^2 + alpha)) U^T y``; ``X^T X`` is never
    formed, so the accuracy is governed by cond(X), not cond(X)^2.

    Parameters
    ----------
    X : array_like, shape (n_rows, n_features)
        Design matrix.
    y : array_like, shape (n_rows,)
        Target.
    alpha : float
        Ridge penalty, ``>= 0``.  With ``alpha = 0`` this is the minimum-norm
        least-squares solution, singular values below
        ``eps * max(n_rows, n_features) * s_max`` being treated as zero.

    Returns
    -------
    coef : ndarray, shape (n_features,)
    """
    X, y = _check_Xy(X, y)
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha}")
    s, Vt, Uty, _ = _reduce(X, y)
    if alpha == 0.0:
        cut = _EPS * max(X.shape) * (s[0] if s.size else 0.0)
        f = np.zeros_like(s)
        big = s > cut
        f[big] = 1.0 / s[big]
    else:
        f = s / (s * s + alpha)
    return Vt.T @ (f * Uty)
