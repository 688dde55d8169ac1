"""2-body and 3-body clusters of atomic environments (FLARE convention).

Every atom ``i`` owns the *listings* of its clusters:

- pairs ``(i; j)`` with ``r_ij < r2``;
- triplets ``(i; j, k)``, ``j < k`` in ``i``'s neighbour list, with all three
  sides ``r_ij, r_ik, r_jk < r3``.

A listing has side lengths ``t`` (``t = (r_ij,)`` or ``(r_ij, r_ik, r_jk)``),
side vectors ``D`` and the species of its vertices (centre first). The model
energy is ``E = sum_pairs phi2 / 2 + sum_triplets phi3 / 3`` (every unique
cluster appears once per vertex), the local energy of ``i`` is the same sum
over ``i``'s listings, and the force on ``i`` is minus the derivative of its
own listings with respect to the centre position only. This is exact for any
cell, including cells where an atom neighbours its own images.

Each listing carries weights ``W[c, slot, row]`` that turn the cluster
function (slot 0) and its derivatives with respect to each side (slots
1..3) into the ten per-atom observables (rows): ``Fx, Fy, Fz``, local
energy, and the six Voigt components (xx, yy, zz, yz, xz, xy) of the
per-atom virial ``dE_i/d(strain)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from .neighbors import neighbor_list

__all__ = ["FrameClusters", "frame_clusters", "quadratic_cutoff", "N_ROWS", "VOIGT"]

N_ROWS = 10  # Fx Fy Fz, local energy, 6 virial components
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
MIN_DISTANCE = 0.5


@njit(cache=True)
def quadratic_cutoff(r, rc):
    """FLARE's smooth quadratic cutoff ``(rc - r)^2`` and its derivative."""
    if r >= rc:
        return 0.0, 0.0
    x = rc - r
    return x * x, -2.0 * x


@dataclass
class FrameClusters:
    """The cluster listings of one structure, grouped by centre atom.

    Attributes
    ----------
    n_atoms : int
    volume : float
        Cell volume (0 for a structure open in any direction).
    p_ptr : (N + 1,) int array
        CSR pointer of the pair listings of each centre atom.
    p_t, p_F, p_dF : (P,) arrays
        Pair distance, cutoff value and its derivative.
    p_spec : (P, 2) int array
        Species codes (centre, neighbour).
    p_W : (P, 2, 10) array
        Weights (value, d/dr) -> per-atom observables.
    t_ptr : (N + 1,) int array
    t_t, t_dF : (T, 3) arrays
        Triplet sides ``(r_ij, r_ik, r_jk)`` and d(cutoff product)/d(side).
    t_F : (T,) array
        Product of the three cutoff values.
    t_spec : (T, 3) int array
        Species codes (centre, j, k).
    t_W : (T, 4, 10) array
        Weights (value, d/dt0, d/dt1, d/dt2) -> per-atom observables.
    """

    n_atoms: int
    volume: float
    p_ptr: np.ndarray
    p_t: np.ndarray
    p_F: np.ndarray
    p_dF: np.ndarray
    p_spec: np.ndarray
    p_W: np.ndarray
    t_ptr: np.ndarray
    t_t: np.ndarray
    t_F: np.ndarray
    t_dF: np.ndarray
    t_spec: np.ndarray
    t_W: np.ndarray


def frame_clusters(atoms, codes, r2, r3, frame_index=None):
    """Build the cluster listings of one structure.

    Parameters
    ----------
    atoms : ase.Atoms
    codes : (N,) int array
        Species code of every atom.
    r2, r3 : float
        2-body and 3-body cutoffs (a cutoff <= 0 switches that body order off).
    frame_index : int, optional
        Used in error messages.

    Returns
    -------
    FrameClusters

    Raises
    ------
    ValueError
        When two atoms are closer than 0.5 Angstrom.
    """
    rmax = max(r2, r3)
    pos = atoms.get_positions()
    i, j, D, d, _ = neighbor_list(pos, atoms.cell.array, atoms.pbc, rmax)
    if len(d) and d.min() < MIN_DISTANCE:
        k = int(np.argmin(d))
        where = f" in frame {frame_index}" if frame_index is not None else ""
        raise ValueError(
            f"atoms {min(i[k], j[k])} and {max(i[k], j[k])} are {d[k]:.3f} A apart{where} "
            f"(closer than {MIN_DISTANCE} A): the structure is unphysical"
        )
    n = len(atoms)
    codes = np.asarray(codes, dtype=np.int64)
    vol = float(abs(atoms.cell.volume)) if all(atoms.pbc) else 0.0
    first = np.searchsorted(i, np.arange(n + 1))
    p_ptr, p_t, p_F, p_dF, p_spec, p_W = _pairs(first, j, D, d, codes, float(r2))
    t_ptr, t_t, t_F, t_dF, t_spec, t_W = _triplets(first, j, D, d, codes, float(r3))
    return FrameClusters(n_atoms=n, volume=vol, p_ptr=p_ptr, p_t=p_t, p_F=p_F, p_dF=p_dF, p_spec=p_spec, p_W=p_W,
                         t_ptr=t_ptr, t_t=t_t, t_F=t_F, t_dF=t_dF, t_spec=t_spec, t_W=t_W)


