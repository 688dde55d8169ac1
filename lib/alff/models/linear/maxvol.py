"""D-optimality active learning for models linear in their parameters.

Podryabinkin & Shapeev, Comput. Mater. Sci. 140, 171 (2017); Novikov et al.,
Mach. Learn.: Sci. Technol. 2, 025002 (2021) (the MLIP package).

A linear model with m parameters gives every configuration (or atomic
neighbourhood) a row ``b`` (m,) of the design matrix: for a configuration the
derivatives of its energy with respect to the m parameters. The *active set*
is the m rows ``A`` (m, m) of maximal ``|det A|`` among the training rows. The
extrapolation grade of a row is

    gamma(b) = max_j |(b A^-1)_j|,

the largest coefficient of ``b`` expanded over the active rows:
``gamma <= 1`` inside the region the active set spans (interpolation),
``gamma > 1`` is extrapolation. Replacing active row j by ``b`` multiplies
``|det A|`` by ``|(b A^-1)_j|``, so ``A`` has maximal volume (under single
swaps) exactly when every training row has ``gamma <= 1``.

- :func:`maxvol`: the maxvol algorithm (Goreinov et al. 2010) for a tall
  matrix, started from a pivoted QR of ``B^T``;
- :class:`ActiveSet`: the active rows, their ids and ``A^-1``; grades and
  the MLIP package's select-add.

Column scaling: ``B A^-1`` does not change when the columns of ``B`` are
scaled (``B D (A D)^-1 = B A^-1``), so everything works on column-equilibrated
copies; the rank tests are therefore independent of the units of the
parameters (design-matrix columns often differ by orders of magnitude).
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence

import numpy as np
import scipy.linalg

__all__ = ["maxvol", "ActiveSet", "DEFAULT_TOL"]

#: default swap threshold: swap while some ``|C_ij| > 1 + 1e-9`` (each swap
#: raises ``|det A|`` by that factor); the result is then dominant,
#: ``|C| <= 1 + 1e-9``, i.e. a local maximum of ``|det A|`` under single swaps
DEFAULT_TOL = 1.0 + 1e-9


def _as_rows(B, m=None, name="B"):
    """``B`` as a float (n, m) array; ValueError naming the first non-finite row."""
    B = np.asarray(B, dtype=float)
    if B.ndim == 1:
        B = B[None, :]
    if B.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of rows (n, m), got shape {B.shape}")
    if m is not None and B.shape[1] != m:
        raise ValueError(f"{name} must have {m} columns (one per parameter), got shape {B.shape}")
    finite = np.isfinite(B).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{name} has non-finite entries (NaN or inf): first in row {bad} "
                         f"({int((~finite).sum())} bad rows of {B.shape[0]})")
    return B


def _column_scale(B):
    """Column norms of ``B`` (m,), zero columns mapped to 1 (they fail the rank test)."""
    d = np.linalg.norm(B, axis=0)
    d[d == 0.0] = 1.0
    return d


def _lu(A):
    """LU factors of a square ``A``; ValueError if it is (numerically) singular."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        try:
            lu = scipy.linalg.lu_factor(A, check_finite=False)
        except (scipy.linalg.LinAlgWarning, np.linalg.LinAlgError) as err:
            raise ValueError(f"the active rows are singular: {err}") from None
    u = np.abs(np.diag(lu[0]))
    if u.min() <= A.shape[0] * np.finfo(float).eps * u.max():
        raise ValueError(f"the active rows are numerically singular (LU pivot ratio {u.min() / u.max():.3g})")
    return lu


def _inverse(A):
    """Accurate ``A^-1`` (m, m) by an LU solve on column-equilibrated ``A``; O(m^3).

    ``A = As D`` with ``D`` the column norms, so ``A^-1 = D^-1 As^-1``. Raises
    ValueError if ``A`` is singular or the inverse misses ``As As^-1 = I`` by
    more than 1e-6 (too ill-conditioned to grade with).
    """
    d = _column_scale(A)
    As = A / d
    inv_s = scipy.linalg.lu_solve(_lu(As), np.eye(A.shape[0]), check_finite=False)
    resid = np.abs(As @ inv_s - np.eye(A.shape[0])).max()
    if not np.isfinite(resid) or resid > 1e-6:
        raise ValueError(f"the active rows are too ill-conditioned: |A A^-1 - I| = {resid:.3g}")
    return inv_s / d[:, None]


def _coefficients(S, idx):
    """``C = S S[idx]^-1`` (N, m) from an LU factorisation; O(m^3 + N m^2)."""
    lu = _lu(S[idx])
    C = scipy.linalg.lu_solve(lu, S.T, trans=1, check_finite=False).T
    C[idx] = np.eye(len(idx))
    return np.ascontiguousarray(C)


