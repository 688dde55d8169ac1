"""The moment tensor potential in the compiled MD loop: its argument tuple
and the extrapolation grade of the site rows against an active set.

The loop calls
:func:`~alff.models.linear.mtp_kernels.mtp_site_energy_forces` (re-exported
here), the MTP's force kernel that also writes B_a(i) of every atom: the
site rows b_i = [one-hot species, B_a(i)] of per-neighbourhood D-optimality
(:func:`~alff.models.linear.design.site_rows`) come for the price of a copy.
For an MLIP-mode model the rows also hold d E_i / d (radial coefficients),
which the same kernel accumulates in its backward pass.
The kernels are plain IEEE arithmetic (``fastmath=False``, set explicitly:
the loop that calls them is ``fastmath``, see :mod:`.compiled`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ..models.linear.mtp_kernels import MTPBasisArrays, MTPRadial, mtp_site_energy_forces

__all__ = ["MTPTables", "mtp_tables", "mtp_site_energy_forces", "site_grade"]


class MTPTables(NamedTuple):
    """A moment tensor potential as the compiled MD loop takes it (S basis
    functions, P = n_species + S parameters, and R = n_species n_radial
    radial_size radial coefficients per centre species in the MLIP mode)."""

    basis: MTPBasisArrays        # the basis and its direction monomials
    radial: MTPRadial            # radial functions and the interval [r_min, r_max)
    species_coeffs: np.ndarray   # (n_species,) energy per species
    moment_coeffs: np.ndarray    # (S,) coefficients of the basis functions
    grade_species: np.ndarray    # (n_species, r) rows of G of the one-hot columns ((0, 0): no grade)
    grade_moments: np.ndarray    # (S, r) rows of G of the basis columns ((0, 0): no grade)
    grade_radial: np.ndarray     # (n_species, R, r) rows of G of each centre species' radial columns ((0, 0, 0): none)
    grade: bool                  # compute the extrapolation grade every step


def mtp_tables(potential, active_set=None):
    """:class:`MTPTables` of a
    :class:`~alff.models.linear.mtp.MomentTensorPotential`.

    Parameters
    ----------
    potential : MomentTensorPotential
    active_set : ActiveSet or (P, r) or (P + n_species R, r) float array, optional
        An active set of site rows, or the matrix G of
        :meth:`~alff.models.linear.mtp_model.MTPModel.grade_matrix` (the
        model's row-space map times A^-1; with the radial columns of the
        MLIP mode when it has P + n_species R rows); with it the loop
        computes the grade max_i max_j |(b_i G)_j| every step (G = A^-1
        for an active set).

    Raises
    ------
    ValueError
        The active set's rows are neither the potential's site rows nor
        its MLIP-mode grade rows.
    """
    b = potential.basis
    basis, radial = potential.kernel_tables()
    ns = len(potential.species)
    n_site, n_rad = ns + b.size, potential.radial_coeffs[0].size
    empty = np.zeros((0, 0))
    species_rows, moment_rows, radial_rows = empty, empty, np.zeros((0, 0, 0))
    if active_set is not None:
        inv = np.asarray(getattr(active_set, "inverse", active_set), float)
        if inv.ndim != 2 or inv.shape[0] not in (n_site, n_site + ns * n_rad):
            raise ValueError(f"the active set has {inv.shape[0]} parameters; the MTP's site rows have {n_site} "
                             f"({ns} species + {b.size} basis functions), its MLIP-mode grade rows "
                             f"{n_site + ns * n_rad} (and {ns} x {n_rad} radial coefficients)")
        species_rows, moment_rows = np.ascontiguousarray(inv[:ns]), np.ascontiguousarray(inv[ns:n_site])
        if inv.shape[0] > n_site:
            radial_rows = np.ascontiguousarray(inv[n_site:].reshape(ns, n_rad, inv.shape[1]))
    return MTPTables(basis, radial, np.ascontiguousarray(potential.species_coeffs, float),
                     np.ascontiguousarray(potential.moment_coeffs, float), species_rows, moment_rows, radial_rows,
                     active_set is not None)


@njit(cache=True, fastmath=False)
def site_grade(values, radial_rows, types, grade_species, grade_moments, grade_radial):
    """Largest extrapolation grade of the atoms' grade rows.

    ``values`` (N, S) basis values B_a(i), ``types`` (N,) species and the
    rows of G (the active set's inverse A^-1, or the model's row-space map
    times it) split into ``grade_species`` (n_species, r), ``grade_moments``
    (S, r) and ``grade_radial`` (n_species, R, r). The row of atom i is
    b_i = [one-hot(t_i), B(i), radial rows], so b_i G = G[t_i] + B(i)
    G[n_s:n_s + S] + R_i G_radial[t_i], with R_i = ``radial_rows[i]``
    flattened (N, n_species, n_radial, radial_size; the centre's own block,
    used when ``grade_radial`` has rows). Returns max_i max_j |(b_i G)_j|
    (BLAS products, N (S + R) r).
    """
    C = np.dot(values, grade_moments)
    n = values.shape[0]
    if grade_radial.shape[0] > 0:
        R = radial_rows.reshape(n, grade_radial.shape[1])
        for s in range(grade_radial.shape[0]):
            rows = np.nonzero(types == s)[0]
            if rows.shape[0] == n:
                C += np.dot(R, grade_radial[s])
            elif rows.shape[0] > 0:
                C[rows] += np.dot(np.ascontiguousarray(R[rows]), grade_radial[s])
    best = 0.0
    for i in range(n):
        t = types[i]
        for k in range(C.shape[1]):
            best = max(best, abs(C[i, k] + grade_species[t, k]))
    return best
