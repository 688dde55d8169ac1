"""Weighted least-squares design of a linear model from labelled frames.

Columns: the per-species energies (one per species: the count of that
species in the frame) followed by the model's basis functions, so

    E = sum_s n_s e_s + sum_a theta_a sum_i B_a(i).

Rows per frame, each multiplied by the square root of its weight (so an
ordinary or Bayesian least-squares fit of ``X c = y`` minimises the weighted
loss):

- one energy row (target E, eV);
- 3 rows per force-labelled atom (target F, eV/A): minus the position
  derivatives;
- 6 virial rows for periodic cells with a stress label (target
  stress x volume, eV, Voigt xx yy zz yz xz xy): MLIP fits the virial, not
  the stress, so the weight is per eV.

Weights are the MLIP package's (``mlp train`` defaults: energy 1, force
0.01, stress 0.001) with its scalings by the number of atoms N of a frame
(``weighting``): ``vibrations`` (MLIP's default) divides the energy and
stress weights by N, ``molecules`` leaves them, ``structures`` divides the
energy and stress weights by N^2 and the force weight by N (every frame
counts the same, energies per atom).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Design", "design_rows", "site_rows", "row_space", "frame_weights", "WEIGHTINGS"]

WEIGHTINGS = ("vibrations", "molecules", "structures")
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def frame_weights(n_atoms, energy=1.0, force=0.01, stress=0.001, weighting="vibrations"):
    """(energy, force, stress) weights of one frame of ``n_atoms`` atoms."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    n = float(n_atoms)
    if weighting == "vibrations":
        return energy / n, force, stress / n
    if weighting == "molecules":
        return energy, force, stress
    return energy / n ** 2, force / n, stress / n ** 2


def _labels(atoms):
    """Energy, forces, stress of a labelled frame (None where absent)."""
    calc = atoms.calc
    res = getattr(calc, "results", {}) if calc is not None else {}
    e = res.get("energy", res.get("free_energy"))
    f = res.get("forces")
    for key in ("forces", "force"):  # extended XYZ files name the array either way
        if f is None and key in atoms.arrays:
            f = atoms.arrays[key]
    s = res.get("stress")
    if s is not None:
        s = np.asarray(s, float)
        if s.shape == (3, 3):
            s = np.array([s[a, b] for a, b in VOIGT])
    return e, f, s


def design_rows(model, atoms, atom_indices=None, weights=(1.0, 0.01, 0.001), weighting="vibrations", frame=0,
                return_sites=False):
    """Weighted rows of one labelled frame.

    Parameters
    ----------
    model : object with ``features(atoms)`` and ``species``
        E.g. :class:`~alff.models.linear.mtp.MomentTensorPotential`.
    atoms : ase.Atoms
        Labelled (energy; forces and stress where present).
    atom_indices : array of int, optional
        Force-labelled atoms (all by default).
    weights : (energy, force, stress)
    weighting : str
        See the module docstring.
    frame : int
        Index reported in errors.
    return_sites : bool
        Also return the frame's :func:`site_rows`.

    Returns
    -------
    X : (R, n_species + S) float array
    y : (R,) float array
    kind : (R,) array of str
        ``energy``, ``force`` or ``virial`` per row.
    """
    e, f, s = _labels(atoms)
    if e is None:
        raise ValueError(f"training frame {frame} has no energy label")
    values, grads, virials, types = model.features(atoms)
    ns, n = len(model.species), len(atoms)
    we, wf, ws = frame_weights(n, *weights, weighting=weighting)
    rows, targets, kinds = [], [], []
    counts = np.bincount(types, minlength=ns).astype(float)
    rows.append(np.concatenate([counts, values.sum(axis=0)]) * np.sqrt(we))
    targets.append(float(e) * np.sqrt(we))
    kinds.append("energy")
    if f is not None and wf > 0:
        idx = np.arange(n) if atom_indices is None else np.asarray(atom_indices, int)
        f = np.asarray(f, float)
        g = -grads[:, idx, :].reshape(grads.shape[0], -1).T  # (3 n_idx, S)
        rows.append(np.hstack([np.zeros((len(g), ns)), g]) * np.sqrt(wf))
        targets.append(f[idx].reshape(-1) * np.sqrt(wf))
        kinds += ["force"] * len(g)
    if s is not None and ws > 0 and atoms.pbc.all():
        vol = atoms.get_volume()
        w = np.array([virials[:, a, b] for a, b in VOIGT])  # (6, S)
        rows.append(np.hstack([np.zeros((6, ns)), w]) * np.sqrt(ws))
        targets.append(s * vol * np.sqrt(ws))
        kinds += ["virial"] * 6
    X = np.vstack([np.atleast_2d(r) for r in rows])
    y = np.concatenate([np.atleast_1d(t) for t in targets])
    bad = ~np.isfinite(y)
    if bad.any():
        raise ValueError(f"training frame {frame} has non-finite {kinds[int(np.argmax(bad))]} labels")
    if return_sites:
        return X, y, np.array(kinds), site_rows(values, types, ns)
    return X, y, np.array(kinds)


