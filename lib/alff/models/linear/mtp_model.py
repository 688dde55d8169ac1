"""The moment tensor potential as an alff model (``model.kind: mtp``).

Two modes (``mode``):

- ``linear``: the radial functions are fixed (f_mu is the mu-th Chebyshev
  function times (r_max - r)^2 for every species pair), so the model is
  linear in all its parameters (species energies and ``moment_coeffs``)
  and is fitted by (Bayesian) least squares on the weighted rows of
  :mod:`.design`. The Bayesian fits, committees and D-optimality act on
  these parameters. Fast to fit and exactly Bayesian; what the dynamic
  training and HAL schemes use.
- ``mlip``: as the MLIP package, the radial mixing coefficients are
  trained too, by nonlinear least squares with an analytic gradient
  (:mod:`.mtp_radial_fit`), on the frames of :meth:`MTPModel.fit`; then
  they are frozen and every later :meth:`~MTPModel.update` refits the
  linear coefficients only (or retrains the radial functions as well with
  ``radial_fit.every_update``, from the current radial coefficients with
  ``radial_fit.warm_start``, as the MLIP package retrains its current
  potential). Far more accurate per basis function (the
  radial functions adapt to the system); the D-optimality (MLIP) scheme's
  default. Its per-neighbourhood grade rows are the derivatives of the site
  energy with respect to all parameters at the fit (species, moment and
  radial coefficients: the linearised model, as in the MLIP paper).

Fits (``regression``): ``ridge`` (fixed ``ridge_alpha``), ``bayesian_ridge``
(evidence maximisation: noise precision ``alpha_`` and weight precision
``lambda_``, scikit-learn's names) and ``ard`` (one precision per
coefficient, pruning). The basis columns differ by orders of magnitude, so
the Bayesian fits work on columns scaled to unit RMS: the prior is
isotropic in the scaled coefficients, and coefficients and posterior
covariance are transformed back (``coef_``, ``sigma_`` are in the model's
own units).
"""

from __future__ import annotations

import numpy as np

from ..storage import open_model, write_model
from .design import WEIGHTINGS, Design, row_space, site_rows
from .mtp import MomentTensorPotential
from .mtp_basis import MomentBasis
from .regression import REGRESSIONS, fit_linear, posterior_samples
from .training_arrays import arrays_to_frames, frames_to_arrays

__all__ = ["MTPModel"]

FORMAT = "alff.mtp"
FORMAT_VERSION = 1
MODES = ("linear", "mlip")
RADIAL_FIT = {"max_iter": 200, "tol": 1e-7, "max_atoms": None, "every_update": False, "warm_start": False,
              "starts": 1, "seed": 0}


def _min_distance(frames):
    from ...neighbors import neighbor_list
    best = np.inf
    for f in frames:
        _, _, _, d, _ = neighbor_list(f.positions, f.cell[:], f.pbc, 3.5)
        if len(d):
            best = min(best, float(d.min()))
    return best


