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
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["k2_block_pairs", "k3_block_pairs", "k2_ff_soa_pairs", "k3_ff_soa_pairs",
           "k2_xe_soa_pairs", "k3_xe_soa_pairs", "expneg"]

# vertex permutations (a, b, c) and the side permutation they induce, sides
# ordered (01, 02, 12): permuted sides are (s_ab, s_ac, s_bc)
_VERT = np.array([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]], np.int64)
_SIDE = np.array([[0, 1, 2], [1, 0, 2], [0, 2, 1], [2, 0, 1], [1, 2, 0], [2, 1, 0]], np.int64)


@njit(inline="always")
def _scatter(WA, c, la, ha, RA, RB, Z, dZ, oa, ob, out, dout, grad):
    """out[rows of A, rows of B] += W_c^T Z for the active slots of cluster c."""
    for x in range(la, ha + 1):
        for ra in range(RA):
            w = WA[c, x, ra]
            if w == 0.0:
                continue
            for r in range(RB):
                out[oa + ra, ob + r] += w * Z[x, r]
                if grad:
                    dout[oa + ra, ob + r] += w * dZ[x, r]


@njit(cache=True, fastmath=True)
def _k3_block(a, b, tA, FA, dFA, sA, kA, WA, pA, roA, nrA, loA, hiA,
              tB, FB, dFB, sB, kB, WB, pB, roB, nrB, loB, hiB,
              ls, out, dout, grad, VERT, SIDE):
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
        _scatter(WA, c, la, ha, RA, RB, Z, dZ, roA[a], roB[b], out, dout, grad)


@njit(parallel=True, cache=True)
def k3_block_pairs(ia, ib, tA, FA, dFA, sA, kA, WA, pA, roA, nrA, loA, hiA,
                   tB, FB, dFB, sB, kB, WB, pB, roB, nrB, loB, hiB,
                   ls, out, dout, grad):
    """Accumulate the 3-body kernel of the block pairs ``(ia[q], ib[q])``.

    Parameters
    ----------
    ia, ib : (Q,) int arrays
        Block pairs; each pair must write a distinct region of ``out``.
    tA : (T, 3) array
        Triplet sides of set A; ``tB`` likewise.
    FA : (T,) array
        Cutoff products; ``dFA`` (T, 3) their derivatives.
    sA : (T, 3) int array
        Vertex species; ``kA`` (T,) a code of the species multiset.
    WA : (T, 4, R) array
        Slot -> row weights.
    pA : (nA + 1,) int array
        CSR pointer of the listings of each block.
    roA, nrA : (nA,) int arrays
        Row offset of each block in ``out`` and its number of rows.
    loA, hiA : (nA,) int arrays
        First and last active slot of each block.
    ls : float
        Length scale.
    out, dout : (rowsA, rowsB) arrays
        Kernel and its length-scale derivative (accumulated).
    grad : bool
    """
    for q in prange(ia.shape[0]):
        _k3_block(ia[q], ib[q], tA, FA, dFA, sA, kA, WA, pA, roA, nrA, loA, hiA,
                  tB, FB, dFB, sB, kB, WB, pB, roB, nrB, loB, hiB,
                  ls, out, dout, grad, _VERT, _SIDE)


@njit(cache=True, fastmath=True)
def _k2_block(a, b, tA, FA, dFA, kA, WA, pA, roA, nrA, loA, hiA,
              tB, FB, dFB, kB, WB, pB, roB, nrB, loB, hiB,
              ls, out, dout, grad):
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
        _scatter(WA, c, la, ha, RA, RB, Z, dZ, roA[a], roB[b], out, dout, grad)


