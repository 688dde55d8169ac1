"""The compiled MD loop (numba) and its argument groups: the Verlet list,
the system state, the integrator settings.

One loop, :func:`_run_chunk`, for every compiled potential: it calls
:func:`_potential_forces`, which numba resolves at compile time by the type
of the potential's argument tuple (an ``overload``, inlined): the spline
tables of a mapped potential
(:class:`~alff.models.mapped_kernels.SplineTables`) or the tables of a
moment tensor potential (:class:`~.mtp_forces.MTPTables`). Each tuple type
gets its own machine code of the loop, cached on disk like any other
signature; the mapped potential's is the code it had before the MTP came.

The loop and :func:`_forces` are ``fastmath`` and inline the mapped force
kernel (:func:`~alff.models.mapped_kernels.energy_forces`) and the 3x3
algebra; the compiled functions they call (:func:`_vectors`, the MTP
kernels of :mod:`.mtp_forces`, the thermostat and barostat steps, the
random numbers) are plain IEEE arithmetic (``fastmath=False``, set
explicitly: numba would otherwise let a callee inherit its first caller's
``fastmath``). A compiled callee runs either its own machine code or its
caller's copy of it, depending on what numba compiled and what it loaded
from its cache; only without ``fastmath`` are the two bitwise the same
(issue 12, :mod:`alff.kernels.parallel`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from ase import units
from numba import njit, types
from numba.extending import overload

from ..models.linear.mtp_kernels import MTPNeighbors
from ..models.mapped_kernels import NeighborArrays, SplineTables, energy_forces
from ..neighbors import neighbor_list
from .mtp_forces import MTPTables, mtp_site_energy_forces, site_grade

__all__ = ["VerletList", "VerletArrays", "MDSystem", "MDSettings", "EV_A3_TO_GPA"]

EV_A3_TO_GPA = 160.21766208
KB = units.kB
FS = units.fs


class VerletList:
    """Neighbour list at ``cutoff + skin`` with image shifts.

    Attributes
    ----------
    first : (N + 1,) CSR pointer; nbr : (M,) neighbours; shift : (M, 3) float
        integer cell shifts of the neighbour image; x0 : (N, 3) positions and
        cell0 : (3, 3) cell at build time.
    """

    def __init__(self, cutoff, skin):
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.builds = 0

    def build(self, x, cell, pbc):
        i, j, _, _, S = neighbor_list(x, cell, pbc, self.cutoff + self.skin)
        self.first = np.searchsorted(i, np.arange(len(x) + 1)).astype(np.int64)
        self.nbr = np.ascontiguousarray(j, np.int64)
        self.shift = np.ascontiguousarray(S, float)
        self.x0 = x.copy()
        self.cell0 = np.array(cell, float)
        self.builds += 1


class VerletArrays(NamedTuple):
    """A :class:`VerletList` as the compiled loop takes it (N atoms, M entries)."""

    first: np.ndarray      # (N + 1,) int CSR pointer of each centre's neighbours
    neighbor: np.ndarray   # (M,) int neighbour index
    shift: np.ndarray      # (M, 3) float integer cell shifts of the neighbour image
    x0: np.ndarray         # (N, 3) positions at build time
    cell0: np.ndarray      # (3, 3) cell at build time
    skin: float            # Verlet skin (A)
    cutoff: float          # potential cutoff (A)


def _verlet_arrays(vl):
    return VerletArrays(first=vl.first, neighbor=vl.nbr, shift=vl.shift, x0=vl.x0, cell0=vl.cell0, skin=vl.skin,
                        cutoff=vl.cutoff)


class MDSystem(NamedTuple):
    """The state the compiled loop updates in place (N atoms)."""

    positions: np.ndarray   # (N, 3) A
    velocities: np.ndarray  # (N, 3) ASE velocity units
    masses: np.ndarray      # (N,) amu
    cell: np.ndarray        # (3, 3) rows are the cell vectors
    pbc: np.ndarray         # (3,) bool periodic axes (the anisotropic barostat scales only these)
    codes: np.ndarray       # (N,) int species codes of the potential
    forces: np.ndarray      # (N, 3) forces at the current positions
    virial: np.ndarray      # (3, 3) dE/d(strain) at the current positions


class MDSettings(NamedTuple):
    """Integrator, thermostat and barostat settings of the compiled loop (ASE units)."""

    timestep: float
    ensemble: int           # 0 nve, 1 langevin, 2 bussi
    temperature: float      # K
    friction: float         # Langevin friction (1 / time)
    tau: float              # Bussi relaxation time
    barostat: int           # 0 none, 1 isotropic, 2 anisotropic Berendsen
    pressure: float         # barostat target (eV/A^3)
    compressibility: float  # Berendsen compressibility (A^3/eV)
    tau_p: float            # barostat time constant
    ndof: int               # degrees of freedom of the thermostat
    grade_break: float      # stop at the first step whose grade is >= this (largest float: never; no inf in fastmath)


@njit(cache=True, fastmath=False)
def _vectors(x, cell, first, nbr, shift):
    """(M, 3) displacement vectors and (M,) distances of the neighbour list
    ``first`` (N + 1,), ``nbr`` (M,), ``shift`` (M, 3) at positions ``x``
    (N, 3) in ``cell`` (3, 3)."""
    m = nbr.shape[0]
    D = np.empty((m, 3))
    d = np.empty(m)
    n = first.shape[0] - 1
    for i in range(n):
        for q in range(first[i], first[i + 1]):
            j = nbr[q]
            s = 0.0
            for a in range(3):
                v = x[j, a] - x[i, a] + shift[q, 0] * cell[0, a] + shift[q, 1] * cell[1, a] + shift[q, 2] * cell[2, a]
                D[q, a] = v
                s += v * v
            d[q] = math.sqrt(s)
    return D, d


@njit(inline="always", fastmath=True)
def _forces_inline(x, cell, verlet, codes, tables):
    """:func:`~alff.models.mapped_kernels.mapped_energy_forces` at positions
    ``x`` (N, 3) in ``cell`` (3, 3) from the Verlet list ``verlet``
    (:class:`VerletArrays`) with the species ``codes`` (N,) and the spline
    ``tables`` (:class:`~alff.models.mapped_kernels.SplineTables`)."""
    first, nbr = verlet.first, verlet.neighbor
    D, d = _vectors(x, cell, first, nbr, verlet.shift)
    return energy_forces(x.shape[0], codes, NeighborArrays(first, nbr, D, d), tables, False)


@njit(cache=True, fastmath=True)
def _forces(x, cell, verlet, codes, tables):
    """:func:`_forces_inline` for calls from Python."""
    return _forces_inline(x, cell, verlet, codes, tables)


def _potential_forces(x, cell, verlet, codes, tables):
    """Energy, site energies (N,), forces (N, 3), virial (3, 3), ``bad``
    and extrapolation grade of the potential whose arguments are ``tables``
    at positions ``x`` (N, 3) in ``cell`` (3, 3), from the Verlet list
    ``verlet`` (:class:`VerletArrays`) and the species ``codes`` (N,).

    ``bad``: the closest neighbour entry below the potential's smallest
    distance (-1 if none). The grade is max_i max_j |(b_i A^-1)_j| for
    :class:`~.mtp_forces.MTPTables` with ``grade``, else 0. Compiled code
    only: numba picks the implementation by the type of ``tables``
    (:func:`_potential_forces_impl`).
    """
    raise NotImplementedError("_potential_forces is compiled code: call it from a numba function")


@overload(_potential_forces, inline="always")
def _potential_forces_impl(x, cell, verlet, codes, tables):
    """The implementation of :func:`_potential_forces` for the type of
    ``tables``: inlined into the caller, so a mapped potential's loop is the
    code of :func:`_forces_inline` as before."""
    if not isinstance(tables, types.NamedTuple):
        return None
    if tables.instance_class is SplineTables:
        def mapped(x, cell, verlet, codes, tables):
            energy, e_at, F, W, bad = _forces_inline(x, cell, verlet, codes, tables)
            return energy, e_at, F, W, bad, 0.0
        return mapped
    if tables.instance_class is MTPTables:
        def mtp(x, cell, verlet, codes, tables):
            first, nbr = verlet.first, verlet.neighbor
            D, d = _vectors(x, cell, first, nbr, verlet.shift)
            bad = -1
            closest = tables.radial.r_min
            for q in range(d.shape[0]):
                if d[q] < closest:
                    closest = d[q]
                    bad = q
            n_values = x.shape[0] if tables.grade else 0
            n_radial = n_values if tables.grade_radial.shape[0] > 0 else 0
            values = np.empty((n_values, tables.moment_coeffs.shape[0]))
            rc = tables.radial.coeffs
            radial_rows = np.zeros((n_radial, rc.shape[1], rc.shape[2], rc.shape[3]))
            e_at, F, W = mtp_site_energy_forces(MTPNeighbors(first, nbr, D, d, codes), tables.basis, tables.radial,
                                                tables.species_coeffs, tables.moment_coeffs, values, radial_rows)
            grade = 0.0
            if tables.grade:
                grade = site_grade(values, radial_rows, codes, tables.grade_species, tables.grade_moments,
                                   tables.grade_radial)
            return e_at.sum(), e_at, F, W, bad, grade
        return mtp
    return None


@njit(cache=True, fastmath=True)
def _forces_graded(x, cell, verlet, codes, tables):
    """:func:`_potential_forces` for calls from Python."""
    return _potential_forces(x, cell, verlet, codes, tables)


@njit(cache=True, fastmath=False)
def _seed(s):
    np.random.seed(s)


@njit(cache=True, fastmath=False)
def _normal():
    """A standard normal number from numba's generator."""
    return np.random.standard_normal()


