"""Force-constant expansion as an alff model (``model.kind: force_constants``).

The dynamic-training scheme's model (Callsen, Lee, Chou 2025): the forces
of a fixed supercell are a Taylor expansion in the displacements from its
ideal positions, to 2nd, 3rd and 4th order (cutoffs per order), linear in
the independent force constants that remain after permutation, space-group
and translational (acoustic sum rule) symmetry (:mod:`.fc_tables`, from
hiphive's cluster space). Fitted on force components by alff's Bayesian
ridge (:class:`~.bayesian_fits.BayesianRidge`: the posterior covariance is
what the Bayesian error needs, which hiphive's fitters drop).

Uncertainties, with A the (3N, P) force rows of a structure and Sigma the
posterior covariance of the parameters:

- ``forces_std`` (N, 3): sqrt(diag(A Sigma A^T)), the epistemic std of each
  force component (no label noise);
- :meth:`ForceConstantModel.bayesian_error`: one number per structure,
  eps_B = sqrt(mean over the 3N components of diag(A Sigma A^T)), the RMS
  of ``forces_std`` (the paper's sqrt(A Sigma A^T) made a scalar);
- ``noise_`` = beta^-1/2 = 1 / sqrt(alpha_), the fitted noise of a force
  component; the paper's convergence measure: RMSE^2 ~ beta^-1 + <eps_B^2>.

The energy is E_0 + sum over orders of -(1/n) F_n . u; E_0 (the ideal
supercell's energy) is the mean residual of the labelled energies after the
force fit (forces alone do not fix it). No stress: the cell is fixed.
"""

from __future__ import annotations

import logging

import numpy as np

from ..storage import open_model, write_model
from .bayesian_fits import BayesianRidge
from .fc_tables import FCTables, build_tables, cluster_space

__all__ = ["ForceConstantModel"]

log = logging.getLogger("alff.models")

FORMAT = "alff.force_constants"
FORMAT_VERSION = 1


def _atoms(reference):
    from ase import Atoms
    if isinstance(reference, Atoms):
        return reference.copy()
    if isinstance(reference, dict):  # {"system": section}: the structure of a system config section
        from ...structures import build_structure
        return build_structure(reference["system"])
    from ..structure_io import read_frames
    return read_frames(str(reference))[0]


