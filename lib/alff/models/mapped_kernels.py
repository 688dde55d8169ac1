"""Numba kernels of mapped (spline) 2+3-body potentials.

Energy of a structure (UF3 / FLARE mapped convention)::

    E = sum_{i<j, r_ij < r2} V2[s_i s_j](r_ij)
      + sum_i sum_{j<k in N3(i)} V3[s_i s_j s_k](r_ij, r_ik, r_jk)

with ``N3(i)`` the neighbours of ``i`` closer than ``r3``; ``V3`` is fitted
to zero for ``r_jk >= r3`` (the GP's cutoff) and evaluated for any r_jk. Neighbours come as a full list sorted by
centre (both ``i->j`` and ``j->i``) with displacement vectors.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..splines import span_basis

__all__ = ["mapped_energy_forces", "gp_cluster_blocks"]


@njit(cache=True)
def mapped_energy_forces(n_atoms, codes, first, nbr, D, d, t2, c2, pair_table, r2,
                         t3a, t3b, c3, trip_table, r3, use3, rmin):
    """Energy, per-atom energies, forces and virial of a mapped potential.

    Parameters
    ----------
    n_atoms : int
    codes : (N,) int species codes
    first : (N + 1,) int CSR pointer of each centre's neighbours
    nbr : (M,) int neighbour index; D : (M, 3) vectors r_j - r_i; d : (M,)
    t2 : (P, K2) knots of the 2-body splines; c2 : (P, K2 - 4) coefficients
    pair_table : (S, S) int spline index of a species pair
    r2 : float 2-body cutoff
    t3a : (T, Ka) knots of r_ij and r_ik; t3b : (T, Kb) knots of r_jk
    c3 : (T, n_ij, n_ik, n_jk) coefficients
    trip_table : (S, S, S) int spline index of (centre, j, k)
    r3 : float 3-body cutoff; use3 : bool
    rmin : float smallest distance the splines cover

    Returns
    -------
    energy : float
    energies : (N,) per-atom energies (pairs split evenly)
    forces : (N, 3)
    virial : (3, 3) ``sum r (x) f`` convention, stress = -virial / V ... as
        ``dE/d(strain)`` (the caller divides by the volume)
    bad : int
        Index of the closest neighbour entry below ``rmin`` (-1 if none).
    """
    N = np.empty(4)
    dN = np.empty(4)
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
    for i in range(n_atoms):
        si = codes[i]
        for q in range(first[i], first[i + 1]):
            r = d[q]
            if r < rmin:  # every close pair is some centre's listing
                if bad < 0 or r < d[bad]:
                    bad = q  # report the closest pair
                continue
            if r >= r2:
                continue
            p = pair_table[si, codes[nbr[q]]]
            s = span_basis(t2[p], r, N, dN)
            v = 0.0
            dv = 0.0
            for a in range(4):
                v += c2[p, s - 3 + a] * N[a]
                dv += c2[p, s - 3 + a] * dN[a]
            # each unordered pair appears twice in the full list
            e_at[i] += 0.5 * v
            g = 0.5 * dv / r
            j = nbr[q]
            for x in range(3):
                F[i, x] += g * D[q, x]
                F[j, x] -= g * D[q, x]
                for y in range(3):
                    W[x, y] += g * D[q, x] * D[q, y]
        if not use3:
            continue
        for q1 in range(first[i], first[i + 1]):
            rij = d[q1]
            if rij >= r3 or rij < rmin:
                continue
            j = nbr[q1]
            for q2 in range(q1 + 1, first[i + 1]):
                rik = d[q2]
                if rik >= r3 or rik < rmin:
                    continue
                k = nbr[q2]
                dx = D[q2, 0] - D[q1, 0]
                dy = D[q2, 1] - D[q1, 1]
                dz = D[q2, 2] - D[q1, 2]
                rjk = np.sqrt(dx * dx + dy * dy + dz * dz)
                # no r_jk cutoff here: the spline spans r_jk up to 2 r3 and is
                # (nearly) zero beyond r3; evaluating it everywhere keeps alff
                # and LAMMPS pair_style uf3 on the same function
                if rjk < rmin:  # flagged by the pair loop of j
                    continue
                tt = trip_table[si, codes[j], codes[k]]
                # tables are stored for (centre, j, k) with j's species first
                sij = span_basis(t3a[tt], rij, Nij, dNij)
                sik = span_basis(t3a[tt], rik, Nik, dNik)
                sjk = span_basis(t3b[tt], rjk, Njk, dNjk)
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
                        v += Nij[a] * Nik[b] * cv
                        gij += dNij[a] * Nik[b] * cv
                        gik += Nij[a] * dNik[b] * cv
                        gjk += Nij[a] * Nik[b] * cd
                e_at[i] += v
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