@njit(inline="always", fastmath=True)
def _det3(M):
    """Determinant of a 3x3 matrix."""
    return (M[0, 0] * (M[1, 1] * M[2, 2] - M[1, 2] * M[2, 1])
            - M[0, 1] * (M[1, 0] * M[2, 2] - M[1, 2] * M[2, 0])
            + M[0, 2] * (M[1, 0] * M[2, 1] - M[1, 1] * M[2, 0]))


@njit(inline="always", fastmath=True)
def _inv3(M):
    """Inverse of a 3x3 matrix (adjugate over determinant)."""
    R = np.empty((3, 3))
    for a in range(3):
        for b in range(3):
            # cofactor of M[b, a]
            r0, r1 = (b + 1) % 3, (b + 2) % 3
            c0, c1 = (a + 1) % 3, (a + 2) % 3
            R[a, b] = M[r0, c0] * M[r1, c1] - M[r0, c1] * M[r1, c0]
    det = M[0, 0] * R[0, 0] + M[0, 1] * R[1, 0] + M[0, 2] * R[2, 0]
    for a in range(3):
        for b in range(3):
            R[a, b] /= det
    return R


@njit(cache=True, fastmath=False)
def _kinetic(v, m):
    K = np.zeros((3, 3))
    for i in range(v.shape[0]):
        for a in range(3):
            for b in range(3):
                K[a, b] += m[i] * v[i, a] * v[i, b]
    return K  # 2 x kinetic energy tensor


