"""Numba kernels of the moment tensor potential.

All kernels take a neighbour list sorted by the centre atom
(:func:`alff.neighbors.neighbor_list`): ``first`` (N + 1,) offsets so that
the neighbours of atom i are rows ``first[i]:first[i + 1]``, ``j`` (M,)
neighbour indices, ``D`` (M, 3) vectors r_j - r_i and ``d`` (M,) distances;
``types`` (N,) species indices 0 .. n_species - 1.

The basis in the MLIP representation (:mod:`.mtp_basis`): ``basic`` (B, 4)
rows ``(mu, a, b, c)``, ``times`` (T, 4) rows ``(i, j, mult, k)``,
``mapping`` (S,) and ``n_moments``. Radial part: Chebyshev polynomials
T_k(xi), xi = (2 r - (r_min + r_max)) / (r_max - r_min), times
``scaling * (r_max - r)^2`` (zero beyond r_max), mixed by ``radial``
(n_species, n_species, n_radial, radial_size) into f_mu for each species
pair (centre, neighbour), as the MLIP package does.

Site energy: E_i = species_coeffs[t_i] + sum_a moment_coeffs[a] B_a(i).
Forces are minus the exact gradient (reverse mode through the products);
the virial is sum over pairs of dE/dr_ij (x) r_ij, so the stress is
virial / volume (ASE's sign: positive under tension... see
:func:`alff.models.linear.mtp.MomentTensorPotential.predict`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = ["mtp_energy_forces", "mtp_site_energy_forces", "mtp_features", "neighbor_offsets", "MTPNeighbors",
           "MTPBasisArrays", "MTPRadial"]


class MTPNeighbors(NamedTuple):
    """A structure's neighbour list sorted by centre, and its species."""

    first: np.ndarray  # (N + 1,) int offsets of each centre's rows
    j: np.ndarray      # (M,) int neighbour index
    D: np.ndarray      # (M, 3) vectors r_j - r_i
    d: np.ndarray      # (M,) distances
    types: np.ndarray  # (N,) int species index


class MTPBasisArrays(NamedTuple):
    """The basis in the MLIP representation, with its direction monomials
    (:func:`~.mtp_monomials.monomials`: M monomials ordered by degree,
    closed under lowering any power)."""

    basic: np.ndarray        # (B, 4) int (mu, a, b, c)
    times: np.ndarray        # (T, 4) int (i, j, mult, k)
    mapping: np.ndarray      # (S,) int moments that are basis functions
    n_moments: int           # alpha_moments_count
    mono_pow: np.ndarray     # (M, 3) int (a, b, c) of each monomial, by degree; row 0 is (0, 0, 0)
    mono_of: np.ndarray      # (B,) int monomial of each basic moment
    mono_parent: np.ndarray  # (M,) int monomial / u[mono_axis] (-1 for row 0)
    mono_axis: np.ndarray    # (M,) int the axis lowered
    mono_len: np.ndarray     # (n_radial,) int radial function mu uses monomials 0 .. mono_len[mu] - 1
    mono_dindex: np.ndarray  # (3, M) int d mono / d u_x = mono_dpow[x] * mono[mono_dindex[x]] (M: zero)
    mono_dpow: np.ndarray    # (3, M) float the power of u_x


class MTPRadial(NamedTuple):
    """Radial functions: Chebyshev mixing per species pair and the interval."""

    coeffs: np.ndarray  # (n_species, n_species, n_radial, radial_size)
    r_min: float
    r_max: float
    scaling: float


def neighbor_offsets(i, n_atoms):
    """(N + 1,) offsets of each centre's rows in a list sorted by ``i``."""
    return np.concatenate(([0], np.cumsum(np.bincount(i, minlength=n_atoms)))).astype(np.int64)


@njit(cache=True)
def _radial_basis(r, r_min, r_max, scaling, size, q, dq):
    """Q_k(r) = T_k(xi) * scaling * (r_max - r)^2 and dQ_k/dr into q, dq."""
    if r >= r_max:
        for k in range(size):
            q[k] = 0.0
            dq[k] = 0.0
        return
    span = r_max - r_min
    xi = (2.0 * r - (r_min + r_max)) / span
    dxi = 2.0 / span
    s = scaling * (r_max - r) * (r_max - r)
    ds = -2.0 * scaling * (r_max - r)
    t_prev, t_cur = 1.0, xi
    dt_prev, dt_cur = 0.0, dxi
    q[0] = s
    dq[0] = ds
    if size > 1:
        q[1] = xi * s
        dq[1] = dxi * s + xi * ds
    for k in range(2, size):
        t_new = 2.0 * xi * t_cur - t_prev
        dt_new = 2.0 * (dxi * t_cur + xi * dt_cur) - dt_prev
        q[k] = t_new * s
        dq[k] = dt_new * s + t_new * ds
        t_prev, t_cur = t_cur, t_new
        dt_prev, dt_cur = dt_cur, dt_new