@njit(cache=True)
def _pairs(first, nbr, D, d, codes, rc):
    """Pair listings of every centre from a full neighbour list.

    Parameters
    ----------
    first : (N + 1,) int CSR pointer of each centre's neighbours
    nbr : (M,) int neighbour index; D : (M, 3) vectors r_j - r_i; d : (M,)
        distances
    codes : (N,) int species codes
    rc : float 2-body cutoff

    Returns
    -------
    ptr (N + 1,), t (P,), F (P,), dF (P,), spec (P, 2), W (P, 2, 10): the
    ``p_*`` arrays of :class:`FrameClusters`.
    """
    n = first.shape[0] - 1
    ptr = np.zeros(n + 1, np.int64)
    for a in range(n):
        c = 0
        for q in range(first[a], first[a + 1]):
            if d[q] < rc:
                c += 1
        ptr[a + 1] = ptr[a] + c
    m = ptr[n]
    t = np.empty(m)
    F = np.empty(m)
    dF = np.empty(m)
    spec = np.empty((m, 2), np.int64)
    W = np.zeros((m, 2, 10))
    c = 0
    for a in range(n):
        for q in range(first[a], first[a + 1]):
            r = d[q]
            if r >= rc:
                continue
            t[c] = r
            F[c], dF[c] = quadratic_cutoff(r, rc)
            spec[c, 0] = codes[a]
            spec[c, 1] = codes[nbr[q]]
            W[c, 0, 3] = 0.5
            for x in range(3):
                W[c, 1, x] = D[q, x] / r
            _virial_weights(W, c, 1, D[q, 0], D[q, 1], D[q, 2], r, 0.5)
            c += 1
    return ptr, t, F, dF, spec, W


@njit(cache=True)
def _virial_weights(W, c, slot, x, y, z, r, scale):
    """Add ``scale`` times the Voigt virial weights of the side vector
    ``(x, y, z)`` of length ``r`` to ``W[c, slot, 4:10]`` (``W`` (C, S, 10))."""
    v = (x, y, z)
    # Voigt order xx yy zz yz xz xy
    W[c, slot, 4] += scale * v[0] * v[0] / r
    W[c, slot, 5] += scale * v[1] * v[1] / r
    W[c, slot, 6] += scale * v[2] * v[2] / r
    W[c, slot, 7] += scale * v[1] * v[2] / r
    W[c, slot, 8] += scale * v[0] * v[2] / r
    W[c, slot, 9] += scale * v[0] * v[1] / r


@njit(inline="always")
def _cross_sq(D, q1, q2):
    """Squared distance between the neighbours q1 and q2 of one centre."""
    s = 0.0
    for x in range(3):
        u = D[q2, x] - D[q1, x]
        s += u * u
    return s


@njit(cache=True)
def _triplets(first, nbr, D, d, codes, rc):
    """Triplet listings of every centre from a full neighbour list (arguments
    as :func:`_pairs`, ``rc`` the 3-body cutoff).

    Returns
    -------
    ptr (N + 1,), t (T, 3), F (T,), dF (T, 3), spec (T, 3), W (T, 4, 10):
    the ``t_*`` arrays of :class:`FrameClusters`.
    """
    n = first.shape[0] - 1
    ptr = np.zeros(n + 1, np.int64)
    rc2 = rc * rc
    for a in range(n):
        c = 0
        for q1 in range(first[a], first[a + 1]):
            if d[q1] >= rc:
                continue
            for q2 in range(q1 + 1, first[a + 1]):
                if d[q2] >= rc:
                    continue
                s = _cross_sq(D, q1, q2)
                if s < rc2:
                    c += 1
        ptr[a + 1] = ptr[a] + c
    m = ptr[n]
    t = np.empty((m, 3))
    F = np.empty(m)
    dF = np.empty((m, 3))
    spec = np.empty((m, 3), np.int64)
    W = np.zeros((m, 4, 10))
    c = 0
    for a in range(n):
        for q1 in range(first[a], first[a + 1]):
            if d[q1] >= rc:
                continue
            for q2 in range(q1 + 1, first[a + 1]):
                if d[q2] >= rc:
                    continue
                s = _cross_sq(D, q1, q2)
                if s >= rc2:
                    continue
                r12 = math.sqrt(s)
                t[c, 0] = d[q1]
                t[c, 1] = d[q2]
                t[c, 2] = r12
                f0, g0 = quadratic_cutoff(d[q1], rc)
                f1, g1 = quadratic_cutoff(d[q2], rc)
                f2, g2 = quadratic_cutoff(r12, rc)
                F[c] = f0 * f1 * f2
                dF[c, 0] = g0 * f1 * f2
                dF[c, 1] = f0 * g1 * f2
                dF[c, 2] = f0 * f1 * g2
                spec[c, 0] = codes[a]
                spec[c, 1] = codes[nbr[q1]]
                spec[c, 2] = codes[nbr[q2]]
                W[c, 0, 3] = 1.0 / 3.0
                for x in range(3):
                    W[c, 1, x] = D[q1, x] / d[q1]
                    W[c, 2, x] = D[q2, x] / d[q2]
                third = 1.0 / 3.0
                _virial_weights(W, c, 1, D[q1, 0], D[q1, 1], D[q1, 2], d[q1], third)
                _virial_weights(W, c, 2, D[q2, 0], D[q2, 1], D[q2, 2], d[q2], third)
                _virial_weights(W, c, 3, D[q2, 0] - D[q1, 0], D[q2, 1] - D[q1, 1],
                                D[q2, 2] - D[q1, 2], r12, third)
                c += 1
    return ptr, t, F, dF, spec, W