def _swap_loop(S, C, idx, tol, max_iter, is_new=None, max_new=None):
    """Classic maxvol swaps on ``C = S S[idx]^-1``, in place; returns the swap count.

    Each step takes the entry of largest ``|C_ij|`` (ties: lowest i, then
    lowest j, as ``argmax`` of the row-major array), stops if it is
    ``<= tol``, else puts row i at position j (``|det|`` grows by
    ``|C_ij|``) and updates ``C`` by the rank-1 formula

        C <- C - C[:, j] (C[i, :] - e_j) / C_ij,

    O(N m) per swap. Rows in the set have ``C`` rows ``e_j`` exactly (reset
    after each update). ``C`` is recomputed from an LU factorisation of the
    current ``S[idx]`` every ``max(m, 16)`` swaps and before accepting
    convergence, so rounding in the updates cannot accumulate (amortised
    cost stays O(N m) per swap).

    With ``is_new`` (N,) bool and ``max_new``: once ``max_new`` new rows are
    in the set, swaps bringing a new row into a position held by an old row
    are not allowed (new rows may still replace new rows, old rows come back
    anywhere).
    """
    N, m = S.shape
    refresh_every = max(m, 16)
    swaps = 0
    since_refresh = 0
    fresh = False
    capped = is_new is not None and max_new is not None
    while True:
        absC = np.abs(C)
        if capped:
            new_pos = is_new[idx]
            if new_pos.sum() >= max_new:
                absC[np.ix_(np.flatnonzero(is_new), np.flatnonzero(~new_pos))] = 0.0
        flat = int(np.argmax(absC))
        i, j = divmod(flat, m)
        if absC[i, j] <= tol:
            if fresh:
                break
            C[:] = _coefficients(S, idx)
            fresh = True
            since_refresh = 0
            continue
        if swaps >= max_iter:
            warnings.warn(f"maxvol stopped after max_iter={max_iter} swaps with max |C| = {absC[i, j]:.6g} "
                          f"> tol = {tol}; the set is valid but not yet dominant", RuntimeWarning, stacklevel=3)
            break
        cij = C[i, j]
        ci = C[i].copy()
        ci[j] -= 1.0
        C -= np.outer(C[:, j] / cij, ci)
        idx[j] = i
        C[idx] = np.eye(m)
        swaps += 1
        since_refresh += 1
        fresh = False
        if since_refresh >= refresh_every:
            C[:] = _coefficients(S, idx)
            since_refresh = 0
            fresh = True
    return swaps


def _check_tol(tol):
    tol = float(tol)
    if not tol >= 1.0:
        raise ValueError(f"tol must be >= 1 (swap while some |C_ij| > tol), got {tol}")
    return tol


