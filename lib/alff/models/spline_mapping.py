"""Sampling a trained 2+3-body GP for its spline map: the GP's mean (and
std) of single pairs and triplets on grids, fitted by clamped cubic
B-splines (used by :meth:`~alff.models.mapped.MappedPotential.from_model`)."""

from __future__ import annotations

import numpy as np

from ..kernels.blocks import BlockSet, _pair_key, _triplet_key, kernel_matrix
from ..neighbors import neighbor_list
from ..splines import clamped_knots, fit_1d, fit_3d

__all__ = ["map_pairs", "map_triplets", "min_training_distance", "absent_pairs", "absent_triplets"]


def _cutoff(r, rc):
    out = np.zeros_like(r)
    m = r < rc
    out[m] = (rc - r[m]) ** 2
    return out


def _energy_blocks(p_t=None, p_F=None, p_key=None, t_t=None, t_F=None, t_spec=None, t_key=None):
    """A BlockSet of single-cluster energy observations (value weight 1)."""
    if p_t is not None:
        n = len(p_t)
        p_W = np.zeros((n, 2, 1))
        p_W[:, 0, 0] = 1.0
        p_ptr = np.arange(n + 1, dtype=np.int64)
        t_t, t_F, t_dF = np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3))
        t_spec, t_key, t_W = np.zeros((0, 3), np.int64), np.zeros(0, np.int64), np.zeros((0, 4, 1))
        t_ptr = np.zeros(n + 1, np.int64)
        p_dF = np.zeros(n)
    else:
        n = len(t_t)
        t_W = np.zeros((n, 4, 1))
        t_W[:, 0, 0] = 1.0
        t_ptr = np.arange(n + 1, dtype=np.int64)
        t_dF = np.zeros((n, 3))
        p_t, p_F, p_dF = np.zeros(0), np.zeros(0), np.zeros(0)
        p_key, p_W = np.zeros(0, np.int64), np.zeros((0, 2, 1))
        p_ptr = np.zeros(n + 1, np.int64)
    return BlockSet(p_t=np.ascontiguousarray(p_t, float), p_F=np.ascontiguousarray(p_F, float), p_dF=p_dF,
                    p_key=np.ascontiguousarray(p_key, np.int64), p_W=p_W, p_ptr=p_ptr,
                    t_t=np.ascontiguousarray(t_t, float), t_F=np.ascontiguousarray(t_F, float), t_dF=t_dF,
                    t_spec=np.ascontiguousarray(t_spec, np.int64), t_key=np.ascontiguousarray(t_key, np.int64),
                    t_W=t_W, t_ptr=t_ptr, nrow=np.ones(n, np.int64), row_off=np.arange(n, dtype=np.int64),
                    lo=np.zeros(n, np.int64), hi=np.zeros(n, np.int64), kinds=["es"] * n)


def _gp_cluster_values(model, blocks, body, chunk=4000, std=False):
    """GP mean (and standard deviation) of single-cluster energies (``phi2``
    or ``phi3``) for each block, in chunks."""
    from scipy.linalg import solve_triangular

    from ..kernels.blocks import self_kernel_diag
    h = model.hyps_
    n = blocks.n_blocks
    out = np.empty(n)
    sd = np.empty(n)
    scale = h["sigma2"] ** 2 if body == 2 else h["sigma3"] ** 2
    for a in range(0, n, chunk):
        sl = slice(a, min(n, a + chunk))
        sub = _slice_blocks(blocks, sl)
        K2, K3 = kernel_matrix(model._blocks, sub, h["ls2"], h["ls3"], body == 2, body == 3)
        K = scale * (K2 if body == 2 else K3)
        out[sl] = K.T @ model.alpha_
        if std:
            v = solve_triangular(model.L_, K, lower=True, check_finite=False)
            d2, d3 = self_kernel_diag(sub, h["ls2"], h["ls3"], body == 2, body == 3)
            prior = scale * (d2 if body == 2 else d3)
            sd[sl] = np.sqrt(np.clip(prior - np.einsum("ij,ij->j", v, v), 0.0, None))
    return (out, sd) if std else out


def _slice_blocks(S, sl):
    """Blocks ``sl`` of a single-cluster BlockSet."""
    if len(S.p_t):
        return _energy_blocks(p_t=S.p_t[sl], p_F=S.p_F[sl], p_key=S.p_key[sl])
    return _energy_blocks(t_t=S.t_t[sl], t_F=S.t_F[sl], t_spec=S.t_spec[sl], t_key=S.t_key[sl])


def absent_pairs(S):
    """Tables of an absent 2-body term for ``S`` species: one spline, zero
    everywhere, on valid knots (the kernels never evaluate it: r2 = 0).
    Returns knots (1, 8), coefficients, std coefficients (1, 4), pair_table."""
    knots = clamped_knots(0.0, 1.0, 1)[None, :]
    c = np.zeros((1, knots.shape[1] - 4))
    return knots, c, c.copy(), np.zeros((S, S), np.int64)


def absent_triplets(S):
    """Tables of an absent 3-body term (see :func:`absent_pairs`): knots of
    r_ij/r_ik and r_jk (1, 8), coefficients, std coefficients (1, 4, 4, 4),
    trip_table."""
    knots = clamped_knots(0.0, 1.0, 1)[None, :]
    c = np.zeros((1, 4, 4, 4))
    return knots, knots.copy(), c, c.copy(), np.zeros((S, S, S), np.int64)