@njit(parallel=True, cache=True)
def k2_block_pairs(ia, ib, tA, FA, dFA, kA, WA, pA, roA, nrA, loA, hiA,
                   tB, FB, dFB, kB, WB, pB, roB, nrB, loB, hiB,
                   ls, out, dout, grad):
    """Accumulate the 2-body kernel of the block pairs ``(ia[q], ib[q])``.

    Same layout as :func:`k3_block_pairs` with pair listings: ``tA, FA, dFA``
    are (P,) arrays, ``kA`` (P,) the unordered species-pair code and ``WA``
    (P, 2, R) the (value, d/dr) -> row weights.
    """
    for q in prange(ia.shape[0]):
        _k2_block(ia[q], ib[q], tA, FA, dFA, kA, WA, pA, roA, nrA, loA, hiA,
                  tB, FB, dFB, kB, WB, pB, roB, nrB, loB, hiB,
                  ls, out, dout, grad)


@njit(inline="always", fastmath=True)
def expneg(x):
    """``exp(x)`` for ``x <= 0`` from arithmetic only, so loops vectorise.

    ``exp(x) = (exp(x / 1024))^1024`` with a degree-9 Taylor polynomial on
    ``|x / 1024| <= 0.05``; relative error below 1e-13 for ``x >= -50``.
    Arguments below -50 are clamped (the result, 2e-22, is then an upper
    bound that is negligible against the other terms of a kernel sum).
    """
    y = max(x, -50.0) * (1.0 / 1024.0)
    p = 1.0 + y * (1.0 + y * (0.5 + y * (1.0 / 6.0 + y * (1.0 / 24.0 + y * (
        1.0 / 120.0 + y * (1.0 / 720.0 + y * (1.0 / 5040.0 + y * (1.0 / 40320.0 + y / 362880.0))))))))
    for _ in range(10):
        p = p * p
    return p


@njit(inline="always")
def _perm_weights(q0, q1, q2, r0, r1, r2, same):
    """``same`` for each vertex permutation (a,b,c) of the second cluster
    that maps its species (r) onto the first cluster's (q), else 0."""
    return (same if (q0 == r0 and q1 == r1 and q2 == r2) else 0.0,
            same if (q0 == r0 and q1 == r2 and q2 == r1) else 0.0,
            same if (q0 == r1 and q1 == r0 and q2 == r2) else 0.0,
            same if (q0 == r1 and q1 == r2 and q2 == r0) else 0.0,
            same if (q0 == r2 and q1 == r0 and q2 == r1) else 0.0,
            same if (q0 == r2 and q1 == r1 and q2 == r0) else 0.0)


@njit(inline="always", fastmath=True)
def _ffp(d0, d1, d2, dm0, dm1, p00, p01, p10, p11, FA, FB, a0c, a1c, g0, g1, inv, ils, on):
    s2 = d0 * d0 + d1 * d1 + d2 * d2
    G = on * expneg(-0.5 * s2 * inv)
    dG = G * s2 * inv * ils
    ff = FA * FB * inv
    a0 = a0c - FA * d0 * inv
    a1 = a1c - FA * d1 * inv
    b0 = g0 + FB * dm0 * inv
    b1 = g1 + FB * dm1 * inv
    da0 = 2.0 * FA * d0 * inv * ils
    da1 = 2.0 * FA * d1 * inv * ils
    db0 = -2.0 * FB * dm0 * inv * ils
    db1 = -2.0 * FB * dm1 * inv * ils
    dff = -2.0 * ff * ils
    v00 = a0 * b0 + ff * p00
    v01 = a0 * b1 + ff * p01
    v10 = a1 * b0 + ff * p10
    v11 = a1 * b1 + ff * p11
    return (G * v00, G * v01, G * v10, G * v11,
            dG * v00 + G * (da0 * b0 + a0 * db0 + dff * p00),
            dG * v01 + G * (da0 * b1 + a0 * db1 + dff * p01),
            dG * v10 + G * (da1 * b0 + a1 * db0 + dff * p10),
            dG * v11 + G * (da1 * b1 + a1 * db1 + dff * p11))


