"""Periodic neighbour lists for any triclinic cell.

The list holds every (i, j, shift) with ``|r_j + shift @ cell - r_i| < cutoff``
and ``(i, shift) != (j, 0)``, so a cell smaller than twice the cutoff yields
several images of the same atom, and an atom can neighbour its own images.
Directions with ``pbc=False`` get no images. Images are binned on a
Cartesian grid of bin size >= cutoff, so the cost is linear in the number of
atoms.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["neighbor_list", "complete_cell"]


def complete_cell(cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Return a non-singular cell, filling zero non-periodic vectors.

    Parameters
    ----------
    cell : (3, 3) array
        Lattice vectors as rows.
    pbc : (3,) bool array

    Returns
    -------
    (3, 3) array
        The cell with each vanishing vector of a non-periodic direction
        replaced by a unit vector orthogonal to the other vectors.
    """
    cell = np.array(cell, dtype=float).reshape(3, 3)
    lengths = np.linalg.norm(cell, axis=1)
    for k in range(3):
        if lengths[k] < 1e-12:
            if pbc[k]:
                raise ValueError(f"cell vector {k} is zero along a periodic direction")
            others = [cell[m] for m in range(3) if m != k and np.linalg.norm(cell[m]) > 1e-12]
            cand = np.eye(3)
            best, best_score = None, -1.0
            for e in cand:  # the axis most orthogonal to the existing vectors
                v = e.copy()
                for o in others:
                    o = o / np.linalg.norm(o)
                    v = v - np.dot(v, o) * o
                if np.linalg.norm(v) > best_score:
                    best, best_score = v, np.linalg.norm(v)
            cell[k] = best / np.linalg.norm(best)
            lengths[k] = 1.0
    if abs(np.linalg.det(cell)) < 1e-12:
        raise ValueError("cell is singular")
    return cell


def neighbor_list(positions, cell, pbc, cutoff):
    """Neighbour list of a periodic or open structure.

    Parameters
    ----------
    positions : (N, 3) array
        Cartesian positions in Angstrom.
    cell : (3, 3) array
        Lattice vectors as rows (may be zero along open directions).
    pbc : (3,) bool array
    cutoff : float
        Neighbour cutoff in Angstrom.

    Returns
    -------
    i, j : (M,) int64 arrays
        Centre and neighbour indices, sorted by ``i``.
    D : (M, 3) float array
        Vectors ``r_j + S @ cell - r_i``.
    d : (M,) float array
        Distances ``|D|``.
    S : (M, 3) int64 array
        Integer cell shifts of the neighbour image.
    """
    positions = np.ascontiguousarray(positions, dtype=float).reshape(-1, 3)
    pbc = np.asarray(pbc, dtype=bool).reshape(3)
    if cutoff <= 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    bad = np.flatnonzero(~np.isfinite(positions).all(axis=1))
    if len(bad):  # NaN would be cast to int in the cell lists below
        raise ValueError(f"non-finite positions of atoms {bad[:10].tolist()}{' ...' if len(bad) > 10 else ''}")
    if not np.isfinite(np.asarray(cell, dtype=float)).all():
        raise ValueError("non-finite cell")
    n = len(positions)
    if n == 0:
        z = np.zeros(0, np.int64)
        return z, z.copy(), np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3), np.int64)
    full = complete_cell(cell, pbc)
    inv = np.linalg.inv(full)
    frac = positions @ inv
    wrap = np.where(pbc, np.floor(frac), 0.0).astype(np.int64)
    wrapped = (frac - wrap) @ full
    # number of images along each periodic direction: plane spacing h_k
    vol = abs(np.linalg.det(full))
    nrep = np.zeros(3, np.int64)
    for k in range(3):
        if pbc[k]:
            a, b = full[(k + 1) % 3], full[(k + 2) % 3]
            h = vol / np.linalg.norm(np.cross(a, b))
            nrep[k] = int(math.ceil(cutoff / h))
    i, j, D, d, S = _neighbors(wrapped, full, nrep, float(cutoff))
    # shifts relative to the unwrapped input positions
    S = S + wrap[i] - wrap[j]
    return i, j, D, d, S


