"""Clamped uniform cubic B-splines: basis evaluation (numba) and least-squares fits.

Knot vectors are *clamped*: the first and last knots are repeated four
times and the interior knots are uniform, ``t = [a, a, a, a, a+h, ...,
b-h, b, b, b, b]``; ``n`` coefficients need ``n + 4`` knots. This is the
layout of UF3 potentials (LAMMPS ``pair_style uf3``, "uk" knots), so mapped
potentials export to LAMMPS without refitting.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["clamped_knots", "check_knots", "span_basis", "fit_1d", "fit_3d", "eval_1d", "design_matrix",
           "span_polynomials"]


def clamped_knots(lo, hi, n_intervals):
    """(n_intervals + 7,) clamped uniform cubic knot vector on [lo, hi]."""
    if not hi > lo or n_intervals < 1:
        raise ValueError(f"spline range [{lo}, {hi}] with {n_intervals} intervals is empty")
    # rounded to 10 decimals: written to text files (UF3, tables) without change
    inner = np.round(np.linspace(lo, hi, int(n_intervals) + 1), 10)
    return np.concatenate([[lo] * 3, inner, [hi] * 3])


def check_knots(t):
    """Check that ``t`` is a clamped uniform cubic knot vector (what the
    span lookup of :func:`span_basis` and the compiled kernels assume).

    Raises
    ------
    ValueError
        Naming what is wrong: too few knots, not finite, ends not clamped
        (4 equal knots), not increasing, or interior knots not uniform.
    """
    t = np.asarray(t)
    if t.ndim != 1 or len(t) < 8:
        raise ValueError(f"knots of shape {t.shape}: a cubic spline needs a vector of at least 8 knots")
    if t.dtype.kind not in "fiu" or not np.all(np.isfinite(t)):
        raise ValueError("knots are not finite numbers")
    if np.any(t[:4] != t[0]) or np.any(t[-4:] != t[-1]):
        raise ValueError(f"knots are not clamped: the first and last 4 must be equal ({t[:4]} ... {t[-4:]})")
    h = np.diff(t[3:-3])
    if not np.all(h > 0):
        raise ValueError(f"knots do not increase over [{t[0]}, {t[-1]}]")
    if np.abs(h - h[0]).max() > 1e-6 * h[0]:
        raise ValueError(f"interior knots are not uniform (spacings {h.min():.6g} to {h.max():.6g})")


@njit(cache=True, inline="always")
def span_basis(t, x, N, dN):
    """Span index and the 4 non-zero cubic basis values and derivatives at ``x``.

    Parameters
    ----------
    t : (n + 4,) clamped uniform knots
    x : float, inside [t[3], t[n]] (clipped to it)
    N, dN : (4,) output arrays
        Values and first derivatives of basis functions ``s - 3 ... s``.

    Returns
    -------
    int
        The span ``s`` (coefficients ``s - 3 ... s`` are active).
    """
    n = t.shape[0] - 4
    a = t[3]
    h = t[4] - t[3]
    s = 3 + int((x - a) / h)
    if s < 3:
        s = 3
    if s > n - 1:
        s = n - 1
    # degree 0 -> 3 by the Cox-de Boor triangle; keep degree 2 for derivatives
    left = np.empty(4)
    right = np.empty(4)
    B = np.zeros(4)
    B2 = np.zeros(3)
    B[0] = 1.0
    for j in range(1, 4):
        left[j] = x - t[s + 1 - j]
        right[j] = t[s + j] - x
        saved = 0.0
        for r in range(j):
            den = right[r + 1] + left[j - r]
            tmp = B[r] / den if den != 0.0 else 0.0
            B[r] = saved + right[r + 1] * tmp
            saved = left[j - r] * tmp
        B[j] = saved
        if j == 2:
            B2[0] = B[0]
            B2[1] = B[1]
            B2[2] = B[2]
    for r in range(4):
        N[r] = B[r]
        d = 0.0
        if r >= 1:
            den = t[s + r] - t[s - 3 + r]
            if den != 0.0:
                d += B2[r - 1] / den
        if r <= 2:
            den = t[s + r + 1] - t[s - 2 + r]
            if den != 0.0:
                d -= B2[r] / den
        dN[r] = 3.0 * d
    return s


@njit(cache=True)
def eval_1d(t, c, x):
    """Value and derivative of a cubic spline at each point of ``x``.

    Returns
    -------
    f, df : arrays shaped like ``x``
    """
    f = np.empty(x.shape[0])
    df = np.empty(x.shape[0])
    N = np.empty(4)
    dN = np.empty(4)
    for q in range(x.shape[0]):
        s = span_basis(t, x[q], N, dN)
        v = 0.0
        dv = 0.0
        for r in range(4):
            v += c[s - 3 + r] * N[r]
            dv += c[s - 3 + r] * dN[r]
        f[q] = v
        df[q] = dv
    return f, df


def design_matrix(t, x):
    """(len(x), n) collocation matrix of the basis at points ``x``."""
    n = len(t) - 4
    M = np.zeros((len(x), n))
    N = np.empty(4)
    dN = np.empty(4)
    for q, xv in enumerate(np.asarray(x, float)):
        s = span_basis(t, xv, N, dN)
        M[q, s - 3:s + 1] = N
    return M


def _pinv_trimmed(t, x, trailing_zero):
    """Least-squares operator (n, m) mapping samples to coefficients, with the
    last ``trailing_zero`` coefficients held at zero."""
    M = design_matrix(t, x)
    n = M.shape[1]
    keep = n - int(trailing_zero)
    P = np.zeros((n, len(x)))
    P[:keep] = np.linalg.pinv(M[:, :keep])
    return P


def fit_1d(t, x, y, trailing_zero=3):
    """Least-squares coefficients of a cubic spline with knots ``t`` through
    samples ``(x, y)``; the last ``trailing_zero`` coefficients are zero (the
    function and two derivatives vanish at the end)."""
    return _pinv_trimmed(t, x, trailing_zero) @ np.asarray(y, float)


def fit_3d(knots, grids, values, trailing_zero=3):
    """Tensor-product least-squares fit.

    Parameters
    ----------
    knots : 3 knot vectors
    grids : 3 arrays of sample coordinates (m0,), (m1,), (m2,)
    values : (m0, m1, m2) array
    trailing_zero : int or 3 ints
        Coefficients held at zero at the end of each axis.

    Returns
    -------
    (n0, n1, n2) coefficients
    """
    tz = trailing_zero if np.ndim(trailing_zero) else [trailing_zero] * 3
    P = [_pinv_trimmed(t, g, z) for t, g, z in zip(knots, grids, tz)]
    return np.einsum("ia,jb,kc,abc->ijk", P[0], P[1], P[2], values, optimize=True)


def span_polynomials(t):
    """Per-span cubic polynomials of the four active basis functions.

    For span ``s`` (``3 <= s < n``) and local coordinate ``u = (x - t[s]) / h``
    in [0, 1), basis function ``s - 3 + r`` equals
    ``P[s, r, 0] + P[s, r, 1] u + P[s, r, 2] u^2 + P[s, r, 3] u^3``.
    Evaluating these needs no recursion and no allocation (the compiled MD
    loop uses them).

    Returns
    -------
    (n, 4, 4) array (rows below 3 unused)
    """
    check_knots(t)
    n = len(t) - 4
    h = t[4] - t[3]
    u = np.array([0.125, 0.375, 0.625, 0.875])  # inside the span, off its edges
    V = np.vander(u, 4, increasing=True)
    Vinv = np.linalg.inv(V)
    P = np.zeros((n, 4, 4))
    N = np.empty(4)
    dN = np.empty(4)
    for s in range(3, n):
        vals = np.empty((4, 4))
        for q, uq in enumerate(u):
            s2 = span_basis(t, t[3] + (s - 3 + uq) * h, N, dN)
            assert s2 == s
            vals[q] = N
        P[s] = (Vinv @ vals).T
    return P