@njit(cache=True, fastmath=True)
def _k3_ff_soa_block(a, b, tA, FA, dFA, sA, kA, WA, pA, roA, B, sB, kB, pB, roB, ls, out, dout, grad):
    inv = 1.0 / (ls * ls)
    ils = 1.0 / ls
    oa = roA[a]
    ob = roB[b]
    lo, hi = pB[b], pB[b + 1]
    u0a, u1a, u2a, FBa, g0a, g1a = B[0], B[1], B[2], B[3], B[4], B[5]
    w0x, w0y, w0z, w1x, w1y, w1z = B[6], B[7], B[8], B[9], B[10], B[11]
    s0a, s1a, s2a = sB[0], sB[1], sB[2]
    for c in range(pA[a], pA[a + 1]):
        t0 = tA[c, 0]
        t1 = tA[c, 1]
        t2 = tA[c, 2]
        FAc = FA[c]
        a0c = dFA[c, 0]
        a1c = dFA[c, 1]
        q0, q1, q2, key = sA[c, 0], sA[c, 1], sA[c, 2], kA[c]
        z0x = z0y = z0z = z1x = z1y = z1z = 0.0
        y0x = y0y = y0z = y1x = y1y = y1z = 0.0
        for c2 in range(lo, hi):
            u0 = u0a[c2]
            u1 = u1a[c2]
            u2 = u2a[c2]
            FBc = FBa[c2]
            g0 = g0a[c2]
            g1 = g1a[c2]
            r0, r1, r2 = s0a[c2], s1a[c2], s2a[c2]
            same = 1.0 if kB[c2] == key else 0.0
            # validity of the vertex permutations (a,b,c) of the second cluster
            e012, e021, e102, e120, e201, e210 = _perm_weights(q0, q1, q2, r0, r1, r2, same)
            # vertex perm -> side perm sigma: 012->(0,1,2) 021->(1,0,2) 102->(0,2,1)
            # 120->(2,0,1) 201->(1,2,0) 210->(2,1,0)
            m = _ffp(t0 - u0, t1 - u1, t2 - u2, t0 - u0, t1 - u1, 1.0, 0.0, 0.0, 1.0,
                     FAc, FBc, a0c, a1c, g0, g1, inv, ils, e012)
            m2 = _ffp(t0 - u1, t1 - u0, t2 - u2, t1 - u0, t0 - u1, 0.0, 1.0, 1.0, 0.0,
                      FAc, FBc, a0c, a1c, g0, g1, inv, ils, e021)
            m3 = _ffp(t0 - u0, t1 - u2, t2 - u1, t0 - u0, t2 - u1, 1.0, 0.0, 0.0, 0.0,
                      FAc, FBc, a0c, a1c, g0, g1, inv, ils, e102)
            m4 = _ffp(t0 - u2, t1 - u0, t2 - u1, t1 - u0, t2 - u1, 0.0, 0.0, 1.0, 0.0,
                      FAc, FBc, a0c, a1c, g0, g1, inv, ils, e120)
            m5 = _ffp(t0 - u1, t1 - u2, t2 - u0, t2 - u0, t0 - u1, 0.0, 1.0, 0.0, 0.0,
                      FAc, FBc, a0c, a1c, g0, g1, inv, ils, e201)
            m6 = _ffp(t0 - u2, t1 - u1, t2 - u0, t2 - u0, t1 - u1, 0.0, 0.0, 0.0, 1.0,
                      FAc, FBc, a0c, a1c, g0, g1, inv, ils, e210)
            M00 = m[0] + m2[0] + m3[0] + m4[0] + m5[0] + m6[0]
            M01 = m[1] + m2[1] + m3[1] + m4[1] + m5[1] + m6[1]
            M10 = m[2] + m2[2] + m3[2] + m4[2] + m5[2] + m6[2]
            M11 = m[3] + m2[3] + m3[3] + m4[3] + m5[3] + m6[3]
            D00 = m[4] + m2[4] + m3[4] + m4[4] + m5[4] + m6[4]
            D01 = m[5] + m2[5] + m3[5] + m4[5] + m5[5] + m6[5]
            D10 = m[6] + m2[6] + m3[6] + m4[6] + m5[6] + m6[6]
            D11 = m[7] + m2[7] + m3[7] + m4[7] + m5[7] + m6[7]
            wx0, wy0, wz0, wx1, wy1, wz1 = w0x[c2], w0y[c2], w0z[c2], w1x[c2], w1y[c2], w1z[c2]
            z0x += M00 * wx0 + M01 * wx1
            z0y += M00 * wy0 + M01 * wy1
            z0z += M00 * wz0 + M01 * wz1
            z1x += M10 * wx0 + M11 * wx1
            z1y += M10 * wy0 + M11 * wy1
            z1z += M10 * wz0 + M11 * wz1
            y0x += D00 * wx0 + D01 * wx1
            y0y += D00 * wy0 + D01 * wy1
            y0z += D00 * wz0 + D01 * wz1
            y1x += D10 * wx0 + D11 * wx1
            y1y += D10 * wy0 + D11 * wy1
            y1z += D10 * wz0 + D11 * wz1
        for ra in range(3):
            w0 = WA[c, 1, ra]
            w1 = WA[c, 2, ra]
            out[oa + ra, ob + 0] += w0 * z0x + w1 * z1x
            out[oa + ra, ob + 1] += w0 * z0y + w1 * z1y
            out[oa + ra, ob + 2] += w0 * z0z + w1 * z1z
            if grad:
                dout[oa + ra, ob + 0] += w0 * y0x + w1 * y1x
                dout[oa + ra, ob + 1] += w0 * y0y + w1 * y1y
                dout[oa + ra, ob + 2] += w0 * y0z + w1 * y1z