@njit(cache=True)
def _neighbors(pos, cell, nrep, cutoff):
    n = pos.shape[0]
    nimg_cells = (2 * nrep[0] + 1) * (2 * nrep[1] + 1) * (2 * nrep[2] + 1)
    lo = np.empty(3)
    hi = np.empty(3)
    for k in range(3):
        lo[k] = pos[0, k]
        hi[k] = pos[0, k]
    for a in range(n):
        for k in range(3):
            lo[k] = min(lo[k], pos[a, k])
            hi[k] = max(hi[k], pos[a, k])
    for k in range(3):
        lo[k] -= cutoff
        hi[k] += cutoff
    # images inside the padded bounding box of the atoms
    cap = n * nimg_cells
    ipos = np.empty((cap, 3))
    iatom = np.empty(cap, np.int64)
    ishift = np.empty((cap, 3), np.int64)
    m = 0
    for s0 in range(-nrep[0], nrep[0] + 1):
        for s1 in range(-nrep[1], nrep[1] + 1):
            for s2 in range(-nrep[2], nrep[2] + 1):
                for a in range(n):
                    inside = True
                    p = np.empty(3)
                    for k in range(3):
                        p[k] = pos[a, k] + s0 * cell[0, k] + s1 * cell[1, k] + s2 * cell[2, k]
                        if p[k] < lo[k] or p[k] > hi[k]:
                            inside = False
                    if inside:
                        for k in range(3):
                            ipos[m, k] = p[k]
                        iatom[m] = a
                        ishift[m, 0] = s0
                        ishift[m, 1] = s1
                        ishift[m, 2] = s2
                        m += 1
    # bin images
    nb = np.empty(3, np.int64)
    for k in range(3):
        nb[k] = max(1, int((hi[k] - lo[k]) / cutoff))
    nbins = nb[0] * nb[1] * nb[2]
    binof = np.empty(m, np.int64)
    counts = np.zeros(nbins + 1, np.int64)
    for q in range(m):
        b = np.empty(3, np.int64)
        for k in range(3):
            b[k] = min(nb[k] - 1, int((ipos[q, k] - lo[k]) / (hi[k] - lo[k]) * nb[k]))
        binof[q] = (b[0] * nb[1] + b[1]) * nb[2] + b[2]
        counts[binof[q] + 1] += 1
    for b in range(nbins):
        counts[b + 1] += counts[b]
    order = np.empty(m, np.int64)
    fill = counts[:-1].copy()
    for q in range(m):
        order[fill[binof[q]]] = q
        fill[binof[q]] += 1
    # query: two passes (count, then fill)
    c2 = cutoff * cutoff
    out_cap = 64 * n
    oi = np.empty(out_cap, np.int64)
    oq = np.empty(out_cap, np.int64)
    cnt = 0
    for a in range(n):
        b = np.empty(3, np.int64)
        for k in range(3):
            b[k] = min(nb[k] - 1, int((pos[a, k] - lo[k]) / (hi[k] - lo[k]) * nb[k]))
        for d0 in range(max(0, b[0] - 1), min(nb[0], b[0] + 2)):
            for d1 in range(max(0, b[1] - 1), min(nb[1], b[1] + 2)):
                for d2 in range(max(0, b[2] - 1), min(nb[2], b[2] + 2)):
                    bb = (d0 * nb[1] + d1) * nb[2] + d2
                    for t in range(counts[bb], counts[bb + 1]):
                        q = order[t]
                        if iatom[q] == a and ishift[q, 0] == 0 and ishift[q, 1] == 0 and ishift[q, 2] == 0:
                            continue
                        r2 = 0.0
                        for k in range(3):
                            dx = ipos[q, k] - pos[a, k]
                            r2 += dx * dx
                        if r2 < c2:
                            if cnt == out_cap:
                                out_cap *= 2
                                ni = np.empty(out_cap, np.int64)
                                nq = np.empty(out_cap, np.int64)
                                ni[:cnt] = oi[:cnt]
                                nq[:cnt] = oq[:cnt]
                                oi = ni
                                oq = nq
                            oi[cnt] = a
                            oq[cnt] = q
                            cnt += 1
    I = oi[:cnt].copy()
    J = np.empty(cnt, np.int64)
    D = np.empty((cnt, 3))
    d = np.empty(cnt)
    S = np.empty((cnt, 3), np.int64)
    for t in range(cnt):
        q = oq[t]
        J[t] = iatom[q]
        r2 = 0.0
        for k in range(3):
            D[t, k] = ipos[q, k] - pos[I[t], k]
            S[t, k] = ishift[q, k]
            r2 += D[t, k] * D[t, k]
        d[t] = math.sqrt(r2)
    return I, J, D, d, S
