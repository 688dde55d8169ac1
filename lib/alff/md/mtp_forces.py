"""The moment tensor potential in the compiled MD loop: its argument tuple,
a force kernel that also keeps each atom's basis values, and the
extrapolation grade of those values against an active set.

:func:`mtp_site_energy_forces` is
:func:`~alff.models.linear.mtp_kernels.mtp_energy_forces` (the same
arithmetic in the same order) that also writes B_a(i) of every atom: the
site rows b_i = [one-hot species, B_a(i)] of per-neighbourhood D-optimality
(:func:`~alff.models.linear.design.site_rows`) come for the price of a copy.
Both kernels are plain IEEE arithmetic (``fastmath=False``, set explicitly:
the loop that calls them is ``fastmath``, see :mod:`.compiled`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ..models.linear.mtp_kernels import MTPBasisArrays, MTPRadial, _pair_radial, _unit_powers, monomials

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
    powers, index = monomials(b.alpha_index_basic)
    basis = MTPBasisArrays(np.ascontiguousarray(b.alpha_index_basic, np.int64),
                           np.ascontiguousarray(b.alpha_index_times, np.int64),
                           np.ascontiguousarray(b.alpha_moment_mapping, np.int64), int(b.alpha_moments_count),
                           powers, index)
    radial = MTPRadial(np.ascontiguousarray(potential.radial_coeffs, float), float(potential.r_min),
                       float(potential.r_max), float(potential.scaling))
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


@njit(cache=True, fastmath=False)
def mtp_site_energy_forces(nbr, basis, rad, species_coeffs, moment_coeffs, values):
    """Site energies, forces and virial of an MTP, and the basis values.

    Parameters
    ----------
    nbr : MTPNeighbors
        Neighbour list sorted by centre; entries with r >= r_max are
        skipped (a Verlet list with a skin works as is).
    basis : MTPBasisArrays
    rad : MTPRadial
    species_coeffs : (n_species,) float array
    moment_coeffs : (S,) float array
    values : (N, S) or (0, S) float array
        Filled with B_a(i) (written only when it has N rows).

    Returns
    -------
    energies : (N,) float array
    forces : (N, 3) float array
    virial : (3, 3) float array
        sum over pairs of dE/dr_ij (x) r_ij (eV).
    """
    first, j, D, d, types = nbr
    basic, times, mapping, n_moments, mono_pow, mono_of = basis
    radial, r_min, r_max, scaling = rad
    n = types.shape[0]
    keep = values.shape[0] == n
    n_basic, n_mono = basic.shape[0], mono_pow.shape[0]
    n_radial, size = radial.shape[2], radial.shape[3]
    max_pow = 0
    for b in range(n_basic):
        max_pow = max(max_pow, basic[b, 1], basic[b, 2], basic[b, 3])
    energies = np.zeros(n)
    forces = np.zeros((n, 3))
    virial = np.zeros((3, 3))
    moment = np.zeros(n_moments)
    g = np.zeros(n_moments)
    q = np.zeros(size)
    dq = np.zeros(size)
    f = np.zeros(n_radial)
    df = np.zeros(n_radial)
    up = np.zeros((max_pow + 1, 3))
    mono = np.zeros(n_mono)
    gval = np.zeros(n_mono)
    gder = np.zeros(n_mono)
    u = np.zeros(3)
    for i in range(n):
        ti = types[i]
        moment[:] = 0.0
        for m in range(first[i], first[i + 1]):
            r = d[m]
            if r >= r_max:
                continue
            _pair_radial(r, ti, types[j[m]], radial, r_min, r_max, scaling, q, dq, f, df)
            for x in range(3):
                u[x] = D[m, x] / r
            _unit_powers(u, max_pow, up)
            for k in range(n_mono):
                mono[k] = up[mono_pow[k, 0], 0] * up[mono_pow[k, 1], 1] * up[mono_pow[k, 2], 2]
            for b in range(n_basic):
                moment[b] += f[basic[b, 0]] * mono[mono_of[b]]
        for t in range(times.shape[0]):
            moment[times[t, 3]] += times[t, 2] * moment[times[t, 0]] * moment[times[t, 1]]
        e = species_coeffs[ti]
        g[:] = 0.0
        for a in range(mapping.shape[0]):
            e += moment_coeffs[a] * moment[mapping[a]]
            g[mapping[a]] += moment_coeffs[a]
            if keep:
                values[i, a] = moment[mapping[a]]
        energies[i] = e
        for t in range(times.shape[0] - 1, -1, -1):
            gk = g[times[t, 3]] * times[t, 2]
            if gk != 0.0:
                g[times[t, 0]] += gk * moment[times[t, 1]]
                g[times[t, 1]] += gk * moment[times[t, 0]]
        for m in range(first[i], first[i + 1]):
            r = d[m]
            if r >= r_max:
                continue
            _pair_radial(r, ti, types[j[m]], radial, r_min, r_max, scaling, q, dq, f, df)
            for x in range(3):
                u[x] = D[m, x] / r
            _unit_powers(u, max_pow, up)
            gval[:] = 0.0
            gder[:] = 0.0
            for b in range(n_basic):
                gb = g[b]
                if gb != 0.0:
                    gval[mono_of[b]] += gb * f[basic[b, 0]]
                    gder[mono_of[b]] += gb * df[basic[b, 0]]
            gx, gy, gz = 0.0, 0.0, 0.0
            inv_r = 1.0 / r
            for k in range(n_mono):
                if gval[k] == 0.0 and gder[k] == 0.0:
                    continue
                pa, pb, pc = mono_pow[k, 0], mono_pow[k, 1], mono_pow[k, 2]
                mk = up[pa, 0] * up[pb, 1] * up[pc, 2]
                # grad (F(r) u^p) = F'(r) u^p u + F(r) / r (d u^p / du - |p| u^p u)
                coef = gder[k] * mk - gval[k] * (pa + pb + pc) * mk * inv_r
                gx += coef * u[0]
                gy += coef * u[1]
                gz += coef * u[2]
                fr = gval[k] * inv_r
                if pa > 0:
                    gx += fr * pa * up[pa - 1, 0] * up[pb, 1] * up[pc, 2]
                if pb > 0:
                    gy += fr * pb * up[pa, 0] * up[pb - 1, 1] * up[pc, 2]
                if pc > 0:
                    gz += fr * pc * up[pa, 0] * up[pb, 1] * up[pc - 1, 2]
            jj = j[m]
            forces[jj, 0] -= gx
            forces[jj, 1] -= gy
            forces[jj, 2] -= gz
            forces[i, 0] += gx
            forces[i, 1] += gy
            forces[i, 2] += gz
            gv = (gx, gy, gz)
            for a in range(3):
                for c in range(3):
                    virial[a, c] += gv[a] * D[m, c]
    return energies, forces, virial