@njit(parallel=True, cache=True)
def k3_ff_soa_pairs(ia, ib, tA, FA, dFA, sA, kA, WA, pA, roA, B, sB, kB, pB, roB, ls, out, dout, grad):
    """Force/force 3-body kernel with a branch-free, vectorisable inner loop.

    ``B`` (12, T) holds the second set's triplets as structure of arrays:
    sides t0, t1, t2, cutoff product, its derivatives along t0, t1, and the
    unit vectors (x, y, z) of sides t0 and t1; ``sB`` (3, T) the vertex
    species. Other arguments as in :func:`k3_block_pairs`.
    """
    for q in prange(ia.shape[0]):
        _k3_ff_soa_block(ia[q], ib[q], tA, FA, dFA, sA, kA, WA, pA, roA, B, sB, kB, pB, roB,
                         ls, out, dout, grad)


@njit(cache=True, fastmath=True)
def _k2_ff_soa_block(a, b, tA, FA, dFA, kA, WA, pA, roA, B, kB, pB, roB, ls, out, dout, grad):
    inv = 1.0 / (ls * ls)
    ils = 1.0 / ls
    oa = roA[a]
    ob = roB[b]
    lo, hi = pB[b], pB[b + 1]
    tBa, FBa, gBa, wx, wy, wz = B[0], B[1], B[2], B[3], B[4], B[5]
    for c in range(pA[a], pA[a + 1]):
        t = tA[c]
        FAc = FA[c]
        gA = dFA[c]
        key = kA[c]
        zx = zy = zz = yx = yy = yz = 0.0
        for c2 in range(lo, hi):
            FBc = FBa[c2]
            d = t - tBa[c2]
            s2 = d * d
            G = (1.0 if kB[c2] == key else 0.0) * expneg(-0.5 * s2 * inv)
            ff = FAc * FBc * inv
            av = gA - FAc * d * inv
            bv = gBa[c2] + FBc * d * inv
            v = av * bv + ff
            m = G * v
            dm = G * s2 * inv * ils * v + G * (2.0 * FAc * d * inv * ils * bv
                                               - 2.0 * FBc * d * inv * ils * av - 2.0 * ff * ils)
            zx += m * wx[c2]
            zy += m * wy[c2]
            zz += m * wz[c2]
            yx += dm * wx[c2]
            yy += dm * wy[c2]
            yz += dm * wz[c2]
        for ra in range(3):
            w = WA[c, 1, ra]
            out[oa + ra, ob + 0] += w * zx
            out[oa + ra, ob + 1] += w * zy
            out[oa + ra, ob + 2] += w * zz
            if grad:
                dout[oa + ra, ob + 0] += w * yx
                dout[oa + ra, ob + 1] += w * yy
                dout[oa + ra, ob + 2] += w * yz


