"""Gaussian-process 2+3-body force field (FLARE; Vandermause et al. 2020).

The local energy of atom ``i`` is a sum of 2-body and 3-body cluster
contributions (``alff.clusters``); both are Gaussian processes with
squared-exponential kernels on the cluster side lengths, the smooth
quadratic cutoff, and sums over the permutations of the second cluster.
Training labels are forces of chosen atoms and, optionally, total energies
and stresses; predictions are local and total energies, forces, stress and
the epistemic standard deviation of every force component.

Hyperparameters ``(sigma2, ls2, sigma3, ls3, sigma_n[, sigma_e][, sigma_s])``
maximise the log marginal likelihood with its analytic gradient (L-BFGS-B on
their logarithms).
"""

from __future__ import annotations

import logging
import time

import numpy as np
from scipy.linalg import cho_solve, solve_triangular
from scipy.optimize import minimize

from ..clusters import frame_clusters
from ..kernels.blocks import FORCE_ROWS, build_blocks, concat_blocks, kernel_matrix, self_kernel_diag
from ..linalg import cholesky_append, inverse_from_cholesky, robust_cholesky
from .storage import read_model, write_model
from .training_set import labelled_frame, pack_frames, unpack_frames

__all__ = ["GaussianProcess"]

log = logging.getLogger(__name__)

FORMAT = "alff.GaussianProcess"
FORMAT_VERSION = 1
HYP_ORDER = ("sigma2", "ls2", "sigma3", "ls3", "sigma_n", "sigma_e", "sigma_s")
BOUNDS = {
    "sigma2": (1e-6, 1e4), "sigma3": (1e-6, 1e4),
    "ls2": (0.05, 20.0), "ls3": (0.05, 20.0),
    "sigma_n": (1e-4, 10.0), "sigma_e": (1e-5, 10.0), "sigma_s": (1e-7, 1.0),
}
FULL_ROWS = [(r, 1.0) for r in range(10)]
ENERGY_ROWS = [(3, 1.0)]