@njit(cache=True, inline="always")
def _pair_radial(r, ti, tj, radial, r_min, r_max, scaling, q, dq, f, df):
    """f_mu(r) and f_mu'(r) of the species pair (ti, tj) into f, df."""
    size = radial.shape[3]
    _radial_basis(r, r_min, r_max, scaling, size, q, dq)
    for mu in range(radial.shape[2]):
        s = 0.0
        ds = 0.0
        for k in range(size):
            s += radial[ti, tj, mu, k] * q[k]
            ds += radial[ti, tj, mu, k] * dq[k]
        f[mu] = s
        df[mu] = ds


@njit(cache=True)
def _unit_powers(u, max_pow, out):
    """out[p, x] = u_x^p for p = 0 .. max_pow."""
    for x in range(3):
        out[0, x] = 1.0
        for p in range(1, max_pow + 1):
            out[p, x] = out[p - 1, x] * u[x]


@njit(cache=True)
def _basic_term(b, basic, f, df, up, r, u, grad):
    """Contribution f_mu(r) u^p of one neighbour to basic moment b; its
    gradient with respect to the neighbour vector into grad (3,)."""
    mu, pa, pb, pc = basic[b, 0], basic[b, 1], basic[b, 2], basic[b, 3]
    mono = up[pa, 0] * up[pb, 1] * up[pc, 2]
    val = f[mu] * mono
    k = pa + pb + pc
    # grad (f(r) u^p) = f'(r) mono u + f(r) / r (d mono / du - k mono u)
    coef = df[mu] * mono - f[mu] * k * mono / r
    grad[0] = coef * u[0]
    grad[1] = coef * u[1]
    grad[2] = coef * u[2]
    fr = f[mu] / r
    if pa > 0:
        grad[0] += fr * pa * up[pa - 1, 0] * up[pb, 1] * up[pc, 2]
    if pb > 0:
        grad[1] += fr * pb * up[pa, 0] * up[pb - 1, 1] * up[pc, 2]
    if pc > 0:
        grad[2] += fr * pc * up[pa, 0] * up[pb, 1] * up[pc - 1, 2]
    return val


