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
from scipy.linalg import cho_solve

from ..clusters import frame_clusters
from ..kernels.blocks import FORCE_ROWS, build_blocks, concat_blocks, kernel_matrix
from ..linalg import cholesky_append
from .gp_hyperparameters import BOUNDS, HYP_ORDER, HyperparameterMixin
from .gp_prediction import PredictionMixin
from .storage import check_gp_arrays, gp_settings, open_model, write_model
from .training_set import checked_frames, labelled_frame, pack_frames, reference_energies

__all__ = ["GaussianProcess", "BOUNDS", "HYP_ORDER"]

log = logging.getLogger(__name__)

FORMAT = "alff.GaussianProcess"
FORMAT_VERSION = 1


class GaussianProcess(HyperparameterMixin, PredictionMixin):
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
    optimize_first, optimize_every : int
        :meth:`update` re-optimises the hyperparameters after each of the
        first ``optimize_first`` updates and every ``optimize_every``-th
        update after that (0: never); the FLARE schedule.


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
        Number of force-trained atomic environments (also ``n_train_``).
    noise_ : float
        The force noise ``sigma_n`` (eV/A).
    n_updates_ : int
        Calls of :meth:`update` since the last :meth:`fit` (the
        re-optimisation schedule counts them).
    """

    kind = "gp"
    mappable = True  # MappedPotential.from_model tabulates it as splines

    def __init__(self, cutoffs=None, species=None, hyps=None, energy_labels=False,
                 stress_labels=False, reference_energies=None, maxiter=20, opt_tol=1e-4,
                 opt_rtol=1e-6, optimize_first=0, optimize_every=0):
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
        self.optimize_first = int(optimize_first)
        self.optimize_every = int(optimize_every)
        self._reset()

    @classmethod
    def from_config(cls, section, previous=None):
        """From a scheme's ``model`` section (kind ``gp``); the hyperparameters
        start from ``previous``'s when given (batch iterations)."""
        s = dict(section)
        kw = dict(cutoffs=s.get("cutoffs"), hyps=dict(s.get("hyps") or {}),
                  energy_labels=bool(s.get("energy_labels", False)),
                  stress_labels=bool(s.get("stress_labels", False)),
                  maxiter=int(s.get("maxiter", 20)), optimize_first=int(s.get("optimize_first", 0)),
                  optimize_every=int(s.get("optimize_every", 0)))
        if s.get("species"):
            kw["species"] = s["species"]
        if previous is not None:
            kw["hyps"] = dict(previous.hyps_)
        return cls(**kw)

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
        self.n_updates_ = 0

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

    @property
    def n_train_(self):
        return self.n_envs_

    @property
    def noise_(self):
        return float(self.hyps_["sigma_n"])

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
        self.e0_ = reference_energies(lf, self.species_, self.reference_energies)
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
        self._extend(frames, atom_indices)
        self.n_updates_ += 1
        k = self.n_updates_
        if k <= self.optimize_first or (self.optimize_every and (k - self.optimize_first) % self.optimize_every == 0):
            self.optimize()
        return self

    def _extend(self, frames, atom_indices):
        """Append frames to the kernel matrix and its Cholesky factor."""
        start = len(self.frames_)
        lf = self._prepare(frames, atom_indices, start)
        blocks, y, kind, scale = self._build(lf, start)
        if len(y) == 0:
            return
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

    def predict(self, atoms, properties=("forces",), return_std=False):
        """Predict forces (and energies, stress) with their uncertainty.

        Parameters
        ----------
        atoms : ase.Atoms
        properties : tuple of str
            Of ``forces``, ``energy``, ``energies``, ``stress``; forces are
            always computed, energies and stress only when asked.
        return_std : bool
            Also the epistemic standard deviations.

        Returns
        -------
        dict
            ``forces`` (N, 3); ``energy`` float, ``energies`` (N,) and
            ``stress`` (6,) when asked; with ``return_std`` ``forces_std``
            (N, 3) and, with energies, ``energies_std`` (N,).
        """
        return self._predict(atoms, properties=tuple(properties), return_std=return_std)

    def describe(self):
        """Kind, training size, noise and hyperparameters."""
        return {"kind": self.kind, "n_train": self.n_envs_, "noise": self.noise_,
                "settings": {"cutoffs": self.cutoffs, "hyperparameters": dict(self.hyps_),
                             "n_labels": self.n_labels_, "log_likelihood": self.log_likelihood_}}

    def calculator(self, return_std=True):
        """An ASE calculator backed by this model (energy, forces, stress,
        and ``results['forces_std']``)."""
        from .calculator import ModelCalculator
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
            "optimize_first": self.optimize_first, "optimize_every": self.optimize_every,
            "n_updates": self.n_updates_,
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
        """Read a model written by :meth:`save`, validated (format, version,
        settings, shapes, finite values, consistency of the solution with the
        training set); a bad file raises
        :class:`~alff.models.storage.ModelFileError` naming it."""
        mf = open_model(path, FORMAT, FORMAT_VERSION)
        s = gp_settings(mf, HYP_ORDER)
        try:
            model = cls(**s["init"])
        except ValueError as err:
            mf.fail(str(err))
        model.n_updates_, model.species_, model.e0_, model.hyps_ = s["n_updates"], s["species"], s["e0"], s["hyps"]
        frames = checked_frames(mf, model.species_)
        try:
            model._blocks, model._y, model._noise_kind, model._noise_scale = model._build(frames, 0)
        except ValueError as err:
            mf.fail(f"training frames: {err}", npz=True)
        model.frames_ = frames
        model.L_, model.alpha_, K2, K3, K_ls = check_gp_arrays(mf, model)
        model._K = (float(K_ls[0]), float(K_ls[1]), K2, K3)
        model.log_likelihood_ = s["log_likelihood"]
        mf.check_pair()
        return model

    def __repr__(self):
        state = f"{self.n_envs_} envs, {self.n_labels_} labels" if self.alpha_ is not None else "unfitted"
        return f"GaussianProcess(cutoffs={self.cutoffs}, {state})"
