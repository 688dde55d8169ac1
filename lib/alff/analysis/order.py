"""Steinhardt bond-orientational order: per-atom q_l (q6 tells a crystal
from a liquid)."""

from __future__ import annotations

import numpy as np
from scipy.special import sph_harm_y

from ..neighbors import neighbor_list

__all__ = ["steinhardt_q", "solid_fraction"]


def steinhardt_q(atoms, cutoff, l=6):
    """Per-atom Steinhardt order parameter

    ``q_l(i) = sqrt(4 pi / (2l+1) sum_m |q_lm(i)|^2)`` with
    ``q_lm(i) = 1/N_i sum_j Y_lm(r_ij)`` over the neighbours within
    ``cutoff``. Perfect fcc gives q6 = 0.5745, hcp 0.4848, bcc (8+6
    neighbours) 0.5106; a simple liquid ~0.3-0.4 with ~12 neighbours.

    Parameters
    ----------
    atoms : ase.Atoms
    cutoff : float
        Neighbour cutoff (A), between the first and second shells.
    l : int

    Returns
    -------
    (N,) q_l (0 for atoms without neighbours)
    """
    i, _, D, d, _ = neighbor_list(atoms.positions, atoms.cell[:], atoms.pbc, cutoff)
    return _steinhardt(i, D, d, len(atoms), l)


def _steinhardt(i, D, d, n, l):
    """q_l of n atoms from the pair list (centres i, vectors D, lengths d)."""
    theta = np.arccos(np.clip(D[:, 2] / d, -1.0, 1.0))
    phi = np.arctan2(D[:, 1], D[:, 0])
    count = np.bincount(i, minlength=n).astype(float)
    total = np.zeros(n)
    for m in range(-l, l + 1):
        y = sph_harm_y(l, m, theta, phi)
        qlm = (np.bincount(i, y.real, minlength=n) + 1j * np.bincount(i, y.imag, minlength=n)) / np.maximum(count, 1)
        total += np.abs(qlm) ** 2
    return np.where(count > 0, np.sqrt(4.0 * np.pi / (2 * l + 1) * total), 0.0)

def solid_fraction(atoms, cutoff, threshold=0.40, l=6):
    """Fraction of atoms whose q6, averaged with their neighbours' (Lechner-
    Dellago coarse graining of q_l itself, which separates fcc from liquid
    sharply), exceeds ``threshold`` (0.40 separates fcc Al up to ~0.9 Tm,
    q6bar ~0.45, from its liquid, ~0.36).

    Parameters
    ----------
    atoms : ase.Atoms
    cutoff : float
    threshold : float

    Returns
    -------
    fraction : float
    solid : (N,) bool
    """
    i, j, D, d, _ = neighbor_list(atoms.positions, atoms.cell[:], atoms.pbc, cutoff)
    n = len(atoms)
    q = _steinhardt(i, D, d, n, l)
    count = np.bincount(i, minlength=n)
    qbar = (q + np.bincount(i, q[j], minlength=n)) / (1 + count)
    solid = qbar > threshold
    return float(solid.mean()), solid
