"""Vectorised 2- and 3-body kernels for the common block pairs: force/force
(``*_ff_soa_pairs``) and force-or-energy/energy (``*_xe_soa_pairs``), the
second block set read as structure-of-arrays columns
(:mod:`alff.kernels.arguments`). Same kernel as :mod:`alff.kernels.manybody`
(which the tests compare them with), fewer operations per cluster pair.

Each kernel is one compiled function (``_*_run``, ``fastmath``) with every
helper inlined into it, run on threads by
:func:`~alff.kernels.parallel.run_pairs`: the same machine code whether
numba compiled it or loaded it from its cache (see that module)."""

from __future__ import annotations

from numba import njit

from .parallel import run_pairs

__all__ = ["k2_ff_soa_pairs", "k3_ff_soa_pairs", "k2_xe_soa_pairs", "k3_xe_soa_pairs", "expneg"]


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
def _ffp(d, dm, p, FA, FB, a_c, g, inv, ils, on):
    """One vertex permutation of the force/force 3-body kernel.

    ``d`` (d0, d1, d2): side differences ``t - sigma(u)``; ``dm`` (dm0, dm1):
    the differences matched to the second cluster's sides t0, t1; ``p``
    (p00, p01, p10, p11): 1 where side x of the first cluster maps onto side
    y of the second; ``FA``, ``FB`` cutoff products; ``a_c`` (a0c, a1c),
    ``g`` (g0, g1) their derivatives along t0, t1; ``inv`` 1/l^2, ``ils``
    1/l; ``on`` the permutation weight. Returns the 2x2 slot kernel
    (M00, M01, M10, M11) and its length-scale derivative.
    """
    d0, d1, d2 = d
    dm0, dm1 = dm
    p00, p01, p10, p11 = p
    a0c, a1c = a_c
    g0, g1 = g
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


@njit(inline="always", fastmath=True)
def _k3_ff_soa_block(a, b, A, B, ls, out, dout, grad):
    """Force block ``a`` of ``A`` (:class:`TripletBlocks`) against force
    block ``b`` of ``B`` (:class:`ForceTripletColumns`)."""
    tA, FA, dFA, sA, kA, WA, pA = A.sides, A.cutoff, A.cutoff_grad, A.species, A.species_key, A.weights, A.block_ptr
    roA = A.row_offset
    kB, pB, roB = B.species_key, B.block_ptr, B.row_offset
    inv = 1.0 / (ls * ls)
    ils = 1.0 / ls
    oa = roA[a]
    ob = roB[b]
    lo, hi = pB[b], pB[b + 1]
    sB = B.species
    cols = B.columns
    # sides, cutoff product and its derivatives along t0, t1
    u0a, u1a, u2a, FBa, g0a, g1a = cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
    # unit vectors of sides t0 and t1
    w0x, w0y, w0z, w1x, w1y, w1z = cols[6], cols[7], cols[8], cols[9], cols[10], cols[11]
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
            ac = (a0c, a1c)
            gc = (g0, g1)
            m = _ffp((t0 - u0, t1 - u1, t2 - u2), (t0 - u0, t1 - u1), (1.0, 0.0, 0.0, 1.0),
                     FAc, FBc, ac, gc, inv, ils, e012)
            m2 = _ffp((t0 - u1, t1 - u0, t2 - u2), (t1 - u0, t0 - u1), (0.0, 1.0, 1.0, 0.0),
                      FAc, FBc, ac, gc, inv, ils, e021)
            m3 = _ffp((t0 - u0, t1 - u2, t2 - u1), (t0 - u0, t2 - u1), (1.0, 0.0, 0.0, 0.0),
                      FAc, FBc, ac, gc, inv, ils, e102)
            m4 = _ffp((t0 - u2, t1 - u0, t2 - u1), (t1 - u0, t2 - u1), (0.0, 0.0, 1.0, 0.0),
                      FAc, FBc, ac, gc, inv, ils, e120)
            m5 = _ffp((t0 - u1, t1 - u2, t2 - u0), (t2 - u0, t0 - u1), (0.0, 1.0, 0.0, 0.0),
                      FAc, FBc, ac, gc, inv, ils, e201)
            m6 = _ffp((t0 - u2, t1 - u1, t2 - u0), (t2 - u0, t1 - u1), (0.0, 0.0, 0.0, 1.0),
                      FAc, FBc, ac, gc, inv, ils, e210)
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


@njit(cache=True, fastmath=True, nogil=True)
def _k3_ff_soa_run(ia, ib, lo, hi, A, B, ls, out, dout, grad):
    """The block pairs ``lo..hi`` of :func:`k3_ff_soa_pairs`."""
    for q in range(lo, hi):
        _k3_ff_soa_block(ia[q], ib[q], A, B, ls, out, dout, grad)


def k3_ff_soa_pairs(ia, ib, A, B, ls, out, dout, grad):
    """Force/force 3-body kernel with a branch-free, vectorisable inner loop.

    ``A`` (:class:`TripletBlocks`) and ``B`` (:class:`ForceTripletColumns`:
    the second set's triplets as structure of arrays, (12, T) columns of
    sides t0, t1, t2, cutoff product, its derivatives along t0, t1 and the
    unit vectors (x, y, z) of sides t0 and t1; vertex species (3, T)) are
    force-only sets. Other arguments as in :func:`k3_block_pairs`.
    """
    run_pairs(_k3_ff_soa_run, ia, ib, A, B, ls, out, dout, grad)