@njit(cache=True, fastmath=False)
def mtp_site_energy_forces(nbr, basis, rad, species_coeffs, moment_coeffs, values, radial_rows):
    """Site energies, forces and virial of an MTP, and optionally each
    site's basis values and radial grade rows.

    Forward: per neighbour the monomials by one product each (their
    parent times a component of u) and the basic moments as
    f_mu(r) monomial for the dense (mu, monomial) table; then the products
    of ``times``. Backward: the adjoints of the basic moments in the same
    table, contracted per neighbour with f_mu and f_mu' into one value
    and one radial-derivative coefficient per monomial, and the gradient
    from those with the monomials' derivative table.

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
    radial_rows : (N, n_species, n_radial, radial_size) or (0, ...) float array
        When it has N rows, filled with d E_i / d radial[t_i, t_j, mu, k]
        (the centre's own species block of the MLIP mode's grade row).

    Returns
    -------
    energies : (N,) float array
    forces : (N, 3) float array
    virial : (3, 3) float array
        sum over pairs of dE/dr_ij (x) r_ij (eV).
    """
    first, j, D, d, types = nbr
    basic, times, mapping, n_moments = basis.basic, basis.times, basis.mapping, basis.n_moments
    parent, axis, length, mono_of = basis.mono_parent, basis.mono_axis, basis.mono_len, basis.mono_of
    dindex, dpow = basis.mono_dindex, basis.mono_dpow
    radial, r_min, r_max, scaling = rad
    n = types.shape[0]
    keep = values.shape[0] == n
    keep_radial = radial_rows.shape[0] == n
    n_basic, n_mono, n_mu = basic.shape[0], parent.shape[0], length.shape[0]
    n_radial, size = radial.shape[2], radial.shape[3]
    max_nb = 0
    for i in range(n):
        max_nb = max(max_nb, first[i + 1] - first[i])
    energies = np.zeros(n)
    forces = np.zeros((n, 3))
    virial = np.zeros((3, 3))
    moment = np.zeros(n_moments)
    g = np.zeros(n_moments)
    q = np.zeros(size)
    dq = np.zeros(size)
    f = np.zeros((max_nb, n_radial))   # f_mu and f_mu' of each neighbour of the centre
    df = np.zeros((max_nb, n_radial))
    dense = np.zeros((n_mu, n_mono))   # basic moments, then their adjoints, by (mu, monomial)
    mono = np.zeros(n_mono + 1)        # slot n_mono stays 0 (dindex of a zero power)
    mono[0] = 1.0
    gval = np.zeros(n_mono)
    gder = np.zeros(n_mono)
    u = np.zeros(3)
    for i in range(n):
        ti = types[i]
        dense[:, :] = 0.0
        for m in range(first[i], first[i + 1]):
            r = d[m]
            if r >= r_max:
                continue
            c = m - first[i]
            _pair_radial(r, ti, types[j[m]], radial, r_min, r_max, scaling, q, dq, f[c], df[c])
            inv_r = 1.0 / r
            for x in range(3):
                u[x] = D[m, x] * inv_r
            for k in range(1, n_mono):
                mono[k] = mono[parent[k]] * u[axis[k]]
            for mu in range(n_mu):
                fm = f[c, mu]
                for k in range(length[mu]):
                    dense[mu, k] += fm * mono[k]
        for b in range(n_basic):
            moment[b] = dense[basic[b, 0], mono_of[b]]
        moment[n_basic:] = 0.0
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
        dense[:, :] = 0.0
        for b in range(n_basic):
            dense[basic[b, 0], mono_of[b]] += g[b]
        for m in range(first[i], first[i + 1]):
            r = d[m]
            if r >= r_max:
                continue
            c = m - first[i]
            inv_r = 1.0 / r
            for x in range(3):
                u[x] = D[m, x] * inv_r
            for k in range(1, n_mono):
                mono[k] = mono[parent[k]] * u[axis[k]]
            gval[:] = 0.0
            gder[:] = 0.0
            for mu in range(n_mu):
                fm, dfm = f[c, mu], df[c, mu]
                for k in range(length[mu]):
                    gval[k] += dense[mu, k] * fm
                    gder[k] += dense[mu, k] * dfm
            # E_pair = sum_k gval_k(r) mono_k(u): grad = (sum_k gder_k mono_k) u + (I - u u^T) grad_u / r
            radial_part, g0, g1, g2 = 0.0, 0.0, 0.0, 0.0
            for k in range(n_mono):
                gv = gval[k]
                radial_part += gder[k] * mono[k]
                g0 += gv * dpow[0, k] * mono[dindex[0, k]]
                g1 += gv * dpow[1, k] * mono[dindex[1, k]]
                g2 += gv * dpow[2, k] * mono[dindex[2, k]]
            ug = u[0] * g0 + u[1] * g1 + u[2] * g2
            gx = radial_part * u[0] + (g0 - ug * u[0]) * inv_r
            gy = radial_part * u[1] + (g1 - ug * u[1]) * inv_r
            gz = radial_part * u[2] + (g2 - ug * u[2]) * inv_r
            jj = j[m]
            forces[jj, 0] -= gx
            forces[jj, 1] -= gy
            forces[jj, 2] -= gz
            forces[i, 0] += gx
            forces[i, 1] += gy
            forces[i, 2] += gz
            gv3 = (gx, gy, gz)
            for a in range(3):
                for x in range(3):
                    virial[a, x] += gv3[a] * D[m, x]
            if keep_radial:  # d E_i / d radial[ti, tj, mu, k] = sum_k' adjoint(mu, k') mono_k' Q_k(r)
                _radial_basis(r, r_min, r_max, scaling, size, q, dq)
                tj = types[jj]
                for mu in range(n_mu):
                    h = 0.0
                    for k in range(length[mu]):
                        h += dense[mu, k] * mono[k]
                    for k in range(size):
                        radial_rows[i, tj, mu, k] += h * q[k]
    return energies, forces, virial


