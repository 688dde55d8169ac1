"""A dense, slow, independent numpy reference of the 2+3-body GP.

Clusters of an *open* structure are enumerated by brute force, vertex
permutations with itertools, and force covariances are mixed finite
differences of the energy/energy kernel. Nothing here imports alff's
kernels, so agreement checks the numba code and its analytic derivatives.
"""

import itertools

import numpy as np


def fc(r, rc):
    return np.where(r < rc, (rc - r) ** 2, 0.0)


def clusters(pos, z, r2, r3):
    """Pair listings (distance, species pair) and triplets with every vertex
    permutation: sides (T, 6, 3) and species (T, 6, 3)."""
    n = len(pos)
    z = np.asarray(z)
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    pr, ps = [], []
    for i in range(n):
        for j in range(n):
            if i != j and dist[i, j] < r2:
                pr.append(dist[i, j])
                ps.append(tuple(sorted((z[i], z[j]))))
    sides, spec = [], []
    for i in range(n):
        nb = [j for j in range(n) if j != i and dist[i, j] < r3]
        for j, k in itertools.combinations(nb, 2):
            if dist[j, k] < r3:
                v = (i, j, k)
                sides.append([[dist[v[p[0]], v[p[1]]], dist[v[p[0]], v[p[2]]], dist[v[p[1]], v[p[2]]]]
                              for p in itertools.permutations(range(3))])
                spec.append([[z[v[m]] for m in p] for p in itertools.permutations(range(3))])
    return (np.array(pr), np.array(ps).reshape(-1, 2),
            np.array(sides).reshape(-1, 6, 3), np.array(spec).reshape(-1, 6, 3))


def energy_kernel(X, zX, Y, zY, hyps, r2, r3):
    """Covariance of the total energies of two open structures."""
    s2, l2, s3, l3 = hyps["sigma2"], hyps["ls2"], hyps["sigma3"], hyps["ls3"]
    pX, psX, tX, sX = clusters(X, zX, r2, r3)
    pY, psY, tY, sY = clusters(Y, zY, r2, r3)
    same = np.all(psX[:, None] == psY[None], axis=-1)
    k2 = same * np.exp(-(pX[:, None] - pY[None]) ** 2 / (2 * l2 ** 2)) * fc(pX, r2)[:, None] * fc(pY, r2)[None]
    k = 0.25 * s2 ** 2 * k2.sum()
    if len(tX) and len(tY):
        a, sa = tX[:, 0], sX[:, 0]  # identity ordering of the first cluster
        Fa = np.prod(fc(a, r3), axis=1)
        Fb = np.prod(fc(tY[:, 0], r3), axis=1)
        match = np.all(sa[:, None, None] == sY[None], axis=-1)  # (TX, TY, 6)
        d2 = np.sum((a[:, None, None] - tY[None]) ** 2, axis=-1)
        k3 = (match * np.exp(-d2 / (2 * l3 ** 2))).sum(-1) * Fa[:, None] * Fb[None]
        k += s3 ** 2 / 9.0 * k3.sum()
    return k


STENCIL = ((-2, 1 / 12), (-1, -8 / 12), (1, 8 / 12), (2, -1 / 12))  # 4th order


def _derivative(fun, X, q, h):
    out = 0.0
    for k, w in STENCIL:
        Xs = X.copy().ravel()
        Xs[q] += k * h
        out = out + w * fun(Xs.reshape(-1, 3))
    return out / h


def force_energy_kernel(X, zX, Y, zY, hyps, r2, r3, h=1e-3):
    """cov(F(X), E(Y)) as (3N,) by 4th-order central differences."""
    return np.array([-_derivative(lambda Z: energy_kernel(Z, zX, Y, zY, hyps, r2, r3), X, q, h)
                     for q in range(X.size)])


def force_force_kernel(X, zX, Y, zY, hyps, r2, r3, h=1e-3):
    """cov(F(X), F(Y)) as (3N, 3M) by mixed 4th-order central differences."""
    return np.array([-_derivative(lambda Z: force_energy_kernel(X, zX, Z, zY, hyps, r2, r3, h), Y, q, h)
                     for q in range(Y.size)]).T