class GaussianProcess:
    """FLARE 2+3-body Gaussian-process force field.

    Parameters
    ----------
    cutoffs : dict
        ``{"twobody": r2, "threebody": r3}`` in Angstrom; leave a key out to
        drop that body order.
    species : sequence of int or str, optional
        Chemical species the model knows; by default those of the training
        frames.
    hyps : dict, optional
        Initial hyperparameters (any of ``sigma2, ls2, sigma3, ls3,
        sigma_n, sigma_e, sigma_s``); unset ones are initialised from the
        data. ``sigma_e`` is the energy noise per atom (eV/atom), ``sigma_s``
        the stress noise (eV/A^3).
    energy_labels, stress_labels : bool
        Train on total energies / stresses of the frames as well as forces.
    reference_energies : dict, optional
        Per-species energies (``{"Al": -3.74}`` or ``{13: -3.74}``, eV)
        subtracted from energy labels before the GP sees them (e.g. isolated
        atoms). By default they are fitted by least squares to the energy
        labels at :meth:`fit` and then kept fixed by :meth:`update`.
    maxiter : int
        Maximum L-BFGS-B iterations of a hyperparameter optimisation.
    opt_tol : float
        Gradient tolerance of the optimisation (max |d log L / d log h|).
    opt_rtol : float
        The optimisation also stops when an iteration improves the log
        likelihood by less than this fraction of its value (1e-6 is 0.01
        nats for a thousand-label training set: far below significance).


    Attributes
    ----------
    hyps_ : dict
        Current hyperparameters.
    species_ : list of int
        Atomic numbers of the known species.
    alpha_ : (n,) array
        ``K_y^-1 y``.
    L_ : (n, n) array
        Lower Cholesky factor of ``K_y``.
    log_likelihood_ : float
    n_envs_ : int
        Number of force-trained atomic environments.
    """

    def __init__(self, cutoffs=None, species=None, hyps=None, energy_labels=False,
                 stress_labels=False, reference_energies=None, maxiter=20, opt_tol=1e-4,
                 opt_rtol=1e-6):
        cutoffs = dict(cutoffs or {"twobody": 5.0, "threebody": 4.0})
        unknown = set(cutoffs) - {"twobody", "threebody"}
        if unknown:
            raise ValueError(f"unknown cutoff keys {sorted(unknown)}; use 'twobody' and 'threebody'")
        if not cutoffs:
            raise ValueError("cutoffs needs at least one of 'twobody', 'threebody'")
        for k, v in cutoffs.items():
            if not (np.isfinite(v) and v > 0.5):
                raise ValueError(f"cutoffs['{k}'] must be a distance > 0.5 A, got {v}")
        self.cutoffs = {k: float(v) for k, v in cutoffs.items()}
        self.species = species
        self.hyps = dict(hyps or {})
        bad = set(self.hyps) - set(HYP_ORDER)
        if bad:
            raise ValueError(f"unknown hyperparameters {sorted(bad)}; known: {HYP_ORDER}")
        self.energy_labels = bool(energy_labels)
        self.stress_labels = bool(stress_labels)
        self.reference_energies = reference_energies
        self.maxiter = int(maxiter)
        self.opt_tol = float(opt_tol)
        self.opt_rtol = float(opt_rtol)
        self._reset()

    # ------------------------------------------------------------------ setup
    def _reset(self):
        self.frames_ = []
        self.species_ = None
        self.hyps_ = None
        self.e0_ = None
        self._blocks = None
        self._y = np.zeros(0)
        self._noise_kind = np.zeros(0, np.int64)  # 0 force, 1 energy, 2 stress
        self._noise_scale = np.zeros(0)  # atoms for energy rows, 1 otherwise
        self._K = None  # (ls2, ls3, K2, K3) cache at current length scales
        self.L_ = None
        self.alpha_ = None
        self.log_likelihood_ = None
        self.timings_ = {}

    @property
    def r2(self):
        return self.cutoffs.get("twobody", 0.0)

    @property
    def r3(self):
        return self.cutoffs.get("threebody", 0.0)

    @property
    def use2(self):
        return self.r2 > 0

    @property
    def use3(self):
        return self.r3 > 0

    @property
    def n_envs_(self):
        return int(sum(len(f.force_atoms) for f in self.frames_))

    @property
    def n_labels_(self):
        return len(self._y)

    def _codes(self, atoms, index=None):
        lookup = {z: k for k, z in enumerate(self.species_)}
        unknown = sorted(set(atoms.numbers.tolist()) - set(lookup))
        if unknown:
            from ase.data import chemical_symbols
            names = ", ".join(f"{chemical_symbols[z]} (Z={z})" for z in unknown)
            where = f" in frame {index}" if index is not None else ""
            raise ValueError(
                f"species {names}{where} not known to the model (known: "
                f"{[chemical_symbols[z] for z in self.species_]})"
            )
        return np.array([lookup[z] for z in atoms.numbers], np.int64)

    def _set_species(self, frames):
        from ase.data import atomic_numbers
        if self.species is not None:
            zs = [atomic_numbers[s] if isinstance(s, str) else int(s) for s in self.species]
        else:
            zs = sorted({int(z) for f in frames for z in f.atoms.numbers})
        self.species_ = sorted(set(zs))

    def _frame_blocks(self, fc, frame):
        specs = [(fc, "force", int(a), FORCE_ROWS) for a in frame.force_atoms]
        rows = []
        if frame.use_energy:
            rows.append((3, 1.0))
        if frame.use_stress:
            rows += [(r, 1.0 / fc.volume) for r in range(4, 10)]
        if rows:
            specs.append((fc, "es", 0, rows))
        return specs

    def _frame_labels(self, frame):
        y, kind, scale = [], [], []
        if len(frame.force_atoms):
            y.append(frame.forces[frame.force_atoms].ravel())
            kind += [0] * (3 * len(frame.force_atoms))
            scale += [1.0] * (3 * len(frame.force_atoms))
        if frame.use_energy:
            y.append([frame.energy - self._e0_of(frame.atoms)])
            kind.append(1)
            scale.append(float(len(frame.atoms)))
        if frame.use_stress:
            y.append(frame.stress)
            kind += [2] * 6
            scale += [1.0] * 6
        return (np.concatenate(y) if y else np.zeros(0)), kind, scale

    def _e0_of(self, atoms):
        if self.e0_ is None:
            return 0.0
        return float(sum(self.e0_.get(int(z), 0.0) for z in atoms.numbers))

    def _fit_e0(self, frames):
        """Per-species reference energies: given, or least squares on energy labels."""
        if self.reference_energies is not None:
            from ase.data import atomic_numbers
            e0 = {(atomic_numbers[k] if isinstance(k, str) else int(k)): float(v)
                  for k, v in self.reference_energies.items()}
            missing = [z for z in self.species_ if z not in e0]
            if missing:
                raise ValueError(f"reference_energies has no entry for species Z={missing}")
            return e0
        ef = [f for f in frames if f.use_energy]
        if not ef:
            return None
        A = np.array([[np.sum(f.atoms.numbers == z) for z in self.species_] for f in ef], float)
        e = np.array([f.energy for f in ef])
        coef = np.linalg.lstsq(A, e, rcond=None)[0]
        return {int(z): float(c) for z, c in zip(self.species_, coef)}

    def _prepare(self, frames, atom_indices, start):
        if atom_indices is None:
            atom_indices = [None] * len(frames)
        if len(atom_indices) != len(frames):
            raise ValueError(f"atom_indices has {len(atom_indices)} entries for {len(frames)} frames")
        return [
            labelled_frame(a, start + k, idx, self.energy_labels, self.stress_labels)
            for k, (a, idx) in enumerate(zip(frames, atom_indices))
        ]

    def _build(self, frames, start):
        specs, ys, kinds, scales = [], [], [], []
        for k, f in enumerate(frames):
            fc = frame_clusters(f.atoms, self._codes(f.atoms, start + k), self.r2, self.r3, start + k)
            specs += self._frame_blocks(fc, f)
            y, kind, scale = self._frame_labels(f)
            ys.append(y)
            kinds += kind
            scales += scale
        blocks = build_blocks(specs, len(self.species_))
        return blocks, np.concatenate(ys) if ys else np.zeros(0), np.array(kinds, np.int64), np.array(scales)

    # ------------------------------------------------------------------ public
    def fit(self, frames, atom_indices=None, optimize=True):
        """Train on labelled structures.

        Parameters
        ----------
        frames : list of ase.Atoms
            Labelled structures (forces; energy/stress when used).
        atom_indices : list of (array of int or None), optional
            Per frame, the atoms whose forces are labels (all by default).
        optimize : bool
            Optimise the hyperparameters (otherwise keep the initial ones).

        Returns
        -------
        self
        """
        frames = list(frames)
        if not frames:
            raise ValueError("no training data: fit() needs at least one labelled frame")
        self._reset()
        lf = self._prepare(frames, atom_indices, 0)
        if not any(len(f.force_atoms) or f.use_energy or f.use_stress for f in lf):
            raise ValueError("no training data: the frames contribute no force, energy or stress label")
        self._set_species(lf)
        self.e0_ = self._fit_e0(lf)
        t0 = time.perf_counter()
        self._blocks, self._y, self._noise_kind, self._noise_scale = self._build(lf, 0)
        self.frames_ = lf
        self.timings_["descriptors_s"] = time.perf_counter() - t0
        self.hyps_ = self._initial_hyps()
        if optimize:
            self.optimize()
        else:
            self._factorize()
        return self

    def update(self, frames, atom_indices=None):
        """Add labelled structures with the hyperparameters held fixed.

        The kernel matrix and its Cholesky factor are extended by the new
        rows only (no rebuild of the existing part).

        Parameters
        ----------
        frames : list of ase.Atoms
        atom_indices : list of (array of int or None), optional

        Returns
        -------
        self
        """
        if self.L_ is None:
            return self.fit(frames, atom_indices, optimize=False)
        frames = list(frames)
        if not frames:
            return self
        start = len(self.frames_)
        lf = self._prepare(frames, atom_indices, start)
        blocks, y, kind, scale = self._build(lf, start)
        if len(y) == 0:
            return self
        h = self.hyps_
        K12_2, K12_3 = kernel_matrix(self._blocks, blocks, h["ls2"], h["ls3"], self.use2, self.use3)
        K22_2, K22_3 = kernel_matrix(blocks, None, h["ls2"], h["ls3"], self.use2, self.use3)
        s2, s3 = h["sigma2"] ** 2, h["sigma3"] ** 2
        K12 = s2 * K12_2 + s3 * K12_3
        K22 = s2 * K22_2 + s3 * K22_3 + np.diag(self._noise(kind, scale))
        self.L_ = cholesky_append(self.L_, K12, K22)
        ls2, ls3, K2, K3 = self._K
        self._K = (ls2, ls3, np.block([[K2, K12_2], [K12_2.T, K22_2]]),
                   np.block([[K3, K12_3], [K12_3.T, K22_3]]))
        self._blocks = concat_blocks(self._blocks, blocks)
        self.frames_ += lf
        self._y = np.concatenate([self._y, y])
        self._noise_kind = np.concatenate([self._noise_kind, kind])
        self._noise_scale = np.concatenate([self._noise_scale, scale])
        self.alpha_ = cho_solve((self.L_, True), self._y)
        self.log_likelihood_ = self._loglik_from_factor()
        return self

    # ------------------------------------------------------- hyperparameters
    def _active_hyps(self):
        names = ["sigma2", "ls2"] if self.use2 else []
        names += ["sigma3", "ls3"] if self.use3 else []
        names.append("sigma_n")
        if np.any(self._noise_kind == 1):
            names.append("sigma_e")
        if np.any(self._noise_kind == 2):
            names.append("sigma_s")
        return names

    def _initial_hyps(self):
        h = {"sigma2": 1.0, "ls2": 1.0, "sigma3": 1.0, "ls3": 1.0}
        fr = self._y[self._noise_kind == 0]
        fvar = float(np.var(fr)) if len(fr) > 1 else 1.0
        fvar = fvar if fvar > 0 else 1.0
        ls2 = self.hyps.get("ls2", 1.0)
        ls3 = self.hyps.get("ls3", 1.0)
        d2, d3 = self_kernel_diag(self._blocks, ls2, ls3, self.use2, self.use3)
        frows = self._noise_kind == 0
        nb = int(self.use2) + int(self.use3)
        if frows.any():
            if self.use2:
                h["sigma2"] = float(np.sqrt(fvar / nb / max(np.mean(d2[frows]), 1e-300)))
            if self.use3:
                h["sigma3"] = float(np.sqrt(fvar / nb / max(np.mean(d3[frows]), 1e-300)))
        h.update(ls2=ls2, ls3=ls3, sigma_n=0.05 * np.sqrt(fvar), sigma_e=0.01, sigma_s=1e-3)
        for k, v in h.items():
            lo, hi = BOUNDS[k]
            h[k] = float(np.clip(v, lo * 1.01, hi / 1.01))
        h.update(self.hyps)
        return h

    def _noise(self, kind, scale):
        h = self.hyps_
        sig = np.select([kind == 0, kind == 1, kind == 2],
                        [h["sigma_n"], h["sigma_e"] * scale, h["sigma_s"]])
        return sig ** 2

    def _kernels(self, grad):
        h = self.hyps_
        key = (h["ls2"], h["ls3"])
        if not grad and self._K is not None and self._K[:2] == key:
            return self._K[2], self._K[3]
        t0 = time.perf_counter()
        out = kernel_matrix(self._blocks, None, h["ls2"], h["ls3"], self.use2, self.use3, grad=grad)
        self.timings_["kernel_s"] = self.timings_.get("kernel_s", 0.0) + time.perf_counter() - t0
        self._K = key + tuple(out[:2])
        return out

    def _ky(self, K2, K3):
        h = self.hyps_
        return h["sigma2"] ** 2 * K2 + h["sigma3"] ** 2 * K3 + np.diag(self._noise(self._noise_kind, self._noise_scale))

    def _loglik_from_factor(self):
        n = len(self._y)
        return float(-0.5 * self._y @ self.alpha_ - np.log(np.diag(self.L_)).sum()
                     - 0.5 * n * np.log(2 * np.pi))

    def _factorize(self):
        K2, K3 = self._kernels(grad=False)
        self.L_, jitter = robust_cholesky(self._ky(K2, K3))
        if jitter:
            log.warning("covariance needed diagonal jitter %.2e", jitter)
        self.alpha_ = cho_solve((self.L_, True), self._y)
        self.log_likelihood_ = self._loglik_from_factor()

    def neg_log_likelihood(self, theta, names):
        """Negative log marginal likelihood and its gradient.

        Parameters
        ----------
        theta : (p,) array
            Logarithms of the hyperparameters ``names``.
        names : list of str

        Returns
        -------
        value : float
        grad : (p,) array
            Gradient with respect to ``theta``.
        """
        for k, v in zip(names, theta):
            self.hyps_[k] = float(np.exp(v))
        h = self.hyps_
        y, kind = self._y, self._noise_kind
        K2, K3, dK2, dK3 = self._kernels(grad=True)
        noise_diag = self._noise(kind, self._noise_scale)
        try:
            L, _ = robust_cholesky(self._ky(K2, K3))
        except np.linalg.LinAlgError:
            return 1e25, np.zeros(len(theta))
        alpha = cho_solve((L, True), y)
        n = len(y)
        nll = 0.5 * y @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * np.log(2 * np.pi)
        Q = np.outer(alpha, alpha) - inverse_from_cholesky(L)
        grad = []
        for k in names:
            if k == "sigma2":
                g = np.sum(Q * K2) * 2 * h["sigma2"] ** 2
            elif k == "sigma3":
                g = np.sum(Q * K3) * 2 * h["sigma3"] ** 2
            elif k == "ls2":
                g = np.sum(Q * dK2) * h["sigma2"] ** 2 * h["ls2"]
            elif k == "ls3":
                g = np.sum(Q * dK3) * h["sigma3"] ** 2 * h["ls3"]
            else:
                code = {"sigma_n": 0, "sigma_e": 1, "sigma_s": 2}[k]
                g = np.sum(np.diag(Q) * np.where(kind == code, 2 * noise_diag, 0.0))
            grad.append(-0.5 * g)
        return float(nll), np.array(grad)

    def optimize(self, maxiter=None):
        """Maximise the log marginal likelihood over the hyperparameters.

        Returns
        -------
        scipy.optimize.OptimizeResult
        """
        names = self._active_hyps()
        x0 = np.log([self.hyps_[k] for k in names])
        bounds = [tuple(np.log(BOUNDS[k])) for k in names]
        options = {"maxiter": maxiter or self.maxiter, "gtol": self.opt_tol, "ftol": self.opt_rtol}
        t0 = time.perf_counter()
        res = minimize(self.neg_log_likelihood, x0, args=(names,), jac=True, method="L-BFGS-B",
                       bounds=bounds, options=options)
        best = res.x if np.isfinite(res.fun) else x0
        for k, v in zip(names, best):
            self.hyps_[k] = float(np.exp(v))
        self._factorize()
        self.timings_["optimize_s"] = time.perf_counter() - t0
        self.optimize_result_ = res
        log.info("hyperparameters %s, log likelihood %.4f after %d evaluations",
                 {k: round(v, 5) for k, v in self.hyps_.items()}, self.log_likelihood_, res.nfev)
        return res

    # ------------------------------------------------------------- predicting
    def _check_fitted(self):
        if self.alpha_ is None:
            raise RuntimeError("the model is not trained: call fit() first")

    def predict_all(self, atoms, return_std=True, properties=("energy", "forces", "stress"), chunk=64):
        """Predict energies, forces, stress and force uncertainties.

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
            ``forces`` (N, 3); ``force_std`` (N, 3) when ``return_std``;
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
            out["force_std"] = np.sqrt(np.clip(fvar, 0.0, None))
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

    def predict(self, atoms, return_std=False):
        """Predict forces (and their standard deviations).

        Parameters
        ----------
        atoms : ase.Atoms
        return_std : bool

        Returns
        -------
        forces : (N, 3) array
        std : (N, 3) array
            Epistemic standard deviation of each force component (only when
            ``return_std``).
        """
        res = self.predict_all(atoms, return_std=return_std, properties=("forces",))
        if return_std:
            return res["forces"], res["force_std"]
        return res["forces"]

    def calculator(self, return_std=True):
        """An ASE calculator backed by this model (energy, forces, stress,
        and ``results['force_std']``)."""
        from ..calculators import ModelCalculator
        return ModelCalculator(self, return_std=return_std)

    # ------------------------------------------------------------------- I/O
    def save(self, path):
        """Write ``path.json`` (settings, hyperparameters) and ``path.npz``
        (training frames, Cholesky factor, weights). No pickle."""
        self._check_fitted()
        meta = {
            "format": FORMAT, "version": FORMAT_VERSION,
            "cutoffs": self.cutoffs, "species": self.species_, "hyps": self.hyps_,
            "energy_labels": self.energy_labels, "stress_labels": self.stress_labels,
            "maxiter": self.maxiter, "opt_tol": self.opt_tol, "opt_rtol": self.opt_rtol,

            "e0": None if self.e0_ is None else {str(k): v for k, v in self.e0_.items()},
            "n_envs": self.n_envs_, "n_labels": self.n_labels_,
            "log_likelihood": self.log_likelihood_,
        }
        arrays = pack_frames(self.frames_)
        ls2, ls3, K2, K3 = self._K
        arrays.update(L=self.L_, alpha=self.alpha_, y=self._y, K2=K2, K3=K3,
                      K_ls=np.array([ls2, ls3]))
        return write_model(path, meta, arrays)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`."""
        meta, arrays = read_model(path, FORMAT, FORMAT_VERSION)
        e0 = None if meta["e0"] is None else {int(k): v for k, v in meta["e0"].items()}
        model = cls(cutoffs=meta["cutoffs"], species=meta["species"], hyps=meta["hyps"],
                    energy_labels=meta["energy_labels"], stress_labels=meta["stress_labels"],
                    reference_energies=e0,
                    maxiter=meta["maxiter"], opt_tol=meta["opt_tol"],
                    opt_rtol=meta.get("opt_rtol", 1e-6))
        frames = unpack_frames(arrays)
        model.species_ = list(meta["species"])
        model.e0_ = e0
        model.hyps_ = dict(meta["hyps"])
        model._blocks, model._y, model._noise_kind, model._noise_scale = model._build(frames, 0)
        model.frames_ = frames
        model._K = (float(arrays["K_ls"][0]), float(arrays["K_ls"][1]), arrays["K2"], arrays["K3"])
        model.L_ = arrays["L"]
        model.alpha_ = arrays["alpha"]
        model.log_likelihood_ = meta["log_likelihood"]
        return model

    def __repr__(self):
        state = f"{self.n_envs_} envs, {self.n_labels_} labels" if self.alpha_ is not None else "unfitted"
        return f"GaussianProcess(cutoffs={self.cutoffs}, {state})"