@njit(cache=True, fastmath=False)
def mtp_energy_forces(nbr, basis, rad, species_coeffs, moment_coeffs):
    """Site energies, forces and virial of an MTP.

    ``nbr`` :class:`MTPNeighbors`, ``basis`` :class:`MTPBasisArrays`,
    ``rad`` :class:`MTPRadial`, ``species_coeffs`` (n_species,),
    ``moment_coeffs`` (S,): :func:`mtp_site_energy_forces` without the
    basis values.

    Returns
    -------
    energies : (N,) float array
    forces : (N, 3) float array
    virial : (3, 3) float array
        sum over pairs of dE/dr_ij (x) r_ij (eV).
    """
    radial = rad.coeffs
    return mtp_site_energy_forces(nbr, basis, rad, species_coeffs, moment_coeffs,
                                  np.zeros((0, moment_coeffs.shape[0])),
                                  np.zeros((0, radial.shape[1], radial.shape[2], radial.shape[3])))


@njit(cache=True)
def mtp_features(nbr, basis, rad):
    """Basis values per atom and the derivatives of their sums.

    For the linear fit: E = sum_i species_coeffs[t_i] + sum_a theta_a
    sum_i B_a(i), so the energy row is (counts per species, sum_i B(i)),
    the force rows minus the position derivatives and the virial rows the
    strain derivatives of sum_i B(i).

    Returns
    -------
    values : (N, S) float array
        B_a(i).
    grads : (S, N, 3) float array
        d (sum_i B_a(i)) / d r_k.
    virials : (S, 3, 3) float array
        sum over pairs of dB_a(i)/dr_ij (x) r_ij.
    """
    first, j, D, d, types = nbr
    basic, times, mapping, n_moments = basis.basic, basis.times, basis.mapping, basis.n_moments
    radial, r_min, r_max, scaling = rad
    n = types.shape[0]
    n_basic = basic.shape[0]
    n_radial, size = radial.shape[2], radial.shape[3]
    n_func = mapping.shape[0]
    max_pow = 0
    for b in range(n_basic):
        max_pow = max(max_pow, basic[b, 1], basic[b, 2], basic[b, 3])
    values = np.zeros((n, n_func))
    grads = np.zeros((n_func, n, 3))
    virials = np.zeros((n_func, 3, 3))
    moment = np.zeros(n_moments)
    q = np.zeros(size)
    dq = np.zeros(size)
    f = np.zeros(n_radial)
    df = np.zeros(n_radial)
    up = np.zeros((max_pow + 1, 3))
    u = np.zeros(3)
    grad = np.zeros(3)
    max_nb = 0
    for i in range(n):
        max_nb = max(max_nb, first[i + 1] - first[i])
    jac = np.zeros((n_moments, max_nb, 3))  # d moment / d r_ij per neighbour row
    for i in range(n):
        ti = types[i]
        nb = first[i + 1] - first[i]
        moment[:] = 0.0
        jac[:, :nb, :] = 0.0
        for m in range(first[i], first[i + 1]):
            r = d[m]
            if r >= r_max:
                continue
            _pair_radial(r, ti, types[j[m]], radial, r_min, r_max, scaling, q, dq, f, df)
            for x in range(3):
                u[x] = D[m, x] / r
            _unit_powers(u, max_pow, up)
            col = m - first[i]
            for b in range(n_basic):
                moment[b] += _basic_term(b, basic, f, df, up, r, u, grad)
                jac[b, col, 0] = grad[0]
                jac[b, col, 1] = grad[1]
                jac[b, col, 2] = grad[2]
        for t in range(times.shape[0]):
            a, b, mult, k = times[t, 0], times[t, 1], times[t, 2], times[t, 3]
            ma, mb = moment[a], moment[b]
            moment[k] += mult * ma * mb
            for col in range(nb):
                for x in range(3):
                    jac[k, col, x] += mult * (jac[a, col, x] * mb + ma * jac[b, col, x])
        for s_ in range(n_func):
            mm = mapping[s_]
            values[i, s_] = moment[mm]
            for col in range(nb):
                m = first[i] + col
                jj = j[m]
                for x in range(3):
                    gx = jac[mm, col, x]
                    grads[s_, jj, x] += gx
                    grads[s_, i, x] -= gx
                    for c in range(3):
                        virials[s_, x, c] += gx * D[m, c]
    return values, grads, virials