@njit(cache=True, fastmath=False)
def _bussi_factor(ekin, ekin_target, ndof, dt_over_tau):
    """Velocity scaling factor of the Bussi thermostat for one step."""
    if ekin <= 0.0:
        return 1.0
    c = math.exp(-dt_over_tau)
    r1 = np.random.standard_normal()
    sum_r2 = 0.0
    if ndof > 1:
        sum_r2 = 2.0 * np.random.gamma((ndof - 1) / 2.0, 1.0)
    alpha2 = (c + ekin_target / (ndof * ekin) * (1.0 - c) * (r1 * r1 + sum_r2)
              + 2.0 * r1 * math.sqrt(c * ekin_target / (ndof * ekin) * (1.0 - c)))
    a = math.sqrt(max(alpha2, 0.0))
    return -a if (r1 + math.sqrt(c * ndof * ekin / ekin_target / (1.0 - c))) < 0.0 else a


@njit(cache=True, fastmath=False)
def _berendsen_mu(K, W, V, P0, kappa, dt, tau_p, baro, pbcmask):
    """(3,) Berendsen scaling of the Cartesian axes for one step.

    ``K``: (3, 3) sum m v v; ``W``: (3, 3) virial dE/d(strain); ``baro`` 1
    isotropic (scalar pressure), 2 per axis (diagonal pressures; open axes
    are not scaled).
    """
    mu = np.ones(3)
    c = kappa * dt / (3.0 * tau_p)
    if baro == 1:
        P = (K[0, 0] + K[1, 1] + K[2, 2] - W[0, 0] - W[1, 1] - W[2, 2]) / (3.0 * V)
        mu[:] = 1.0 - c * (P0 - P)
    else:
        for a in range(3):
            if pbcmask[a]:
                mu[a] = 1.0 - c * (P0 - (K[a, a] - W[a, a]) / V)
    return mu


