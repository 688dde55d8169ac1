"""Numba kernels of mapped (spline) 2+3-body potentials.

Energy of a structure (UF3 / FLARE mapped convention)::

    E = sum_{i<j, r_ij < r2} V2[s_i s_j](r_ij)
      + sum_i sum_{j<k in N3(i)} V3[s_i s_j s_k](r_ij, r_ik, r_jk)

with ``N3(i)`` the neighbours of ``i`` closer than ``r3``; ``V3`` is exactly
zero for ``r_jk >= r3`` (every coefficient reaching past r3 is zero). Neighbours come as a full list sorted by
centre (both ``i->j`` and ``j->i``) with displacement vectors.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


__all__ = ["NeighborArrays", "SplineTables", "mapped_energy_forces", "energy_forces"]


class NeighborArrays(NamedTuple):
    """A full neighbour list sorted by centre (M entries, N atoms)."""

    first: np.ndarray      # (N + 1,) int CSR pointer of each centre's entries
    neighbor: np.ndarray   # (M,) int index of the neighbour j
    vectors: np.ndarray    # (M, 3) displacement r_j - r_i (of the neighbour's image)
    distances: np.ndarray  # (M,) |r_j - r_i|


class SplineTables(NamedTuple):
    """The per-span polynomial tables of a mapped potential
    (P pair splines, T triplet splines, S species, n spans of an axis)."""

    pair_grid: np.ndarray       # (P, 3) knot start, spacing, number of coefficients of each pair spline
    pair_poly: np.ndarray       # (P, n, 4) per-span value polynomials of each pair spline
    pair_table: np.ndarray      # (S, S) int pair spline of a species pair
    r2: float                   # 2-body cutoff
    trip_grid_ij: np.ndarray    # (T, 3) knot start, spacing, count of the r_ij / r_ik axes
    trip_basis_ij: np.ndarray   # (T, n, 4, 4) per-span basis polynomials of the r_ij / r_ik axes
    trip_grid_jk: np.ndarray    # (T, 3) the same for the r_jk axis
    trip_basis_jk: np.ndarray   # (T, n, 4, 4)
    trip_coeffs: np.ndarray     # (T, n_ij, n_ik, n_jk) tensor-product coefficients
    trip_table: np.ndarray      # (S, S, S) int triplet spline of (centre, j, k)
    r3: float                   # 3-body cutoff
    use3: bool                  # evaluate the 3-body term
    rmin: float                 # smallest distance the splines cover


@njit(inline="always")
def _span(lo, h, n, x):
    """Span index and local coordinate of ``x`` on clamped uniform knots."""
    s = 3 + int((x - lo) / h)
    if s < 3:
        s = 3
    if s > n - 1:
        s = n - 1
    return s, (x - lo) / h - (s - 3)


@njit(inline="always", fastmath=True)
def _basis(B, s, u, h, N, dN):
    """The 4 active basis values and derivatives from span polynomials."""
    for r in range(4):
        p0 = B[s, r, 0]
        p1 = B[s, r, 1]
        p2 = B[s, r, 2]
        p3 = B[s, r, 3]
        N[r] = p0 + u * (p1 + u * (p2 + u * p3))
        dN[r] = (p1 + u * (2.0 * p2 + 3.0 * u * p3)) / h


@njit(cache=True, fastmath=True)
def mapped_energy_forces(n_atoms, codes, neighbors, tables, absolute=False):
    """Energy, per-atom energies, forces and virial of a mapped potential
    (:func:`energy_forces` compiled on its own, for calls from Python)."""
    return energy_forces(n_atoms, codes, neighbors, tables, absolute)


@njit(inline="always", fastmath=True)
def energy_forces(n_atoms, codes, neighbors, tables, absolute):
    """Energy, per-atom energies, forces and virial of a mapped potential.

    Inlined into every compiled caller (:func:`mapped_energy_forces`, the MD
    loop), never called across compiled functions: a compiled callee runs
    either its own machine code or the caller's copy of it, depending on
    whether numba compiled them or loaded them from its cache, and with
    ``fastmath`` the two differ in the last bits (issue 12; see
    :mod:`alff.kernels.parallel`).

    Parameters
    ----------
    n_atoms : int
    codes : (N,) int species codes
    neighbors : NeighborArrays
        Full neighbour list: CSR pointer ``first`` (N + 1,), neighbour index
        (M,), vectors r_j - r_i (M, 3) and distances (M,).
    tables : SplineTables
        Pair splines (grid (P, 3), span polynomials (P, n, 4), species table
        (S, S), cutoff r2), triplet splines (grids (T, 3) and span basis
        polynomials (T, n, 4, 4) of the r_ij / r_ik and the r_jk axes,
        coefficients (T, n_ij, n_ik, n_jk), species table (S, S, S), cutoff
        r3, ``use3``) and ``rmin``, the smallest distance they cover.
    absolute : bool
        Sum absolute spline values (used with the std splines for the
        uncertainty bound; forces are then meaningless; default False in
        :func:`mapped_energy_forces`).

    Returns
    -------
    energy : float
    energies : (N,) per-atom energies (pair energies split evenly)
    forces : (N, 3)
    virial : (3, 3) ``dE/d(strain)`` (stress = virial / volume)
    bad : int
        Index of the closest neighbour entry below ``rmin`` (-1 if none).
    """
    first, nbr, D, d = neighbors.first, neighbors.neighbor, neighbors.vectors, neighbors.distances
    g2, Q2, pair_table, r2 = tables.pair_grid, tables.pair_poly, tables.pair_table, tables.r2
    g3a, B3a, g3b, B3b = tables.trip_grid_ij, tables.trip_basis_ij, tables.trip_grid_jk, tables.trip_basis_jk
    c3, trip_table, r3, use3, rmin = tables.trip_coeffs, tables.trip_table, tables.r3, tables.use3, tables.rmin
    Nij = np.empty(4)
    dNij = np.empty(4)
    Nik = np.empty(4)
    dNik = np.empty(4)
    Njk = np.empty(4)
    dNjk = np.empty(4)
    F = np.zeros((n_atoms, 3))
    e_at = np.zeros(n_atoms)
    W = np.zeros((3, 3))
    bad = -1
    maxn = 0
    for i in range(n_atoms):
        maxn = max(maxn, first[i + 1] - first[i])
    short = np.empty(maxn, np.int64)
    sshort = np.empty(maxn, np.int64)
    Ns = np.empty((maxn, 4))
    dNs = np.empty((maxn, 4))
    ga0, ha, na = g3a[0, 0], g3a[0, 1], int(g3a[0, 2])
    gb0, hb, nb_ = g3b[0, 0], g3b[0, 1], int(g3b[0, 2])
    for i in range(n_atoms):
        si = codes[i]
        for q in range(first[i], first[i + 1]):
            r = d[q]
            if r < rmin:  # every close pair is some centre's listing
                if bad < 0 or r < d[bad]:
                    bad = q  # report the closest pair
                continue
            j = nbr[q]
            # each unordered pair once: from its lower index (self-images,
            # listed with +S and -S, at half weight)
            if r >= r2 or j < i:
                continue
            wgt = 0.5 if j == i else 1.0
            p = pair_table[si, codes[j]]
            s, u = _span(g2[p, 0], g2[p, 1], int(g2[p, 2]), r)
            a0 = Q2[p, s, 0]
            a1 = Q2[p, s, 1]
            a2 = Q2[p, s, 2]
            a3 = Q2[p, s, 3]
            v = wgt * (a0 + u * (a1 + u * (a2 + u * a3)))
            if absolute:
                v = abs(v)
            dv = wgt * (a1 + u * (2.0 * a2 + 3.0 * u * a3)) / g2[p, 1]
            e_at[i] += 0.5 * v
            e_at[j] += 0.5 * v
            g = dv / r
            for x in range(3):
                F[i, x] += g * D[q, x]
                F[j, x] -= g * D[q, x]
                for y in range(3):
                    W[x, y] += g * D[q, x] * D[q, y]
        if not use3:
            continue
        # short list: the neighbours inside the 3-body cutoff
        # with their r_ij basis (every 3-body table shares its knots)
        ns = 0
        for q in range(first[i], first[i + 1]):
            if rmin <= d[q] < r3:
                short[ns] = q
                sq, uq = _span(ga0, ha, na, d[q])
                sshort[ns] = sq
                _basis(B3a[0], sq, uq, ha, Nij, dNij)
                for r in range(4):
                    Ns[ns, r] = Nij[r]
                    dNs[ns, r] = dNij[r]
                ns += 1
        for m1 in range(ns):
            q1 = short[m1]
            rij = d[q1]
            j = nbr[q1]
            for m2 in range(m1 + 1, ns):
                q2 = short[m2]
                rik = d[q2]
                k = nbr[q2]
                dx = D[q2, 0] - D[q1, 0]
                dy = D[q2, 1] - D[q1, 1]
                dz = D[q2, 2] - D[q1, 2]
                rjk = np.sqrt(dx * dx + dy * dy + dz * dz)
                # the r_jk spline spans up to 2 r3 (UF3 layout) but all its
                # coefficients reaching past r3 are zero: exactly zero there
                if rjk >= r3 or rjk < rmin:  # (below rmin: flagged by j's pairs)
                    continue
                tt = trip_table[si, codes[j], codes[k]]
                sij = sshort[m1]
                sik = sshort[m2]
                for r in range(4):
                    Nij[r] = Ns[m1, r]
                    dNij[r] = dNs[m1, r]
                    Nik[r] = Ns[m2, r]
                    dNik[r] = dNs[m2, r]
                sjk, ujk = _span(gb0, hb, nb_, rjk)
                _basis(B3b[0], sjk, ujk, hb, Njk, dNjk)
                v = 0.0
                gij = 0.0
                gik = 0.0
                gjk = 0.0
                for a in range(4):
                    for b in range(4):
                        cv = 0.0
                        cd = 0.0
                        for c in range(4):
                            co = c3[tt, sij - 3 + a, sik - 3 + b, sjk - 3 + c]
                            cv += co * Njk[c]
                            cd += co * dNjk[c]
                        nb = Nik[b]
                        v += Nij[a] * nb * cv
                        gij += dNij[a] * nb * cv
                        gik += Nij[a] * dNik[b] * cv
                        gjk += Nij[a] * nb * cd
                e_at[i] += abs(v) if absolute else v
                aij = gij / rij
                aik = gik / rik
                ajk = gjk / rjk
                for x in range(3):
                    uij = aij * D[q1, x]
                    uik = aik * D[q2, x]
                    ujk = ajk * (D[q2, x] - D[q1, x])
                    F[i, x] += uij + uik
                    F[j, x] += -uij + ujk
                    F[k, x] += -uik - ujk
                for x in range(3):
                    for y in range(3):
                        W[x, y] += (aij * D[q1, x] * D[q1, y] + aik * D[q2, x] * D[q2, y]
                                    + ajk * (D[q2, x] - D[q1, x]) * (D[q2, y] - D[q1, y]))
    energy = 0.0
    for i in range(n_atoms):
        energy += e_at[i]
    return energy, e_at, F, W, bad