class ForceConstantModel:
    """A force-constant expansion of one supercell fitted by Bayesian ridge.

    Parameters
    ----------
    reference : ase.Atoms, str or dict
        The ideal supercell (or an extxyz file holding it, or ``{"system":
        section}``, the structure of a system config section); MD and every
        training frame use this cell and atom order.
    cutoffs : list of float
        Cluster cutoff (A) of each order from 2 on: ``[8.0, 5.0, 5.0]`` for
        orders 2, 3 and 4 (the paper's Si).
    bayes : dict
        :class:`~.bayesian_fits.BayesianRidge` settings (``max_iter``,
        ``tol``, ``alpha_1``, ...).
    symprec : float
        Symmetry tolerance of the cluster space (spglib).
    """

    kind = "force_constants"
    compiled_md = False
    mappable = False

    def __init__(self, reference=None, cutoffs=(6.0, 4.0, 4.0), bayes=None, symprec=1e-5):
        self.reference = None if reference is None else _atoms(reference)
        self.cutoffs = [float(c) for c in cutoffs]
        if not self.cutoffs or any(not c > 0 for c in self.cutoffs):
            raise ValueError(f"model.cutoffs: one positive cutoff (A) per order from 2 on, got {cutoffs}")
        self.bayes = dict(bayes or {})
        self.symprec = float(symprec)
        self.tables = None
        self.coef_ = self.sigma_ = self.alpha_ = self.lambda_ = None
        self.energy0_ = 0.0
        self._rows, self._y, self._energy, self._u = [], [], [], []
        self._n_train = 0
        self._tensors = None

    # -------------------------------------------------------------- protocol
    @classmethod
    def from_config(cls, section, previous=None):
        if previous is not None and previous.tables is not None and "reference" not in section:
            self = cls(reference=previous.reference, **section)
            self.tables = previous.tables  # the cluster space of the same cell and cutoffs
            return self
        return cls(**section)

    @property
    def noise_(self):
        """beta^-1/2: fitted noise of a force component (eV/A)."""
        if self.alpha_ is None:
            raise RuntimeError("the force-constant model is not fitted")
        return float(1.0 / np.sqrt(self.alpha_))

    @property
    def n_train_(self):
        return self._n_train

    def _setup(self):
        if self.reference is None:
            raise ValueError("model.reference: the force-constant model needs the ideal supercell")
        if self.tables is None:
            cell = self.reference.cell
            width = cell.volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
            if max(self.cutoffs) >= 0.5 * width.min():
                raise ValueError(f"model.cutoffs {self.cutoffs}: a cutoff must be below half the supercell's "
                                 f"narrowest width ({0.5 * width.min():.2f} A), or a cluster meets its own "
                                 f"periodic image; lower it or repeat the cell (system.repeat)")
            cs = cluster_space(self.reference, self.cutoffs, self.symprec)
            self.tables = build_tables(cs, self.reference)

    def fit(self, frames, atom_indices=None):
        """Fit on labelled frames (every force of a structure: the rows of a
        structure couple all its atoms)."""
        self._setup()
        self._rows, self._y, self._energy, self._u, self._n_train = [], [], [], [], 0
        return self.update(frames, atom_indices)

    def update(self, frames, atom_indices=None):
        """Add labelled frames and refit (``atom_indices``, when given, must
        hold every atom of its frame)."""
        frames = list(frames)
        if not frames:
            raise ValueError("force-constant fit: no training frames")
        if atom_indices is not None and any(len(np.unique(i)) != len(f) for f, i in zip(frames, atom_indices)):
            raise ValueError("the force-constant model is fitted on every force of a structure, not on some "
                             "of its atoms (selector.training_atoms must give all)")
        if self.tables is None:
            self._setup()
        for k, f in enumerate(frames):
            try:
                forces = np.asarray(f.get_forces(), float)
            except Exception as err:
                raise ValueError(f"force-constant fit: frame {k} has no forces ({err})") from err
            try:
                e = float(f.get_potential_energy())
            except Exception:
                e = np.nan
            self._add(self.tables.displacements(f), forces, e)
        self._solve()
        return self

    def _add(self, u, forces, energy):
        rows = self.tables.rows(u)
        self._rows.append(rows)
        self._y.append(forces.ravel())
        self._energy.append((energy, self.tables.energy_row(rows, u)))
        self._u.append(u)
        self._n_train += len(u)

    def _solve(self):
        X = np.vstack(self._rows)
        y = np.concatenate(self._y)
        fit = BayesianRidge(**self.bayes).fit(X, y)
        self.coef_, self.sigma_ = fit.coef_, fit.sigma_
        self.alpha_, self.lambda_ = float(fit.alpha_), float(fit.lambda_)
        res = [e - row @ self.coef_ for e, row in self._energy if np.isfinite(e)]
        self.energy0_ = float(np.mean(res)) if res else 0.0
        self._tensors = self.tables.family_tensors(self.coef_)

    def _check(self):
        if self.coef_ is None:
            raise RuntimeError("the force-constant model is not fitted: call fit first")

    def predict(self, atoms, properties=("forces",), return_std=False):
        """``energy`` and ``forces``; with ``return_std`` also
        ``forces_std`` (N, 3), ``energy_std`` and ``bayesian_error``
        (posterior only, no label noise)."""
        self._check()
        if "stress" in properties or "energies" in properties:
            raise ValueError("the force-constant model gives energy and forces only (fixed cell, no site "
                             "energies)")
        u = self.tables.displacements(atoms)
        forces, e = self.tables.forces_energy(u, *self._tensors)  # the same numbers with and without std
        if not return_std:
            return {"energy": self.energy0_ + e, "forces": forces}
        rows = self.tables.rows(u)
        erow = self.tables.energy_row(rows, u)
        var = np.maximum(np.einsum("rp,pq,rq->r", rows, self.sigma_, rows), 0.0)
        return {"energy": self.energy0_ + e, "forces": forces, "forces_std": np.sqrt(var).reshape(-1, 3),
                "energy_std": float(np.sqrt(max(erow @ self.sigma_ @ erow, 0.0))),
                "bayesian_error": float(np.sqrt(var.mean()))}

    def bayesian_error(self, atoms):
        """eps_B (eV/A): RMS over the 3N force components of their
        posterior std (module docstring)."""
        return self.predict(atoms, return_std=True)["bayesian_error"]

    def describe(self):
        return {"kind": self.kind, "n_train": self.n_train_, "noise": self.noise_ if self.alpha_ else None,
                "settings": {"cutoffs": self.cutoffs, "n_parameters": None if self.tables is None
                             else self.tables.n_parameters, "bayes": self.bayes, "symprec": self.symprec}}

    def calculator(self, return_std=False):
        from ..calculator import ModelCalculator
        return ModelCalculator(self, return_std=return_std)

    # ------------------------------------------------------------------ I/O
    def save(self, path):
        self._check()
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "cutoffs": self.cutoffs, "bayes": self.bayes,
                "symprec": self.symprec, "alpha": self.alpha_, "lambda": self.lambda_, "energy0": self.energy0_,
                "n_train": self._n_train}
        # the training set travels with the model (displacements, forces, energies: its rows are rebuilt on
        # load, so a resumed run updates exactly as an uninterrupted one)
        arrays = dict(coef=self.coef_, sigma=self.sigma_, train_u=np.asarray(self._u),
                      train_forces=np.asarray(self._y), train_energy=np.asarray([e for e, _ in self._energy]),
                      **self.tables.to_arrays())
        return write_model(path, meta, arrays)

    @classmethod
    def load(cls, path):
        from ase import Atoms
        mf = open_model(path, FORMAT, FORMAT_VERSION)
        m = mf.meta
        tables = FCTables.from_arrays(mf.arrays)
        p = tables.n_parameters
        coef, sigma = mf.array("coef", (p,)), mf.array("sigma", (p, p))
        mf.check_pair()
        ref = Atoms(numbers=tables.numbers, positions=tables.reference_positions, cell=tables.cell, pbc=True)
        self = cls(reference=ref, cutoffs=m["cutoffs"], bayes=m["bayes"], symprec=m["symprec"])
        self.tables = tables
        self.coef_, self.sigma_ = coef, sigma
        for u, f, e in zip(mf.arrays["train_u"], mf.arrays["train_forces"], mf.arrays["train_energy"]):
            self._add(np.asarray(u), np.asarray(f), float(e))
        self.alpha_, self.lambda_, self.energy0_, self._n_train = m["alpha"], m["lambda"], m["energy0"], m["n_train"]
        self._tensors = tables.family_tensors(coef)
        return self