def min_training_distance(model):
    dmin = np.inf
    for f in model.frames_:
        a = f.atoms
        if len(a) < 2 and not a.pbc.any():
            continue
        _, _, _, d, _ = neighbor_list(a.positions, a.cell[:], a.pbc, max(model.cutoffs.values()))
        if len(d):
            dmin = min(dmin, float(d.min()))
    if not np.isfinite(dmin):
        raise ValueError("the model's training frames have no neighbour pairs: nothing to map")
    return dmin


def map_pairs(model, rmin, r2, S, h):
    """2-body splines of a GP: one per unordered species pair, knots
    ``r2 - k h``. Returns knots (P, K), coefficients and std coefficients
    (P, K - 4), pair_table (S, S)."""
    # 2-body: one spline per unordered species pair
    pair_table = np.zeros((S, S), np.int64)
    pairs = [(a, b) for a in range(S) for b in range(a, S)]
    if r2 is not None:
        # knots r2 - k h: short decimals in the exported files
        n2 = max(int(np.ceil((r2 - rmin) / h - 1e-9)), 4)
        lo2 = round(r2 - n2 * h, 10)
        knots = clamped_knots(lo2, r2, n2)
        x = np.linspace(lo2, r2, 2 * n2 + 1)
        t2 = np.zeros((len(pairs), len(knots)))
        c2 = np.zeros((len(pairs), len(knots) - 4))
        c2s = np.zeros_like(c2)
        for p, (a, b) in enumerate(pairs):
            pair_table[a, b] = pair_table[b, a] = p
            blocks = _energy_blocks(p_t=x, p_F=_cutoff(x, r2),
                                    p_key=_pair_key(np.tile([a, b], (len(x), 1)), S))
            y, ys = _gp_cluster_values(model, blocks, 2, std=True)
            t2[p] = knots
            c2[p] = fit_1d(knots, x, y)
            c2s[p] = fit_1d(knots, x, ys)
    else:
        return absent_pairs(S)
    return t2, c2, c2s, pair_table


def map_triplets(model, rmin, r3, S, h3):
    """3-body splines of a GP: one per ordered species triplet (centre, j,
    k) on (r_ij, r_ik, r_jk), r_jk up to 2 r3 (the UF3 layout). Returns
    knots of r_ij/r_ik (T, Ka) and of r_jk (T, Kb), coefficients and std
    coefficients (T, n_ij, n_ik, n_jk), trip_table (S, S, S)."""
    # 3-body: one spline per ordered (centre, j, k)
    trip_table = np.zeros((S, S, S), np.int64)
    if r3 is not None:
        n3 = max(int(np.ceil((r3 - rmin) / h3 - 1e-9)), 4)
        n3jk = max(int(np.ceil((2 * r3 - rmin) / h3 - 1e-9)), 4)
        lo3, lo3jk = round(r3 - n3 * h3, 10), round(2 * r3 - n3jk * h3, 10)
        kij = clamped_knots(lo3, r3, n3)
        kjk = clamped_knots(lo3jk, 2 * r3, n3jk)
        xs = np.linspace(lo3, r3, 2 * n3 + 1)
        xjk = np.linspace(lo3jk, 2 * r3, 2 * n3jk + 1)
        # r_jk: the GP's cutoff makes phi3 vanish beyond r3; every basis
        # function reaching past r3 gets a zero coefficient, so the
        # spline is exactly zero there (LAMMPS and alff skip nothing
        # different) and f, f', f'' vanish at r3
        zjk = int(np.sum(kjk[4:] > r3 + 1e-9))
        A, B, C = np.meshgrid(xs, xs, xjk, indexing="ij")
        inside = (C < r3).ravel()
        tt = np.stack([A.ravel()[inside], B.ravel()[inside], C.ravel()[inside]], axis=1)
        F = _cutoff(tt[:, 0], r3) * _cutoff(tt[:, 1], r3) * _cutoff(tt[:, 2], r3)
        trips = [(a, b, c) for a in range(S) for b in range(S) for c in range(S)]
        t3a = np.tile(kij, (len(trips), 1))
        t3b = np.tile(kjk, (len(trips), 1))
        c3 = np.zeros((len(trips), len(kij) - 4, len(kij) - 4, len(kjk) - 4))
        c3s = np.zeros_like(c3)
        done = {}
        for q, (a, b, c) in enumerate(trips):
            trip_table[a, b, c] = q
            if (a, c, b) in done:  # the same function with j and k swapped
                c3[q] = np.transpose(c3[done[(a, c, b)]], (1, 0, 2))
                c3s[q] = np.transpose(c3s[done[(a, c, b)]], (1, 0, 2))
                done[(a, b, c)] = q
                continue
            spec = np.tile([a, b, c], (len(tt), 1))
            blocks = _energy_blocks(t_t=tt, t_F=F, t_spec=spec, t_key=_triplet_key(spec, S))
            vals = np.zeros(A.size)
            sds = np.zeros(A.size)
            vals[inside], sds[inside] = _gp_cluster_values(model, blocks, 3, std=True)
            c3[q] = fit_3d([kij, kij, kjk], [xs, xs, xjk], vals.reshape(A.shape) / 3.0, [3, 3, zjk])
            c3s[q] = fit_3d([kij, kij, kjk], [xs, xs, xjk], sds.reshape(A.shape) / 3.0, [3, 3, zjk])
            done[(a, b, c)] = q
    else:
        return absent_triplets(S)
    return t3a, t3b, c3, c3s, trip_table