def site_rows(values, types, n_species):
    """(N, n_species + S) unweighted rows of the site energies: the
    derivatives of E_i with respect to the parameters (the rows of
    per-neighbourhood D-optimality)."""
    onehot = np.zeros((len(types), n_species))
    onehot[np.arange(len(types)), types] = 1.0
    return np.hstack([onehot, values])


def row_space(rows, rtol=1e-9):
    """(P, r) map of rows onto an orthonormal basis of their row space
    (columns scaled to unit RMS first, singular values below ``rtol`` times
    the largest dropped), or None when the rows have full rank P (then
    :meth:`.MTPModel.active_set` holds the rows as they are).

    The MLIP mode's rows (d E_i / d all parameters) are exactly linearly
    dependent: each basis function is a homogeneous polynomial of the
    radial coefficients, so c . dE_i/dc = sum_a xi_a deg_a B_a(i) for every
    neighbourhood (Euler), and the active set of the raw rows would be
    singular. In the linear mode, one species' basis has exactly dependent
    functions from level 16 on (one at level 16), and few or symmetric
    training neighbourhoods leave others unexcited. The grade is invariant under an invertible map of the
    columns, so it is computed in these coordinates; directions no training
    row spans (the symmetry directions) are dropped.
    """
    scale = np.sqrt(np.mean(rows ** 2, axis=0))
    scale[scale == 0] = 1.0
    _, sv, vt = np.linalg.svd(rows / scale, full_matrices=False)
    keep = sv > rtol * sv[0]
    if keep.all():
        return None  # full rank: the active set works on the rows as they are
    return vt[keep].T / scale[:, None]


class Design:
    """Rows of many frames, kept so that adding frames does not recompute
    the old ones.

    Attributes
    ----------
    X : (R, P) float array
    y : (R,) float array
    kind : (R,) str array
    frame : (R,) int array
        Frame of each row.
    """

    def __init__(self, model, weights=(1.0, 0.01, 0.001), weighting="vibrations"):
        self.model = model
        self.weights = tuple(float(w) for w in weights)
        self.weighting = weighting
        frame_weights(1, *self.weights, weighting=weighting)  # validates
        self._X, self._y, self._k, self._f, self._s = [], [], [], [], []
        self.n_frames = 0

    def add(self, frames, atom_indices=None):
        """Append the rows of ``frames``; returns self."""
        for k, atoms in enumerate(frames):
            idx = None if atom_indices is None else atom_indices[k]
            X, y, kind, sites = design_rows(self.model, atoms, idx, self.weights, self.weighting, frame=self.n_frames,
                                            return_sites=True)
            self._s.append(sites)
            self._X.append(X)
            self._y.append(y)
            self._k.append(kind)
            self._f.append(np.full(len(y), self.n_frames))
            self.n_frames += 1
        return self

    @property
    def X(self):
        return np.vstack(self._X)

    @property
    def y(self):
        return np.concatenate(self._y)

    @property
    def kind(self):
        return np.concatenate(self._k)

    @property
    def sites(self):
        """(sum N, P) site-energy rows of every frame, in order."""
        return np.vstack(self._s)

    @property
    def frame(self):
        return np.concatenate(self._f)
