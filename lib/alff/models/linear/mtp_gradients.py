"""Parameter gradients of the MTP's weighted loss (the MLIP mode's fit).

The loss of one labelled frame is

    L = w_E (E* - E)^2 + w_F sum_k |F*_k - F_k|^2 + w_S sum_ab (W*_ab - W_ab)^2

with E the energy, F_k = -dE/dx_k the forces and W = sum_pairs g_ij (x) D_ij
the virial (g_ij = dE/dD_ij, D_ij = r_j - r_i). With the residuals
r_E = E* - E, r_k = F*_k - F_k and R = W* - W held fixed,

    dL/dtheta = -2 dH/dtheta,  H = w_E r_E E + sum_pairs g_ij . t_ij,
    t_ij = -w_F (r_j - r_i) + w_S R D_ij,

so one forward pass with the single tangent t through the moments (the
directional derivative of E along t) and one reverse pass give the
gradient with respect to every parameter: the radial mixing coefficients,
the moment coefficients and the species energies. The cost is about two
energy-and-force evaluations per frame, independent of the number of
parameters (the analytic gradient of the MLIP package's BFGS fit).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .mtp_kernels import _pair_radial, _radial_basis, _unit_powers

__all__ = ["mtp_loss_gradient", "pair_tangent", "site_radial_rows"]


def pair_tangent(first, j, D, force_residual, virial_residual, w_force, w_stress):
    """(M, 3) tangent t_ij of each neighbour row.

    Parameters
    ----------
    first : (N + 1,) int offsets; j : (M,) int; D : (M, 3) float
        The neighbour list (:class:`~alff.models.linear.mtp_kernels.MTPNeighbors`).
    force_residual : (N, 3) float array or None
        F* - F, zero on atoms without force labels.
    virial_residual : (3, 3) float array or None
        W* - W (eV).
    w_force, w_stress : float
        The frame's weights.
    """
    t = np.zeros(D.shape)
    if force_residual is not None and w_force > 0:
        i = np.repeat(np.arange(len(first) - 1), np.diff(first))
        t -= w_force * (force_residual[j] - force_residual[i])
    if virial_residual is not None and w_stress > 0:
        t += w_stress * D @ np.asarray(virial_residual, float).T
    return np.ascontiguousarray(t)


@njit(cache=True, inline="always")
def _mono_grad_dot(up, pa, pb, pc, tangent, m):
    """grad_u (u_x^pa u_y^pb u_z^pc) . tangent[m], from the powers ``up``."""
    gt = 0.0
    if pa > 0:
        gt += pa * up[pa - 1, 0] * up[pb, 1] * up[pc, 2] * tangent[m, 0]
    if pb > 0:
        gt += pb * up[pa, 0] * up[pb - 1, 1] * up[pc, 2] * tangent[m, 1]
    if pc > 0:
        gt += pc * up[pa, 0] * up[pb, 1] * up[pc - 1, 2] * tangent[m, 2]
    return gt


def site_radial_rows(nbr, basis, rad, moment_coeffs):
    """(N, n_species^2 n_radial radial_size) derivatives of each site energy
    with respect to the radial mixing coefficients (flattened as
    ``radial.reshape(-1)``)."""
    n = nbr.types.shape[0]
    out = np.zeros((n,) + rad.coeffs.shape)
    mtp_loss_gradient(nbr, basis, rad, moment_coeffs, np.zeros(nbr.D.shape), 1.0, out)
    return out.reshape(n, -1)


@njit(cache=True)
def mtp_loss_gradient(nbr, basis, rad, moment_coeffs, tangent, energy_weight, site_radial):
    """dH/dtheta of H = energy_weight * E + sum_pairs g_ij . tangent_ij.

    Parameters
    ----------
    nbr : MTPNeighbors
    basis : MTPBasisArrays
    rad : MTPRadial
    moment_coeffs : (S,) float array
    tangent : (M, 3) float array
        t_ij per neighbour row (:func:`pair_tangent`).
    energy_weight : float
        w_E r_E.
    site_radial : (N, n_species, n_species, n_radial, radial_size) or (0, ...) float array
        When it has N rows, also filled (in place) with each site's share
        of grad_radial: with a zero tangent and energy_weight 1, the rows
        dE_i / dc of per-neighbourhood D-optimality in the MLIP mode.

    Returns
    -------
    grad_radial : (n_species, n_species, n_radial, radial_size) float array
        dH / d radial coefficients.
    grad_moment : (S,) float array
        dH / d moment_coeffs. (dH / d species_coeffs[s] is energy_weight
        times the count of species s.)
    """
    first, j, D, d, types = nbr
    basic, times, mapping, n_moments = basis.basic, basis.times, basis.mapping, basis.n_moments
    mono_pow, mono_of = basis.mono_pow, basis.mono_of
    radial, r_min, r_max, scaling = rad
    n = types.shape[0]
    n_basic = basic.shape[0]
    n_mono = mono_pow.shape[0]
    n_sp, n_radial, size = radial.shape[0], radial.shape[2], radial.shape[3]
    max_pow = 0
    for b in range(n_basic):
        max_pow = max(max_pow, basic[b, 1], basic[b, 2], basic[b, 3])
    grad_radial = np.zeros((n_sp, n_sp, n_radial, size))
    per_site = site_radial.shape[0] == n
    grad_moment = np.zeros(mapping.shape[0])
    M = np.zeros(n_moments)    # moments
    T = np.zeros(n_moments)    # their tangents along t
    gM = np.zeros(n_moments)   # adjoints of M
    gT = np.zeros(n_moments)   # adjoints of T
    q = np.zeros(size)
    dq = np.zeros(size)
    f = np.zeros(n_radial)
    df = np.zeros(n_radial)
    up = np.zeros((max_pow + 1, 3))
    mono = np.zeros(n_mono)
    mgrad = np.zeros((n_mono, 3))  # d mono / d u
    A = np.zeros((n_radial, n_mono))   # sum of gM over basic moments of (mu, monomial)
    Bt = np.zeros((n_radial, n_mono))  # same for gT
    u = np.zeros(3)
    for i in range(n):
        ti = types[i]
        M[:] = 0.0
        T[:] = 0.0
        for m in range(first[i], first[i + 1]):
            r = d[m]
            if r >= r_max:
                continue
            _pair_radial(r, ti, types[j[m]], radial, r_min, r_max, scaling, q, dq, f, df)
            inv_r = 1.0 / r
            for x in range(3):
                u[x] = D[m, x] * inv_r
            _unit_powers(u, max_pow, up)
            ut = u[0] * tangent[m, 0] + u[1] * tangent[m, 1] + u[2] * tangent[m, 2]
            for k in range(n_mono):
                pa, pb, pc = mono_pow[k, 0], mono_pow[k, 1], mono_pow[k, 2]
                mk = up[pa, 0] * up[pb, 1] * up[pc, 2]
                mono[k] = mk
                # (grad_u mono - |p| mono u) . t / r  and  mono (u . t)
                gt = _mono_grad_dot(up, pa, pb, pc, tangent, m)
                mgrad[k, 0] = (gt - (pa + pb + pc) * mk * ut) * inv_r  # angular part of d(mono)/dD . t
                mgrad[k, 1] = mk * ut                                 # radial part (times f')
            for b in range(n_basic):
                mu, k = basic[b, 0], mono_of[b]
                M[b] += f[mu] * mono[k]
                T[b] += df[mu] * mgrad[k, 1] + f[mu] * mgrad[k, 0]
        for t in range(times.shape[0]):
            a, b, mult, k = times[t, 0], times[t, 1], times[t, 2], times[t, 3]
            M[k] += mult * M[a] * M[b]
            T[k] += mult * (T[a] * M[b] + M[a] * T[b])
        gM[:] = 0.0
        gT[:] = 0.0
        for s_ in range(mapping.shape[0]):
            mm = mapping[s_]
            grad_moment[s_] += energy_weight * M[mm] + T[mm]
            gM[mm] += energy_weight * moment_coeffs[s_]
            gT[mm] += moment_coeffs[s_]
        for t in range(times.shape[0] - 1, -1, -1):
            a, b, mult, k = times[t, 0], times[t, 1], times[t, 2], times[t, 3]
            gmk, gtk = gM[k] * mult, gT[k] * mult
            if gmk == 0.0 and gtk == 0.0:
                continue
            gM[a] += gmk * M[b] + gtk * T[b]
            gM[b] += gmk * M[a] + gtk * T[a]
            gT[a] += gtk * M[b]
            gT[b] += gtk * M[a]
        A[:, :] = 0.0
        Bt[:, :] = 0.0
        for b in range(n_basic):
            A[basic[b, 0], mono_of[b]] += gM[b]
            Bt[basic[b, 0], mono_of[b]] += gT[b]
        for m in range(first[i], first[i + 1]):
            r = d[m]
            if r >= r_max:
                continue
            _radial_basis(r, r_min, r_max, scaling, size, q, dq)
            tj = types[j[m]]
            inv_r = 1.0 / r
            for x in range(3):
                u[x] = D[m, x] * inv_r
            _unit_powers(u, max_pow, up)
            ut = u[0] * tangent[m, 0] + u[1] * tangent[m, 1] + u[2] * tangent[m, 2]
            for mu in range(n_radial):
                s_val = 0.0   # coefficient of Q_k
                s_der = 0.0   # coefficient of Q_k'
                for k in range(n_mono):
                    a_, b_ = A[mu, k], Bt[mu, k]
                    if a_ == 0.0 and b_ == 0.0:
                        continue
                    pa, pb, pc = mono_pow[k, 0], mono_pow[k, 1], mono_pow[k, 2]
                    mk = up[pa, 0] * up[pb, 1] * up[pc, 2]
                    gt = _mono_grad_dot(up, pa, pb, pc, tangent, m)
                    s_val += a_ * mk + b_ * (gt - (pa + pb + pc) * mk * ut) * inv_r
                    s_der += b_ * mk * ut
                for k in range(size):
                    gk = s_val * q[k] + s_der * dq[k]
                    grad_radial[ti, tj, mu, k] += gk
                    if per_site:
                        site_radial[i, ti, tj, mu, k] += gk
    return grad_radial, grad_moment