@njit(parallel=True, cache=True)
def k2_ff_soa_pairs(ia, ib, tA, FA, dFA, kA, WA, pA, roA, B, kB, pB, roB, ls, out, dout, grad):
    """Force/force 2-body kernel with a vectorisable inner loop.

    ``B`` (6, P) holds the second set's pairs as structure of arrays:
    distance, cutoff, its derivative and the unit vector (x, y, z).
    """
    for q in prange(ia.shape[0]):
        _k2_ff_soa_block(ia[q], ib[q], tA, FA, dFA, kA, WA, pA, roA, B, kB, pB, roB,
                         ls, out, dout, grad)


@njit(inline="always", fastmath=True)
def _fep(d0, d1, d2, FA, a0c, a1c, inv, ils, on):
    """One vertex permutation of the (force or energy)/energy 3-body kernel:
    returns G, G a0, G a1 and their length-scale derivatives (FB left out)."""
    s2 = d0 * d0 + d1 * d1 + d2 * d2
    G = on * expneg(-0.5 * s2 * inv)
    dG = G * s2 * inv * ils
    a0 = a0c - FA * d0 * inv
    a1 = a1c - FA * d1 * inv
    da0 = 2.0 * FA * d0 * inv * ils
    da1 = 2.0 * FA * d1 * inv * ils
    return G, G * a0, G * a1, dG, dG * a0 + G * da0, dG * a1 + G * da1


@njit(cache=True, fastmath=True)
def _k3_xe_soa_block(a, b, tA, FA, dFA, sA, kA, WA, pA, roA, forceA, B, sB, kB, pB, roB,
                     ls, out, dout, grad):
    inv = 1.0 / (ls * ls)
    ils = 1.0 / ls
    oa = roA[a]
    ob = roB[b]
    lo, hi = pB[b], pB[b + 1]
    u0a, u1a, u2a, FWa = B[0], B[1], B[2], B[3]
    s0a, s1a, s2a = sB[0], sB[1], sB[2]
    for c in range(pA[a], pA[a + 1]):
        t0 = tA[c, 0]
        t1 = tA[c, 1]
        t2 = tA[c, 2]
        FAc = FA[c]
        a0c = dFA[c, 0]
        a1c = dFA[c, 1]
        q0, q1, q2, key = sA[c, 0], sA[c, 1], sA[c, 2], kA[c]
        zv = z0 = z1 = yv = y0 = y1 = 0.0
        for c2 in range(lo, hi):
            u0 = u0a[c2]
            u1 = u1a[c2]
            u2 = u2a[c2]
            r0, r1, r2 = s0a[c2], s1a[c2], s2a[c2]
            same = FWa[c2] if kB[c2] == key else 0.0  # FB times the energy weight
            e012, e021, e102, e120, e201, e210 = _perm_weights(q0, q1, q2, r0, r1, r2, same)
            m = _fep(t0 - u0, t1 - u1, t2 - u2, FAc, a0c, a1c, inv, ils, e012)
            m2 = _fep(t0 - u1, t1 - u0, t2 - u2, FAc, a0c, a1c, inv, ils, e021)
            m3 = _fep(t0 - u0, t1 - u2, t2 - u1, FAc, a0c, a1c, inv, ils, e102)
            m4 = _fep(t0 - u2, t1 - u0, t2 - u1, FAc, a0c, a1c, inv, ils, e120)
            m5 = _fep(t0 - u1, t1 - u2, t2 - u0, FAc, a0c, a1c, inv, ils, e201)
            m6 = _fep(t0 - u2, t1 - u1, t2 - u0, FAc, a0c, a1c, inv, ils, e210)
            zv += m[0] + m2[0] + m3[0] + m4[0] + m5[0] + m6[0]
            z0 += m[1] + m2[1] + m3[1] + m4[1] + m5[1] + m6[1]
            z1 += m[2] + m2[2] + m3[2] + m4[2] + m5[2] + m6[2]
            yv += m[3] + m2[3] + m3[3] + m4[3] + m5[3] + m6[3]
            y0 += m[4] + m2[4] + m3[4] + m4[4] + m5[4] + m6[4]
            y1 += m[5] + m2[5] + m3[5] + m4[5] + m5[5] + m6[5]
        if forceA[a]:
            for ra in range(3):
                w0 = WA[c, 1, ra]
                w1 = WA[c, 2, ra]
                out[oa + ra, ob] += w0 * z0 + w1 * z1
                if grad:
                    dout[oa + ra, ob] += w0 * y0 + w1 * y1
        else:
            w = WA[c, 0, 0] * FAc
            out[oa, ob] += w * zv
            if grad:
                dout[oa, ob] += w * yv