def maxvol(B, tol=DEFAULT_TOL, max_iter=None, start=None):
    """Rows of a tall matrix spanning a (locally) maximal-volume square submatrix.

    Parameters
    ----------
    B : array_like, shape (n, m)
        Tall matrix, ``n >= m``, of full column rank m, finite.
    tol : float, default ``DEFAULT_TOL`` (1 + 1e-9)
        Swap while some ``|C_ij| > tol``; must be >= 1. Each swap multiplies
        ``|det A|`` by more than ``tol``. Larger values (e.g. 1.01) stop
        earlier with a set within a factor ``tol`` per swap of dominant.
    max_iter : int, optional
        Maximal number of swaps (default ``100 m``). If reached, a
        RuntimeWarning is issued and the current (valid, not yet dominant)
        set returned.
    start : array_like of int, shape (m,), optional
        Initial rows. By default the first m pivots of a QR factorisation
        with column pivoting of ``B^T`` (on column-equilibrated ``B``),
        which also tests the rank.

    Returns
    -------
    idx : ndarray of int, shape (m,)
        The chosen rows; ``B[idx]`` is the active set ``A``, position j
        holding row ``idx[j]``.
    C : ndarray, shape (n, m)
        ``B A^-1``: ``|C| <= tol`` everywhere (if converged) and
        ``C[idx] = I`` exactly. Row i of ``C`` holds the coefficients of
        row i over the active rows; ``max_j |C_ij|`` is its grade.

    Raises
    ------
    ValueError
        If ``n < m``, ``B`` has non-finite entries (the first bad row is
        named), ``B`` is rank-deficient (the number of independent rows found
        is given), ``tol < 1``, or ``start`` is invalid or singular.

    Notes
    -----
    Cost: O(n m^2) for the QR and for forming ``C`` once (and once more per
    ``max(m, 16)`` swaps, see below), O(n m) per swap (rank-1 update, no
    re-inversion). ``C`` is recomputed from an LU factorisation of the
    current ``A`` every ``max(m, 16)`` swaps and before convergence is
    accepted, so it stays accurate to rounding.

    The result is dominant (no single swap raises ``|det A|`` by more than
    ``tol``): a local maximum. By Hadamard's inequality the global maximum
    is at most ``(tol sqrt(m))^m`` times larger (``det`` of any m rows of
    ``C``, entries bounded by ``tol``). Everything is deterministic; ties
    are broken by the lowest index.
    """
    B = _as_rows(B)
    n, m = B.shape
    if m == 0:
        raise ValueError("B has no columns")
    if n < m:
        raise ValueError(f"maxvol needs a tall matrix: B has n = {n} rows < m = {m} columns")
    tol = _check_tol(tol)
    if max_iter is None:
        max_iter = 100 * m
    Bs = B / _column_scale(B)
    if start is None:
        R, piv = scipy.linalg.qr(Bs.T, mode="r", pivoting=True, check_finite=False)
        diag = np.abs(np.diag(R))
        thresh = max(n, m) * np.finfo(float).eps * (diag[0] if diag.size else 0.0)
        rank = int((diag > thresh).sum()) if diag[0] > 0 else 0
        if rank < m:
            raise ValueError(f"B is rank-deficient: only {rank} linearly independent rows found "
                             f"among {n} rows, need m = {m}")
        idx = np.array(piv[:m], dtype=np.intp)
    else:
        idx = np.array(start, dtype=np.intp).ravel()
        if idx.shape != (m,) or len(np.unique(idx)) != m or idx.min() < 0 or idx.max() >= n:
            raise ValueError(f"start must be {m} distinct row indices in [0, {n}), got {start!r}")
    C = _coefficients(Bs, idx)
    _swap_loop(Bs, C, idx, tol, max_iter)
    return idx, C


