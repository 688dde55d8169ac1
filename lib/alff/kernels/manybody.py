"""Squared-exponential 2-body and 3-body cluster kernels (Vandermause et al. 2020).

Both functions fill the kernel between *blocks* of observations. A block is a
set of cluster listings with weights ``W[c, slot, row]`` mapping the cluster
function (slot 0) and its derivatives with respect to each side (slots
``1..``) onto the block's observation rows (force components, energies,
stress components). For two clusters ``c, c'`` the kernel matrix over slots is

    M[x, y] = sum_perm d^2 k(t_c, P t_c') / d slot_x d slot_y',
    k(t, t') = F(t) F(t') exp(-|t - t'|^2 / (2 l^2)),

with ``F`` the product of the quadratic cutoffs; the sum runs over the
permutations ``P`` of the vertices of ``c'`` that map its species onto those
of ``c`` (six for a triplet, one for a pair; clusters of different species
never correlate). The block kernel is ``sum_{c,c'} W_c^T M W_c'``.

Results are unscaled (signal variance 1); the derivative with respect to the
length scale ``l`` is accumulated in ``dout`` when ``grad`` is true.

Each kernel is one compiled function (``_*_run``, ``fastmath``) with every
helper inlined into it, run on threads by
:func:`~alff.kernels.parallel.run_pairs` (why not ``prange``: see there).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .parallel import run_pairs

__all__ = ["k2_block_pairs", "k3_block_pairs"]

# vertex permutations (a, b, c) and the side permutation they induce, sides
# ordered (01, 02, 12): permuted sides are (s_ab, s_ac, s_bc)
_VERT = np.array([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]], np.int64)
_SIDE = np.array([[0, 1, 2], [1, 0, 2], [0, 2, 1], [2, 0, 1], [1, 2, 0], [2, 1, 0]], np.int64)


@njit(inline="always")
def _scatter(WA, c, la, ha, RA, Z, dZ, oa, ob, out, dout, grad):
    """out[rows of A, rows of B] += W_c^T Z for the active slots ``la..ha``
    of cluster ``c`` (weights ``WA`` (C, S, R), ``RA`` rows of A, ``Z``, ``dZ``
    (S, RB) the slot x row-of-B products, tile origin ``(oa, ob)``)."""
    RB = Z.shape[1]
    for x in range(la, ha + 1):
        for ra in range(RA):
            w = WA[c, x, ra]
            if w == 0.0:
                continue
            for r in range(RB):
                out[oa + ra, ob + r] += w * Z[x, r]
                if grad:
                    dout[oa + ra, ob + r] += w * dZ[x, r]


@njit(inline="always", fastmath=True)
def _k3_block(a, b, A, B, ls, out, dout, grad, VERT, SIDE):
    """Block ``a`` of ``A`` against block ``b`` of ``B`` (both
    :class:`TripletBlocks`); ``VERT``, ``SIDE`` (6, 3) the vertex
    permutations and the side permutations they induce."""
    tA, FA, dFA, sA, kA, WA, pA = A.sides, A.cutoff, A.cutoff_grad, A.species, A.species_key, A.weights, A.block_ptr
    roA, nrA, loA, hiA = A.row_offset, A.n_rows, A.first_slot, A.last_slot
    tB, FB, dFB, sB, kB, WB, pB = B.sides, B.cutoff, B.cutoff_grad, B.species, B.species_key, B.weights, B.block_ptr
    roB, nrB, loB, hiB = B.row_offset, B.n_rows, B.first_slot, B.last_slot
    RA = nrA[a]
    RB = nrB[b]
    la, ha = loA[a], hiA[a]
    lb, hb = loB[b], hiB[b]
    inv = 1.0 / (ls * ls)
    Z = np.zeros((4, RB))
    dZ = np.zeros((4, RB))
    M = np.zeros((4, 4))
    dM = np.zeros((4, 4))
    vA = np.zeros(4)
    vB = np.zeros(4)
    dvA = np.zeros(4)
    dvB = np.zeros(4)
    delta = np.zeros(3)
    dinvB = np.zeros(3)
    for c in range(pA[a], pA[a + 1]):
        for x in range(4):
            for r in range(RB):
                Z[x, r] = 0.0
                dZ[x, r] = 0.0
        FAc = FA[c]
        for c2 in range(pB[b], pB[b + 1]):
            if kA[c] != kB[c2]:
                continue
            for x in range(4):
                for y in range(4):
                    M[x, y] = 0.0
                    dM[x, y] = 0.0
            FBc = FB[c2]
            for p in range(6):
                if (sA[c, 0] != sB[c2, VERT[p, 0]] or sA[c, 1] != sB[c2, VERT[p, 1]]
                        or sA[c, 2] != sB[c2, VERT[p, 2]]):
                    continue
                s2 = 0.0
                for m in range(3):
                    delta[m] = tA[c, m] - tB[c2, SIDE[p, m]]
                    s2 += delta[m] * delta[m]
                    dinvB[SIDE[p, m]] = delta[m]
                G = np.exp(-0.5 * s2 * inv)
                ff = FAc * FBc * inv
                vA[0] = FAc
                vB[0] = FBc
                for m in range(3):
                    vA[m + 1] = dFA[c, m] - FAc * delta[m] * inv
                    vB[m + 1] = dFB[c2, m] + FBc * dinvB[m] * inv
                for x in range(la, ha + 1):
                    for y in range(lb, hb + 1):
                        v = vA[x] * vB[y]
                        if x > 0 and y > 0 and SIDE[p, x - 1] == y - 1:
                            v += ff
                        M[x, y] += G * v
                if grad:
                    dG = G * s2 * inv / ls
                    dvA[0] = 0.0
                    dvB[0] = 0.0
                    for m in range(3):
                        dvA[m + 1] = 2.0 * FAc * delta[m] * inv / ls
                        dvB[m + 1] = -2.0 * FBc * dinvB[m] * inv / ls
                    for x in range(la, ha + 1):
                        for y in range(lb, hb + 1):
                            v = vA[x] * vB[y]
                            dv = dvA[x] * vB[y] + vA[x] * dvB[y]
                            if x > 0 and y > 0 and SIDE[p, x - 1] == y - 1:
                                v += ff
                                dv -= 2.0 * ff / ls
                            dM[x, y] += dG * v + G * dv
            for x in range(la, ha + 1):
                for y in range(lb, hb + 1):
                    mxy = M[x, y]
                    dmxy = dM[x, y]
                    for r in range(RB):
                        w = WB[c2, y, r]
                        Z[x, r] += mxy * w
                        dZ[x, r] += dmxy * w
        _scatter(WA, c, la, ha, RA, Z, dZ, roA[a], roB[b], out, dout, grad)


@njit(cache=True, fastmath=True, nogil=True)
def _k3_block_run(ia, ib, lo, hi, A, B, ls, out, dout, grad, VERT, SIDE):
    """The block pairs ``lo..hi`` of :func:`k3_block_pairs`."""
    for q in range(lo, hi):
        _k3_block(ia[q], ib[q], A, B, ls, out, dout, grad, VERT, SIDE)


def k3_block_pairs(ia, ib, A, B, ls, out, dout, grad):
    """Accumulate the 3-body kernel of the block pairs ``(ia[q], ib[q])``.

    Parameters
    ----------
    ia, ib : (Q,) int arrays
        Block pairs; each pair must write a distinct region of ``out``.
    A, B : TripletBlocks
        Triplet listings (sides (T, 3), cutoff products (T,) and their
        derivatives (T, 3), vertex species (T, 3), species keys (T,),
        slot -> row weights (T, 4, R)), the CSR pointer (nb + 1,) of each
        block's listings, and per block (nb,): row offset in ``out``, number
        of rows, first and last active slot.
    ls : float
        Length scale.
    out, dout : (rowsA, rowsB) arrays
        Kernel and its length-scale derivative (accumulated).
    grad : bool
    """
    run_pairs(_k3_block_run, ia, ib, A, B, ls, out, dout, grad, _VERT, _SIDE)


@njit(inline="always", fastmath=True)
def _k2_block(a, b, A, B, ls, out, dout, grad):
    """Block ``a`` of ``A`` against block ``b`` of ``B`` (both :class:`PairBlocks`)."""
    tA, FA, dFA, kA, WA, pA = A.distance, A.cutoff, A.cutoff_deriv, A.species_key, A.weights, A.block_ptr
    roA, nrA, loA, hiA = A.row_offset, A.n_rows, A.first_slot, A.last_slot
    tB, FB, dFB, kB, WB, pB = B.distance, B.cutoff, B.cutoff_deriv, B.species_key, B.weights, B.block_ptr
    roB, nrB, loB, hiB = B.row_offset, B.n_rows, B.first_slot, B.last_slot
    RA = nrA[a]
    RB = nrB[b]
    la, ha = min(loA[a], 1), min(hiA[a], 1)
    lb, hb = min(loB[b], 1), min(hiB[b], 1)
    inv = 1.0 / (ls * ls)
    Z = np.zeros((2, RB))
    dZ = np.zeros((2, RB))
    vA = np.zeros(2)
    vB = np.zeros(2)
    dvA = np.zeros(2)
    dvB = np.zeros(2)
    for c in range(pA[a], pA[a + 1]):
        for x in range(2):
            for r in range(RB):
                Z[x, r] = 0.0
                dZ[x, r] = 0.0
        FAc = FA[c]
        for c2 in range(pB[b], pB[b + 1]):
            if kA[c] != kB[c2]:
                continue
            FBc = FB[c2]
            delta = tA[c] - tB[c2]
            s2 = delta * delta
            G = np.exp(-0.5 * s2 * inv)
            ff = FAc * FBc * inv
            vA[0] = FAc
            vB[0] = FBc
            vA[1] = dFA[c] - FAc * delta * inv
            vB[1] = dFB[c2] + FBc * delta * inv
            dG = G * s2 * inv / ls
            dvA[1] = 2.0 * FAc * delta * inv / ls
            dvB[1] = -2.0 * FBc * delta * inv / ls
            for x in range(la, ha + 1):
                for y in range(lb, hb + 1):
                    v = vA[x] * vB[y]
                    dv = dvA[x] * vB[y] + vA[x] * dvB[y]
                    if x == 1 and y == 1:
                        v += ff
                        dv -= 2.0 * ff / ls
                    m = G * v
                    dm = dG * v + G * dv
                    for r in range(RB):
                        w = WB[c2, y, r]
                        Z[x, r] += m * w
                        dZ[x, r] += dm * w
        _scatter(WA, c, la, ha, RA, Z, dZ, roA[a], roB[b], out, dout, grad)


@njit(cache=True, fastmath=True, nogil=True)
def _k2_block_run(ia, ib, lo, hi, A, B, ls, out, dout, grad):
    """The block pairs ``lo..hi`` of :func:`k2_block_pairs`."""
    for q in range(lo, hi):
        _k2_block(ia[q], ib[q], A, B, ls, out, dout, grad)


def k2_block_pairs(ia, ib, A, B, ls, out, dout, grad):
    """Accumulate the 2-body kernel of the block pairs ``(ia[q], ib[q])``.

    Same layout as :func:`k3_block_pairs` with :class:`PairBlocks`:
    distances, cutoffs and their derivatives (P,), the unordered
    species-pair code (P,) and the (value, d/dr) -> row weights (P, 2, R).
    """
    run_pairs(_k2_block_run, ia, ib, A, B, ls, out, dout, grad)