@njit(inline="always", fastmath=True)
def _k2_ff_soa_block(a, b, A, B, ls, out, dout, grad):
    """Force block ``a`` of ``A`` (:class:`PairBlocks`) against force block
    ``b`` of ``B`` (:class:`ForcePairColumns`)."""
    tA, FA, dFA, kA, WA, pA = A.distance, A.cutoff, A.cutoff_deriv, A.species_key, A.weights, A.block_ptr
    roA = A.row_offset
    kB, pB, roB = B.species_key, B.block_ptr, B.row_offset
    inv = 1.0 / (ls * ls)
    ils = 1.0 / ls
    oa = roA[a]
    ob = roB[b]
    lo, hi = pB[b], pB[b + 1]
    cols = B.columns
    # distance, cutoff, its derivative, unit vector
    tBa, FBa, gBa, wx, wy, wz = cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
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


@njit(cache=True, fastmath=True, nogil=True)
def _k2_ff_soa_run(ia, ib, lo, hi, A, B, ls, out, dout, grad):
    """The block pairs ``lo..hi`` of :func:`k2_ff_soa_pairs`."""
    for q in range(lo, hi):
        _k2_ff_soa_block(ia[q], ib[q], A, B, ls, out, dout, grad)


def k2_ff_soa_pairs(ia, ib, A, B, ls, out, dout, grad):
    """Force/force 2-body kernel with a vectorisable inner loop.

    ``A`` (:class:`PairBlocks`) and ``B`` (:class:`ForcePairColumns`: the
    second set's pairs as (6, P) columns of distance, cutoff, its derivative
    and the unit vector (x, y, z)) are force-only sets.
    """
    run_pairs(_k2_ff_soa_run, ia, ib, A, B, ls, out, dout, grad)


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


@njit(inline="always", fastmath=True)
def _k3_xe_soa_block(a, b, A, forceA, B, ls, out, dout, grad):
    """Force or energy block ``a`` of ``A`` (:class:`TripletBlocks`) against
    energy block ``b`` of ``B`` (:class:`EnergyTripletColumns`)."""
    tA, FA, dFA, sA, kA, WA, pA = A.sides, A.cutoff, A.cutoff_grad, A.species, A.species_key, A.weights, A.block_ptr
    roA = A.row_offset
    kB, pB, roB = B.species_key, B.block_ptr, B.row_offset
    inv = 1.0 / (ls * ls)
    ils = 1.0 / ls
    oa = roA[a]
    ob = roB[b]
    lo, hi = pB[b], pB[b + 1]
    sB = B.species
    cols = B.columns
    u0a, u1a, u2a, FWa = cols[0], cols[1], cols[2], cols[3]  # sides, cutoff product x energy weight
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


@njit(cache=True, fastmath=True, nogil=True)
def _k3_xe_soa_run(ia, ib, lo, hi, A, forceA, B, ls, out, dout, grad):
    """The block pairs ``lo..hi`` of :func:`k3_xe_soa_pairs`."""
    for q in range(lo, hi):
        _k3_xe_soa_block(ia[q], ib[q], A, forceA, B, ls, out, dout, grad)


def k3_xe_soa_pairs(ia, ib, A, forceA, B, ls, out, dout, grad):
    """3-body kernel between force-only or energy-only blocks (A) and
    energy-only blocks (B), vectorised over B's triplets.

    ``A`` : :class:`TripletBlocks`; ``forceA`` (nA,) bool tells its force
    blocks (rows Fx, Fy, Fz) from its energy blocks (one row). ``B`` :
    :class:`EnergyTripletColumns`, (4, T) columns of sides t0, t1, t2 and
    cutoff product times the energy weight, vertex species (3, T). Other
    arguments as in
    :func:`k3_block_pairs`.
    """
    run_pairs(_k3_xe_soa_run, ia, ib, A, forceA, B, ls, out, dout, grad)


@njit(inline="always", fastmath=True)
def _k2_xe_soa_block(a, b, A, forceA, B, ls, out, dout, grad):
    """Force or energy block ``a`` of ``A`` (:class:`PairBlocks`) against
    energy block ``b`` of ``B`` (:class:`EnergyPairColumns`)."""
    tA, FA, dFA, kA, WA, pA = A.distance, A.cutoff, A.cutoff_deriv, A.species_key, A.weights, A.block_ptr
    roA = A.row_offset
    kB, pB, roB = B.species_key, B.block_ptr, B.row_offset
    inv = 1.0 / (ls * ls)
    ils = 1.0 / ls
    oa = roA[a]
    ob = roB[b]
    lo, hi = pB[b], pB[b + 1]
    cols = B.columns
    tBa, FWa = cols[0], cols[1]  # distance, cutoff x energy weight
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


@njit(cache=True, fastmath=True, nogil=True)
def _k2_xe_soa_run(ia, ib, lo, hi, A, forceA, B, ls, out, dout, grad):
    """The block pairs ``lo..hi`` of :func:`k2_xe_soa_pairs`."""
    for q in range(lo, hi):
        _k2_xe_soa_block(ia[q], ib[q], A, forceA, B, ls, out, dout, grad)


def k2_xe_soa_pairs(ia, ib, A, forceA, B, ls, out, dout, grad):
    """2-body kernel between force-only or energy-only blocks (A,
    :class:`PairBlocks`, ``forceA`` (nA,) bool marks its force blocks) and
    energy-only blocks (B, :class:`EnergyPairColumns`: (2, P) columns of
    distance and cutoff times the energy weight)."""
    run_pairs(_k2_xe_soa_run, ia, ib, A, forceA, B, ls, out, dout, grad)
