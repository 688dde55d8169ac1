"""The moment tensor potential in the compiled MD loop: its argument tuple
and the extrapolation grade of the site rows against an active set.

The loop calls
:func:`~alff.models.linear.mtp_kernels.mtp_site_energy_forces` (re-exported
here), the MTP's force kernel that also writes B_a(i) of every atom: the
site rows b_i = [one-hot species, B_a(i)] of per-neighbourhood D-optimality
(:func:`~alff.models.linear.design.site_rows`) come for the price of a copy.
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
    functions, P = n_species + S parameters)."""

    basis: MTPBasisArrays        # the basis and its direction monomials
    radial: MTPRadial            # radial functions and the interval [r_min, r_max)
    species_coeffs: np.ndarray   # (n_species,) energy per species
    moment_coeffs: np.ndarray    # (S,) coefficients of the basis functions
    grade_species: np.ndarray    # (n_species, P) rows of A^-1 of the one-hot columns ((0, 0): no grade)
    grade_moments: np.ndarray    # (S, P) rows of A^-1 of the basis columns ((0, 0): no grade)
    grade: bool                  # compute the extrapolation grade every step


def mtp_tables(potential, active_set=None):
    """:class:`MTPTables` of a
    :class:`~alff.models.linear.mtp.MomentTensorPotential`.

    Parameters
    ----------
    potential : MomentTensorPotential
    active_set : ActiveSet or (P, r) float array, optional
        An active set of site rows, or the matrix G of
        :meth:`~alff.models.linear.mtp_model.MTPModel.grade_matrix` (the
        model's row-space map times A^-1); with it the loop computes the
        grade max_i max_j |(b_i G)_j| every step (G = A^-1 for an active
        set).

    Raises
    ------
    ValueError
        The active set's rows are not the potential's site rows (P columns).
    """
    b = potential.basis
    basis, radial = potential.kernel_tables()
    ns = len(potential.species)
    empty = np.zeros((0, 0))
    species_rows, moment_rows = empty, empty
    if active_set is not None:
        inv = np.asarray(getattr(active_set, "inverse", active_set), float)
        if inv.ndim != 2 or inv.shape[0] != ns + b.size:
            raise ValueError(f"the active set has {inv.shape[0]} parameters, the MTP's site rows {ns + b.size} "
                             f"({ns} species + {b.size} basis functions)")
        species_rows, moment_rows = np.ascontiguousarray(inv[:ns]), np.ascontiguousarray(inv[ns:])
    return MTPTables(basis, radial, np.ascontiguousarray(potential.species_coeffs, float),
                     np.ascontiguousarray(potential.moment_coeffs, float), species_rows, moment_rows,
                     active_set is not None)


@njit(cache=True, fastmath=False)
def site_grade(values, types, grade_species, grade_moments):
    """Largest extrapolation grade of the atoms' site rows.

    ``values`` (N, S) basis values B_a(i), ``types`` (N,) species, the rows
    of the active set's inverse A^-1 (P, P) split into ``grade_species``
    (n_species, P) and ``grade_moments`` (S, P). The row of atom i is
    b_i = [one-hot(t_i), B(i)], so b_i A^-1 = A^-1[t_i] + B(i) A^-1[n_s:];
    returns max_i max_j |(b_i A^-1)_j| (one BLAS product, N S P).
    """
    C = np.dot(values, grade_moments)
    best = 0.0
    for i in range(values.shape[0]):
        t = types[i]
        for k in range(C.shape[1]):
            best = max(best, abs(C[i, k] + grade_species[t, k]))
    return best