@njit(cache=True, fastmath=True)
def _run_chunk(system, verlet, tables, settings, nsteps, grades):
    """Integrate up to ``nsteps`` steps; stop early when the list must be
    rebuilt, when a pair comes closer than the potential covers, or at the
    first step whose extrapolation grade reaches ``settings.grade_break``.

    Parameters
    ----------
    system : MDSystem
        Positions, velocities, cell, forces and virial, updated in place;
        masses, periodic axes and species codes.
    verlet : VerletArrays
        The Verlet list and the positions and cell it was built at.
    tables : SplineTables or MTPTables
        The potential (:func:`_potential_forces`).
    settings : MDSettings
        Time step, ensemble (0 nve, 1 langevin, 2 bussi), thermostat and
        barostat (0 none, 1 isotropic, 2 anisotropic Berendsen) settings,
        ``grade_break``.
    nsteps : int
    grades : (nsteps,) float array
        Filled with the extrapolation grade of each step done (0 without
        a grade).

    Returns
    -------
    (steps done, energy, need_rebuild, bad, stopped by the grade)
    """
    x, v, m, cell = system.positions, system.velocities, system.masses, system.cell
    pbcmask, codes, F, W = system.pbc, system.codes, system.forces, system.virial
    x0, cell0, skin, rc = verlet.x0, verlet.cell0, verlet.skin, verlet.cutoff
    dt, ensemble, T, gamma, tau = (settings.timestep, settings.ensemble, settings.temperature, settings.friction,
                                   settings.tau)
    baro, P0, kappa, tau_p, ndof = (settings.barostat, settings.pressure, settings.compressibility, settings.tau_p,
                                    settings.ndof)
    n = x.shape[0]
    kT = 8.617333262e-05 * T
    energy = 0.0
    bad = -1
    inv0 = _inv3(cell0)
    for step in range(nsteps):
        # B
        for i in range(n):
            for a in range(3):
                v[i, a] += 0.5 * dt * F[i, a] / m[i]
        if ensemble == 1:
            # A O A
            for i in range(n):
                for a in range(3):
                    x[i, a] += 0.5 * dt * v[i, a]
            c1 = math.exp(-gamma * dt)
            for i in range(n):
                s = math.sqrt((1.0 - c1 * c1) * kT / m[i])
                for a in range(3):
                    v[i, a] = c1 * v[i, a] + s * _normal()
            for i in range(n):
                for a in range(3):
                    x[i, a] += 0.5 * dt * v[i, a]
        else:
            for i in range(n):
                for a in range(3):
                    x[i, a] += dt * v[i, a]
        if baro > 0:
            mu = _berendsen_mu(_kinetic(v, m), W, abs(_det3(cell)), P0, kappa, dt, tau_p, baro, pbcmask)
            for a in range(3):
                for b in range(3):
                    cell[a, b] *= mu[b]
            for i in range(n):
                for a in range(3):
                    x[i, a] *= mu[a]
        energy, e_at, Fn, Wn, bad, grade = _potential_forces(x, cell, verlet, codes, tables)
        grades[step] = grade
        for i in range(n):
            for a in range(3):
                F[i, a] = Fn[i, a]
        for a in range(3):
            for b in range(3):
                W[a, b] = Wn[a, b]
        for i in range(n):
            for a in range(3):
                v[i, a] += 0.5 * dt * F[i, a] / m[i]
        if ensemble == 2:
            ek = 0.0
            for i in range(n):
                for a in range(3):
                    ek += 0.5 * m[i] * v[i, a] * v[i, a]
            lam = _bussi_factor(ek, 0.5 * ndof * kT, ndof, dt / tau)
            for i in range(n):
                for a in range(3):
                    v[i, a] *= lam
        if bad >= 0:
            return step + 1, energy, False, bad, False
        if grade >= settings.grade_break:
            return step + 1, energy, False, bad, True
        # Verlet-list validity: displacement relative to the affinely
        # deformed build positions, and the cell deformation
        A = np.zeros((3, 3))
        for a in range(3):
            for b in range(3):
                for c in range(3):
                    A[a, b] += inv0[a, c] * cell[c, b]
        dmax = 0.0
        for i in range(n):
            s = 0.0
            for a in range(3):
                y = x0[i, 0] * A[0, a] + x0[i, 1] * A[1, a] + x0[i, 2] * A[2, a]
                s += (x[i, a] - y) ** 2
            dmax = max(dmax, s)
        strain = 0.0
        for a in range(3):
            for b in range(3):
                strain = max(strain, abs(A[a, b] - (1.0 if a == b else 0.0)))
        if 2.0 * math.sqrt(dmax) + 2.0 * strain * (rc + skin) > skin:
            return step + 1, energy, True, bad, False
    return nsteps, energy, False, bad, False
