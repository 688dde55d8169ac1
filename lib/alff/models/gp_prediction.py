"""Predictions of the Gaussian process: posterior mean and variance of
forces, local energies and stress, and the posterior covariance of total
energies.

A mixin of :class:`~alff.models.gaussian_process.GaussianProcess`.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from ..clusters import frame_clusters
from ..kernels.blocks import FORCE_ROWS, build_blocks, kernel_matrix, self_kernel_diag

__all__ = ["PredictionMixin"]

FULL_ROWS = [(r, 1.0) for r in range(10)]
ENERGY_ROWS = [(3, 1.0)]


class PredictionMixin:
    """Posterior predictions from ``L_``, ``alpha_`` and the training blocks."""

    def _check_fitted(self):
        if self.alpha_ is None:
            raise RuntimeError("the model is not trained: call fit() first")

    def _predict(self, atoms, properties=("forces",), return_std=False, chunk=64):
        """Predict energies, forces, stress and their uncertainties.

        Parameters
        ----------
        atoms : ase.Atoms
        return_std : bool
            Compute the epistemic standard deviation of the forces.
        properties : tuple of str
            Only forces are computed unless energy or stress is asked.
        chunk : int
            Atoms per kernel evaluation batch (bounds memory).

        Returns
        -------
        dict
            ``forces`` (N, 3); ``forces_std`` (N, 3) when ``return_std``;
            ``energies`` (N,) local energies, ``energy`` float and ``stress``
            (6,) (periodic cells) when energy/stress were asked, with
            ``energies_std`` (N,), the standard deviation of each local
            energy, when ``return_std``.
        """
        self._check_fitted()
        codes = self._codes(atoms)
        fc = frame_clusters(atoms, codes, self.r2, self.r3)
        want_e = "energy" in properties or "energies" in properties
        want_s = "stress" in properties
        n = len(atoms)
        h = self.hyps_
        s2, s3 = h["sigma2"] ** 2, h["sigma3"] ** 2
        out = {}
        # Row groups with their own kernel dispatch: forces (vectorised
        # force/force kernels), local energies alone (vectorised, evaluated
        # as training x energy and transposed), or all 10 rows when the
        # stress is asked (generic kernels).
        if want_s:
            groups = [("full", FULL_ROWS)]
        else:
            groups = [("forces", FORCE_ROWS)] + ([("energy", ENERGY_ROWS)] if want_e else [])
        res = {}
        for name, rows in groups:
            R = len(rows)
            mean = np.zeros((n, R))
            var = np.zeros((n, R))
            for a0 in range(0, n, chunk):
                idx = range(a0, min(n, a0 + chunk))
                test = build_blocks([(fc, "atom", a, rows) for a in idx], len(self.species_), rmax=R)
                if name == "energy":
                    K2, K3 = kernel_matrix(self._blocks, test, h["ls2"], h["ls3"], self.use2, self.use3)
                    Ks = (s2 * K2 + s3 * K3).T
                else:
                    K2, K3 = kernel_matrix(test, self._blocks, h["ls2"], h["ls3"], self.use2, self.use3)
                    Ks = s2 * K2 + s3 * K3
                mean[a0:a0 + len(idx)] = (Ks @ self.alpha_).reshape(-1, R)
                if return_std:
                    v = solve_triangular(self.L_, Ks.T, lower=True, check_finite=False)
                    d2, d3 = self_kernel_diag(test, h["ls2"], h["ls3"], self.use2, self.use3)
                    var[a0:a0 + len(idx)] = (s2 * d2 + s3 * d3 - np.einsum("ij,ij->j", v, v)).reshape(-1, R)
            res[name] = (mean, var)
        if want_s:
            mean, var = res["full"]
            fmean, fvar, emean, evar = mean[:, :3], var[:, :3], mean[:, 3], var[:, 3]
        else:
            fmean, fvar = res["forces"]
            if want_e:
                emean, evar = res["energy"][0][:, 0], res["energy"][1][:, 0]
        out["forces"] = fmean.copy()
        if return_std:
            out["forces_std"] = np.sqrt(np.clip(fvar, 0.0, None))
        if want_e or want_s:
            e0 = np.array([self.e0_.get(int(z), 0.0) for z in atoms.numbers]) if self.e0_ else np.zeros(n)
            out["energies"] = emean + e0
            out["energy"] = float(out["energies"].sum())
            if return_std:
                out["energies_std"] = np.sqrt(np.clip(evar, 0.0, None))
        if want_s and fc.volume > 0:
            out["stress"] = res["full"][0][:, 4:10].sum(axis=0) / fc.volume
        return out

    def energy_covariance(self, frames, chunk=64):
        """Posterior covariance of the total energies of several structures.

        ``cov(E_a, E_b) = sum_ij k(e_i^a, e_j^b) - k_a^T K^-1 k_b`` with
        ``k_a`` the sum over the atoms of ``a`` of each local energy's kernel
        row against the training set. Energy *differences* (a barrier, a
        reaction energy) are far better determined than total energies,
        whose errors are strongly correlated: ``var(E_a - E_b) = C_aa + C_bb
        - 2 C_ab``.

        Parameters
        ----------
        frames : list of ase.Atoms

        Returns
        -------
        (F, F) array
            In eV^2.
        """
        self._check_fitted()
        h = self.hyps_
        s2, s3 = h["sigma2"] ** 2, h["sigma3"] ** 2
        blocks = []
        for atoms in frames:
            fc = frame_clusters(atoms, self._codes(atoms), self.r2, self.r3)
            n = len(atoms)
            blocks.append([build_blocks([(fc, "atom", a, ENERGY_ROWS) for a in range(a0, min(n, a0 + chunk))],
                                        len(self.species_), rmax=1) for a0 in range(0, n, chunk)])
        F = len(frames)
        kE = np.zeros((len(self.alpha_), F))
        prior = np.zeros((F, F))
        for fa in range(F):
            for A in blocks[fa]:
                K2, K3 = kernel_matrix(self._blocks, A, h["ls2"], h["ls3"], self.use2, self.use3)
                kE[:, fa] += (s2 * K2 + s3 * K3).sum(axis=1)
                for fb in range(fa, F):
                    for B in blocks[fb]:
                        K2, K3 = kernel_matrix(A, B, h["ls2"], h["ls3"], self.use2, self.use3)
                        prior[fa, fb] += float((s2 * K2 + s3 * K3).sum())
        prior = np.triu(prior) + np.triu(prior, 1).T
        V = solve_triangular(self.L_, kE, lower=True, check_finite=False)
        return prior - V.T @ V