class ActiveSet:
    """The active set of a linear model: m rows of (locally) maximal ``|det|``.

    Parameters
    ----------
    rows : array_like, shape (m, m)
        The active rows ``A``, nonsingular.
    ids : sequence of hashable, length m, optional
        A label per row (e.g. ``(configuration, atom)``); default ``0..m-1``.
    tol : float, default ``DEFAULT_TOL``
        The swap threshold of :meth:`select_add`.

    Attributes
    ----------
    rows : ndarray, shape (m, m)
        ``A`` (a copy is held).
    ids : list of hashable
        ``ids[j]`` labels ``rows[j]``.
    inverse : ndarray, shape (m, m)
        ``A^-1``, recomputed by an LU solve (O(m^3)) whenever the set is
        built or changed, never accumulated from updates.
    n_swaps : int
        Total number of swaps made by :meth:`select_add` so far.
    """

    def __init__(self, rows, ids: Sequence[Hashable] | None = None, tol=DEFAULT_TOL):
        A = _as_rows(rows, name="rows")
        m = A.shape[1]
        if A.shape != (m, m):
            raise ValueError(f"the active rows must be square (m, m), got shape {A.shape}")
        ids = list(range(m)) if ids is None else list(ids)
        if len(ids) != m:
            raise ValueError(f"need {m} ids, one per active row, got {len(ids)}")
        self.tol = _check_tol(tol)
        self.rows = A.copy()
        self.ids = ids
        self.inverse = _inverse(self.rows)
        self.n_swaps = 0

    @classmethod
    def from_rows(cls, B, tol=DEFAULT_TOL, ids: Sequence[Hashable] | None = None, max_iter=None):
        """Active set of the rows ``B`` (n, m) by :func:`maxvol`.

        Parameters
        ----------
        B : array_like, shape (n, m)
            Training rows, ``n >= m``, full column rank.
        tol : float
            maxvol's swap threshold (kept for :meth:`select_add`).
        ids : sequence of hashable, length n, optional
            A label per row of ``B``; default the row indices ``0..n-1``.

        Returns
        -------
        ActiveSet
            Every row of ``B`` then has ``grade <= tol`` (up to rounding).
        """
        B = _as_rows(B)
        if ids is not None and len(ids) != B.shape[0]:
            raise ValueError(f"need one id per row of B: {B.shape[0]} rows, {len(ids)} ids")
        idx, _ = maxvol(B, tol=tol, max_iter=max_iter)
        chosen = [int(k) for k in idx] if ids is None else [ids[k] for k in idx]
        return cls(B[idx], chosen, tol=tol)

    @property
    def m(self) -> int:
        """Number of parameters (= number of active rows)."""
        return self.rows.shape[0]

    @property
    def log_abs_det(self) -> float:
        """``log |det A|`` (natural log)."""
        return float(np.linalg.slogdet(self.rows)[1])

    def coefficients(self, B):
        """``B A^-1`` (n, m) for rows ``B`` (n, m) or one row (m,); O(m^2) per row."""
        return _as_rows(B, self.m) @ self.inverse

    def grade(self, B):
        """Extrapolation grades ``gamma = max_j |(b A^-1)_j|`` of rows.

        Parameters
        ----------
        B : array_like, shape (n, m) or (m,)

        Returns
        -------
        ndarray, shape (n,)
            ``<= 1`` (up to the tolerance) inside the span covered by the
            active set, ``> 1`` for extrapolation. O(m^2) per row.
        """
        return np.abs(self.coefficients(B)).max(axis=1)

    def grade_max(self, B) -> float:
        """Grade of a configuration whose several rows ``B`` (k, m) (e.g. its
        atomic neighbourhoods) count by their maximum."""
        B = _as_rows(B, self.m)
        if B.shape[0] == 0:
            raise ValueError("grade_max needs at least one row")
        return float(self.grade(B).max())

    def select_add(self, candidates, max_add=None, ids: Sequence[Hashable] | None = None, tol=None):
        """The MLIP package's select-add: let candidate rows into the active set.

        maxvol runs over the stacked rows ``[A; candidates]`` (m + K, m)
        starting from the current active set (not from scratch): O(K m^2)
        once to form ``C = candidates A^-1`` (and once more, plus O(m^3), to
        confirm convergence on a freshly factorised ``C``), O((K + m) m) per
        swap. Active rows that are swapped out may come back later in the
        same run. ``|det A|`` never decreases.

        Parameters
        ----------
        candidates : array_like, shape (K, m)
        max_add : int, optional
            At most this many candidate rows enter. If more want to, those
            brought in by the largest single-swap ``|det|`` gains come first:
            swaps are taken greedily by the largest ``|C_ij|`` (the factor by
            which ``|det|`` grows), and once ``max_add`` candidates are in,
            a candidate may only replace another candidate (old rows may
            still come back anywhere); the run ends at the dominant set
            under that constraint. The result is therefore not the same as
            truncating the unconstrained result.
        ids : sequence of hashable, length K, optional
            A label per candidate; default the candidate row indices
            ``0..K-1``.
        tol : float, optional
            Swap threshold; default ``self.tol``.

        Returns
        -------
        list of hashable
            The ids of the candidates now in the active set, in candidate
            order (empty if none entered). Ids that left can be found by
            comparing :attr:`ids` before and after.
        """
        m = self.m
        X = _as_rows(candidates, m, name="candidates")
        K = X.shape[0]
        ids = list(range(K)) if ids is None else list(ids)
        if len(ids) != K:
            raise ValueError(f"need one id per candidate: {K} candidates, {len(ids)} ids")
        if max_add is not None:
            max_add = int(max_add)
            if max_add < 0:
                raise ValueError(f"max_add must be >= 0, got {max_add}")
        tol = self.tol if tol is None else _check_tol(tol)
        if K == 0 or max_add == 0:
            return []
        S = np.vstack([self.rows, X])
        d = _column_scale(S)
        C = np.vstack([np.eye(m), X @ self.inverse])
        idx = np.arange(m, dtype=np.intp)
        is_new = np.zeros(m + K, dtype=bool)
        is_new[m:] = True
        self.n_swaps += _swap_loop(S / d, C, idx, tol, max_iter=100 * m + 10 * K,
                                   is_new=is_new, max_new=max_add)
        old_ids = self.ids
        all_ids = old_ids + ids
        self.rows = S[idx].copy()
        self.ids = [all_ids[k] for k in idx]
        self.inverse = _inverse(self.rows)
        return [ids[k - m] for k in sorted(int(k) for k in idx if k >= m)]

    def update_rows(self, B):
        """Replace the active rows' values after a refit (same ids, new rows).

        Parameters
        ----------
        B : array_like, shape (m, m)
            New values of the active rows, ordered as :attr:`ids`.

        Notes
        -----
        Recomputes ``A^-1`` (O(m^3)). The set is not re-optimised: the rows
        kept may no longer be of maximal volume among the training rows; to
        restore that, :meth:`select_add` the new training rows.
        """
        A = _as_rows(B, self.m)
        if A.shape != (self.m, self.m):
            raise ValueError(f"update_rows needs the {self.m} active rows (m, m), got shape {A.shape}")
        inv = _inverse(A)
        self.rows = A.copy()
        self.inverse = inv