@njit(parallel=True, cache=True)
def k3_xe_soa_pairs(ia, ib, tA, FA, dFA, sA, kA, WA, pA, roA, forceA, B, sB, kB, pB, roB,
                    ls, out, dout, grad):
    """3-body kernel between force-only or energy-only blocks (A) and
    energy-only blocks (B), vectorised over B's triplets.

    ``forceA`` (nA,) bool tells force blocks (rows Fx, Fy, Fz) from energy
    blocks (one row). ``B`` (4, T) holds sides t0, t1, t2 and the cutoff
    product times the energy weight; ``sB`` (3, T) the vertex species.
    """
    for q in prange(ia.shape[0]):
        _k3_xe_soa_block(ia[q], ib[q], tA, FA, dFA, sA, kA, WA, pA, roA, forceA, B, sB, kB, pB, roB,
                         ls, out, dout, grad)


@njit(cache=True, fastmath=True)
def _k2_xe_soa_block(a, b, tA, FA, dFA, kA, WA, pA, roA, forceA, B, kB, pB, roB, ls, out, dout, grad):
    inv = 1.0 / (ls * ls)
    ils = 1.0 / ls
    oa = roA[a]
    ob = roB[b]
    lo, hi = pB[b], pB[b + 1]
    tBa, FWa = B[0], B[1]
    for c in range(pA[a], pA[a + 1]):
        t = tA[c]
        FAc = FA[c]
        gA = dFA[c]
        key = kA[c]
        zv = z1 = yv = y1 = 0.0
        for c2 in range(lo, hi):
            d = t - tBa[c2]
            s2 = d * d
            G = (FWa[c2] if kB[c2] == key else 0.0) * expneg(-0.5 * s2 * inv)
            dG = G * s2 * inv * ils
            av = gA - FAc * d * inv
            zv += G
            yv += dG
            z1 += G * av
            y1 += dG * av + G * 2.0 * FAc * d * inv * ils
        if forceA[a]:
            for ra in range(3):
                w = WA[c, 1, ra]
                out[oa + ra, ob] += w * z1
                if grad:
                    dout[oa + ra, ob] += w * y1
        else:
            w = WA[c, 0, 0] * FAc
            out[oa, ob] += w * zv
            if grad:
                dout[oa, ob] += w * yv


@njit(parallel=True, cache=True)
def k2_xe_soa_pairs(ia, ib, tA, FA, dFA, kA, WA, pA, roA, forceA, B, kB, pB, roB, ls, out, dout, grad):
    """2-body kernel between force-only or energy-only blocks (A) and
    energy-only blocks (B); ``B`` (2, P) holds distance and cutoff times
    the energy weight."""
    for q in prange(ia.shape[0]):
        _k2_xe_soa_block(ia[q], ib[q], tA, FA, dFA, kA, WA, pA, roA, forceA, B, kB, pB, roB,
                         ls, out, dout, grad)