class MTPModel:
    """A linear-mode moment tensor potential fitted by (Bayesian) least
    squares.

    Parameters
    ----------
    species : list of str, optional
        Chemical symbols in type order; by default those of the first
        training frames, by atomic number.
    level : int
        lev_max of the basis (MLIP's untrained potentials: 6 ... 28).
    r_max : float
        Cutoff (A).
    r_min : float, optional
        Start of the radial basis (A); by default 0.9 times the smallest
        distance in the first training frames, rounded down to 0.05 A.
    radial_basis_size : int
        Chebyshev functions per radial function.
    n_radial : int, optional
        radial_funcs_count (MLIP's default of the level).
    regression : {'ridge', 'bayesian_ridge', 'ard'}
    weights : dict
        ``energy``, ``force``, ``stress`` (MLIP's defaults 1, 0.01, 0.001).
    weighting : {'vibrations', 'molecules', 'structures'}
    ridge_alpha : float
        Ridge penalty (``regression: ridge``), on unit-RMS columns.
    ard_threshold : float
        ARD pruning threshold of the coefficient precisions.
    mode : {'linear', 'mlip'}
        Fixed radial functions, or radial functions trained (module
        docstring).
    radial_fit : dict
        MLIP mode: ``max_iter`` (L-BFGS iterations, 200), ``tol``
        (relative loss decrease to stop, 1e-7), ``max_atoms`` (train the
        radial functions on a seeded random subset of the frames with at
        most this many atoms; None: all), ``every_update`` (retrain them at
        every update, not only at fit), ``warm_start`` (those retrainings
        start from the current radial coefficients, not the untrained
        ones), ``starts``, ``seed`` (random starts, the best kept:
        :func:`.mtp_radial_fit.fit_radial_starts`).
    """

    kind = "mtp"
    mappable = False
    compiled_md = True  # alff.md.MD runs it in the compiled loop (the validation rules use it directly)

    def __init__(self, species=None, level=16, r_max=5.0, r_min=None, radial_basis_size=8, n_radial=None,
                 regression="ridge", weights=None, weighting="vibrations", ridge_alpha=1e-8,
                 ard_threshold=1e4, mode="linear", radial_fit=None):
        if mode not in MODES:
            raise ValueError(f"model.mode must be one of {MODES}, got {mode!r}")
        unknown = set(radial_fit or {}) - set(RADIAL_FIT)
        if unknown:
            raise ValueError(f"model.radial_fit: unknown keys {sorted(unknown)} ({', '.join(RADIAL_FIT)})")
        self.mode = mode
        self.radial_fit = {**RADIAL_FIT, **(radial_fit or {})}
        self.radial_result = None
        if regression not in REGRESSIONS:
            raise ValueError(f"model.regression must be one of {REGRESSIONS}, got {regression!r}")
        if weighting not in WEIGHTINGS:
            raise ValueError(f"model.weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        w = {"energy": 1.0, "force": 0.01, "stress": 0.001}
        unknown = set(weights or {}) - set(w)
        if unknown:
            raise ValueError(f"model.weights: unknown keys {sorted(unknown)} (energy, force, stress)")
        w.update(weights or {})
        if any(v < 0 for v in w.values()):
            raise ValueError(f"model.weights must be >= 0, got {w}")
        self.species = None if species is None else list(species)
        self.level, self.r_max, self.r_min = int(level), float(r_max), None if r_min is None else float(r_min)
        self.radial_basis_size, self.n_radial = int(radial_basis_size), n_radial
        self.regression, self.weights, self.weighting = regression, w, weighting
        self.ridge_alpha, self.ard_threshold = float(ridge_alpha), float(ard_threshold)
        self.potential = None
        self.design = None
        self._active = None
        self.coef_ = self.sigma_ = None
        self.alpha_ = self.lambda_ = None
        self._n_train = 0
        self._frames, self._indices = [], []

    # -------------------------------------------------------------- protocol
    @classmethod
    def from_config(cls, section, previous=None):
        return cls(**section)

    @property
    def noise_(self):
        """Label noise of the forces (eV/A): 1 / sqrt(alpha_ * force
        weight); alpha_ is the fitted noise precision of the weighted rows
        (for ridge: the residual variance with n - p degrees of freedom)."""
        if self.alpha_ is None:
            raise RuntimeError("the MTP is not fitted")
        return float(1.0 / np.sqrt(self.alpha_ * max(self.weights["force"], 1e-300)))

    @property
    def n_train_(self):
        return self._n_train

    def _setup(self, frames):
        if self.species is None:
            from ase.data import atomic_numbers
            self.species = sorted({s for f in frames for s in f.get_chemical_symbols()}, key=atomic_numbers.get)
        if self.r_min is None:
            d = _min_distance(frames)
            if not np.isfinite(d):
                raise ValueError("model.r_min: the training frames have no pair within 3.5 A; give r_min")
            self.r_min = float(np.floor(0.9 * d / 0.05) * 0.05)
        self.potential = MomentTensorPotential.untrained(self.species, self.level, self.r_min, self.r_max,
                                                         self.radial_basis_size, self.n_radial)
        self._new_design()

    def _new_design(self):
        self.design = Design(self.potential, (self.weights["energy"], self.weights["force"], self.weights["stress"]),
                             self.weighting)
        self._n_train = 0
        self._frames, self._indices, self._saved_training = [], [], None

    def fit(self, frames, atom_indices=None):
        """Fit on labelled frames (``atom_indices[k]``: force-labelled atoms
        of frame k; energies and stresses of every frame are used)."""
        frames = list(frames)
        if not frames:
            raise ValueError("MTP fit: no training frames")
        self._setup(frames)
        if self.mode == "mlip":
            self._train_radial(frames, atom_indices)
        return self.update(frames, atom_indices)

    def _train_radial(self, frames, atom_indices):
        """MLIP mode: radial mixing coefficients by nonlinear least squares
        on ``frames`` (a seeded subset when ``radial_fit.max_atoms``)."""
        from .mtp_radial_fit import fit_radial_starts
        opts = self.radial_fit
        idx = np.arange(len(frames))
        if opts["max_atoms"] is not None:
            order = np.random.default_rng(0).permutation(len(frames))
            sizes = np.cumsum([len(frames[k]) for k in order])
            idx = np.sort(order[:max(1, int(np.searchsorted(sizes, int(opts["max_atoms"]), side="right")))])
        sub = [frames[k] for k in idx]
        sub_idx = None if atom_indices is None else [atom_indices[k] for k in idx]
        self.radial_result = fit_radial_starts(
            self.potential, sub, sub_idx, opts["starts"], opts["seed"], weights=tuple(self.design.weights),
            weighting=self.weighting, max_iter=opts["max_iter"], tol=opts["tol"], ridge_alpha=self.ridge_alpha)

    def update(self, frames, atom_indices=None):
        """Add labelled frames and refit (MLIP mode: the linear
        coefficients only, unless ``radial_fit.every_update``)."""
        frames = list(frames)
        if self.design is None and not self._restore():
            return self.fit(frames, atom_indices)
        idx = [np.arange(len(f)) for f in frames] if atom_indices is None else [np.asarray(i, int)
                                                                                  for i in atom_indices]
        if self.mode == "mlip" and self.radial_fit["every_update"] and self._frames:
            frames, idx = self._frames + frames, self._indices + idx
            if not self.radial_fit["warm_start"]:
                return self.fit(frames, idx)
            self._new_design()
            self._train_radial(frames, idx)
        self.design.add(frames, idx)
        self._frames += frames  # for the MLIP mode's grade rows (they depend on every coefficient) and the file
        self._indices += idx
        self._active = None
        self._n_train += sum(len(i) for i in idx)
        self._solve()
        return self

    def _restore(self):
        """A loaded model: the design rows of the training frames saved
        with it (updates and grades then act as on the model that was
        saved); False when the file held none."""
        training = getattr(self, "_saved_training", None)
        if not training or not training[0]:
            return False
        self._new_design()
        self.design.add(*training)
        self._frames, self._indices = list(training[0]), list(training[1])
        self._n_train = sum(len(i) for i in training[1])
        return True

    def _solve(self):
        fit = fit_linear(self.design.X, self.design.y, self.regression, self.ridge_alpha, self.ard_threshold)
        self.coef_, self.sigma_, self.alpha_, self.lambda_ = fit
        ns = len(self.species)
        self.potential.species_coeffs = self.coef_[:ns].copy()
        self.potential.moment_coeffs = self.coef_[ns:].copy()

    def _check(self):
        if self.coef_ is None:
            raise RuntimeError("the MTP is not fitted: call fit first")

    def predict(self, atoms, properties=("forces",), return_std=False):
        """Energy, site energies, forces, stress; with ``return_std`` the
        model's posterior std (no label noise) ``energy_std``,
        ``energies_std`` (N,) and ``forces_std`` (N, 3)."""
        self._check()
        out = self.potential.predict(atoms, properties)
        if return_std:
            values, grads, _, types = self.potential.features(atoms)
            ns = len(self.species)
            n = len(atoms)
            site = site_rows(values, types, ns)  # (N, P)
            tot = site.sum(axis=0)
            out["energy_std"] = float(np.sqrt(max(tot @ self.sigma_ @ tot, 0.0)))
            out["energies_std"] = np.sqrt(np.maximum(np.einsum("np,pq,nq->n", site, self.sigma_, site), 0.0))
            G = np.hstack([np.zeros((3 * n, ns)), -grads.reshape(grads.shape[0], -1).T])  # (3N, P)
            out["forces_std"] = np.sqrt(np.maximum(np.einsum("rp,pq,rq->r", G, self.sigma_, G), 0.0)).reshape(n, 3)
        return out

    def active_set(self):
        """The D-optimal active set of the training neighbourhoods (maxvol
        over the site-energy rows of every training atom), built on first
        use after a fit.

        Raises
        ------
        ValueError
            Fewer training atoms than parameters, or rows of lower rank (the
            grade needs as many independent neighbourhoods as parameters).
        """
        self._check()
        if getattr(self, "_active", None) is None:
            from .maxvol import ActiveSet
            if self.design is None and not self._restore():
                raise ValueError(f"MTP grade: this model was loaded from a file without an active set "
                                 f"({getattr(self, '_load_note', 'no training rows')}); refit it on its training "
                                 f"frames to get one")
            rows = self.design.sites
            if self.mode == "mlip":
                # d E_i / d radial coefficients at the current coefficients, per training atom
                rows = np.hstack([rows, np.vstack([self.potential.site_values(f, radial=True)[2]
                                                   for f in self._frames])])
            self._projection = row_space(rows)
            if self._projection is not None:
                rows = rows @ self._projection
            if len(rows) < rows.shape[1]:
                raise ValueError(f"MTP grade: {len(rows)} training neighbourhoods for {rows.shape[1]} parameters; "
                                 f"the active set needs at least as many")
            self._active = ActiveSet.from_rows(rows)
        return self._active

    def _evaluate_rows(self, atoms):
        """(energies, forces, stress, grade rows (N, P')) in one kernel call."""
        e, f, stress, values, types, radial = self.potential.evaluate_rows(atoms, self.mode == "mlip")
        rows = site_rows(values, types, len(self.species))
        return e, f, stress, (rows if radial is None else np.hstack([rows, radial]))

    def _projected(self, rows):
        """``rows`` mapped onto the row space of the training rows (as the
        active set holds them; the identity when they have full rank)."""
        self.active_set()
        return rows if self._projection is None else rows @ self._projection

    def grade_rows(self, atoms, projected=False):
        """(N, P') per-neighbourhood rows of D-optimality: d E_i / d
        parameters (linear mode: species and moment coefficients; MLIP
        mode: and the radial coefficients); ``projected``: mapped onto the
        row space of the training rows, as the active set holds them."""
        self._check()
        rows = self._evaluate_rows(atoms)[3]
        return self._projected(rows) if projected else rows

    def predict_graded(self, atoms):
        """:meth:`predict` (energy, energies, forces, stress) and each
        atom's extrapolation ``grade`` (N,) from one kernel call (what the
        D-optimality selector drives MD with)."""
        self._check()
        e, f, stress, rows = self._evaluate_rows(atoms)
        out = {"energy": float(e.sum()), "energies": e, "forces": f,
               "grade": self.active_set().grade(self._projected(rows))}
        if stress is not None:
            out["stress"] = stress
        return out

    def grade(self, atoms):
        """Extrapolation grade of each atom's neighbourhood (N,):
        max_j |(b A^-1)_j| against the active set; <= 1 (+ maxvol's
        tolerance) inside the training data, > 1 when extrapolating. The
        configuration's grade is the maximum. The rows are first mapped
        onto the row space of the training rows (see :func:`.design.row_space`)."""
        return self.active_set().grade(self.grade_rows(atoms, projected=True))

    def grade_matrix(self):
        """(P', r) matrix G with grade = max_j |(b G)_j| for a raw grade row
        b (:meth:`grade_rows`): the row-space map times the active set's
        inverse (what the compiled MD loop multiplies by)."""
        inv = self.active_set().inverse
        return inv if self._projection is None else self._projection @ inv

    def sample_coefficients(self, n, rng):
        """(n, P) coefficient vectors drawn from the posterior N(coef_, sigma_)
        (eigendecomposition; round-off negative eigenvalues clipped to 0)."""
        self._check()
        return posterior_samples(self.coef_, self.sigma_, n, rng)

    def committee(self, atoms, n=32, rng=None, samples=None):
        """Committee predictions of ``n`` posterior draws (or the given
        ``samples`` (K, P)).

        Returns
        -------
        dict
            ``energy`` (K,), ``forces`` (K, N, 3) of the members, and the
            posterior-mean ``energy_mean`` (float) and ``forces_mean`` (N, 3)
            (the fitted coefficients, not the committee average).
        """
        self._check()
        if samples is None:
            samples = self.sample_coefficients(n, np.random.default_rng(0) if rng is None else rng)
        values, grads, _, types = self.potential.features(atoms)
        ns = len(self.species)
        counts = np.bincount(types, minlength=ns).astype(float)
        row = np.concatenate([counts, values.sum(axis=0)])
        energy = samples @ row
        forces = -np.einsum("ka,anx->knx", samples[:, ns:], grads)
        return {"energy": energy, "forces": forces, "energy_mean": float(row @ self.coef_),
                "forces_mean": -np.einsum("a,anx->nx", self.coef_[ns:], grads)}

    def describe(self):
        return {"kind": self.kind, "n_train": self.n_train_, "noise": self.noise_ if self.alpha_ else None,
                "settings": {"species": self.species, "level": self.level, "r_min": self.r_min, "r_max": self.r_max,
                             "radial_basis_size": self.radial_basis_size,
                             "basis_size": None if self.potential is None else self.potential.basis.size,
                             "regression": self.regression, "weights": self.weights, "weighting": self.weighting,
                             "mode": self.mode}}

    def calculator(self, return_std=False):
        from ..calculator import ModelCalculator
        return ModelCalculator(self, return_std=return_std)

    def write_mtp(self, path):
        """The fitted potential as an MLIP ``.mtp`` file."""
        self._check()
        self.potential.write_mtp(path)

    # ------------------------------------------------------------------ I/O
    def save(self, path):
        self._check()
        b = self.potential.basis
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "species": self.species, "level": self.level,
                "r_min": self.r_min, "r_max": self.r_max, "radial_basis_size": self.radial_basis_size,
                "n_radial": b.n_radial, "regression": self.regression, "weights": self.weights,
                "weighting": self.weighting, "ridge_alpha": self.ridge_alpha, "ard_threshold": self.ard_threshold,
                "mode": self.mode, "radial_fit": self.radial_fit, "alpha": self.alpha_, "n_train": self._n_train,
                "alpha_moments_count": b.alpha_moments_count, "lambda": np.asarray(self.lambda_).tolist()}
        arrays = dict(coef=self.coef_, sigma=self.sigma_, radial=self.potential.radial_coeffs,
                      basic=b.alpha_index_basic, times=b.alpha_index_times, mapping=b.alpha_moment_mapping,
                      **frames_to_arrays(*(getattr(self, "_saved_training", None) or (self._frames, self._indices))))
        if self.design is not None:  # the active set travels with the model (MLIP's .als), for the grade
            try:
                active = self.active_set()
            except ValueError as err:  # too few neighbourhoods yet: saved without
                meta["no_active_set"] = str(err)
            else:
                arrays.update(active_rows=active.rows, active_ids=np.asarray(active.ids, int))
                if self._projection is not None:
                    arrays["active_projection"] = self._projection
        return write_model(path, meta, arrays)

    @classmethod
    def load(cls, path):
        mf = open_model(path, FORMAT, FORMAT_VERSION)
        m = mf.meta
        self = cls(species=m["species"], level=m["level"], r_max=m["r_max"], r_min=m["r_min"],
                   radial_basis_size=m["radial_basis_size"], n_radial=m["n_radial"], regression=m["regression"],
                   weights=m["weights"], weighting=m["weighting"], ridge_alpha=m["ridge_alpha"],
                   ard_threshold=m["ard_threshold"], mode=m.get("mode", "linear"),
                   radial_fit=m.get("radial_fit"))
        a = mf.arrays
        basis = MomentBasis(a["basic"], a["times"], a["mapping"], m["alpha_moments_count"], m["n_radial"])
        p = len(self.species) + basis.size
        coef, sigma = mf.array("coef", (p,)), mf.array("sigma", (p, p))
        mf.check_pair()
        self.potential = MomentTensorPotential(self.species, basis, self.r_min, self.r_max, a["radial"],
                                               coef[:len(self.species)], coef[len(self.species):])
        self.coef_, self.sigma_ = coef, sigma
        self._saved_training = arrays_to_frames(a)  # design rows rebuilt on first need (:meth:`_restore`)
        self.alpha_, self.lambda_, self._n_train = m["alpha"], m["lambda"], m["n_train"]
        if "active_rows" in a:
            from .maxvol import ActiveSet
            self._active = ActiveSet(a["active_rows"], a["active_ids"].tolist())
            self._projection = a["active_projection"] if "active_projection" in a else None
        self._load_note = m.get("no_active_set", "this model was saved without training rows")
        return self
