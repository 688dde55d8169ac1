"""Mapped potentials: a trained 2+3-body GP tabulated as cubic B-splines.

The GP's mean local energy is a sum of a pair function ``phi2(r)`` over its
pairs and a triplet function ``phi3(r_ij, r_ik, r_jk)`` over its triplets
(Vandermause et al. 2020, Methods B; Xie et al. 2021). Both are exact
functions of distances, so they are evaluated on grids and fitted by
clamped uniform cubic B-splines: one 1-D spline per species pair, one 3-D
tensor-product spline per (centre, j, k) species triplet. Energy, forces and
stress then cost a few spline evaluations per pair and triplet.

Below the smallest distance of the training data (minus ``margin``) the GP
is extrapolating; there the mapped potential raises
:class:`OutOfRangeError` naming the atoms instead of returning a silently
wrong force.
"""

from __future__ import annotations

import time

import numpy as np

from ..neighbors import neighbor_list
from ..splines import check_knots, span_polynomials
from .mapped_kernels import NeighborArrays, SplineTables, mapped_energy_forces
from .spline_mapping import absent_pairs, absent_triplets, map_pairs, map_triplets, min_training_distance
from .storage import open_model, write_model

__all__ = ["MappedPotential", "OutOfRangeError"]

FORMAT = "alff.mapped"
FORMAT_VERSION = 1


class OutOfRangeError(ValueError):
    """Two atoms are closer than the range the splines were fitted on."""



class MappedPotential:
    """Cubic B-spline tables of a 2+3-body GP's energy.

    A :class:`~alff.models.protocol.Model` that is built from a trained GP
    (:meth:`from_model`), not fitted to data: :meth:`fit` and :meth:`update`
    raise. ``noise_`` and ``n_train_`` are the source model's. A body order
    the GP does not have (``r2`` or ``r3`` None) gets zero placeholder
    tables on valid knots, whatever is passed for it; they are never
    evaluated.

    Attributes
    ----------
    species : list of int
    r2, r3 : float or None
        2- and 3-body cutoffs (None: body order absent).
    rmin : float
        Smallest distance covered.
    t2 : (P, K2) knots; c2 : (P, K2 - 4) coefficients; pair_table : (S, S)
    t3a : (T, Ka) knots of r_ij and r_ik; t3b : (T, Kb) knots of r_jk (up to
    2 r3, the UF3 layout); c3 : (T, n_ij, n_ik, n_jk);
    trip_table : (S, S, S)
    e0 : (S,) per-species reference energies
    info : dict
        Grid settings, the minimum training distance and fit timings.
    """

    def __init__(self, species, r2, r3, rmin, t2, c2, pair_table, t3a, t3b, c3, trip_table, e0, info=None,
                 std_coeffs=None):
        self.species = [int(z) for z in species]
        self.r2 = None if r2 is None else float(r2)
        self.r3 = None if r3 is None else float(r3)
        if self.r2 is None and self.r3 is None:
            raise ValueError("a mapped potential needs a 2-body or a 3-body term (r2 and r3 are both None)")
        self.rmin = float(rmin)
        # splines of the GP std of single clusters (same knots), or None
        c2s, c3s = std_coeffs if std_coeffs is not None else (None, None)
        S = len(self.species)
        if self.r2 is None:  # absent body order: valid zero tables, never evaluated
            t2, c2, z2, pair_table = absent_pairs(S)
            c2s = None if std_coeffs is None else z2
        if self.r3 is None:
            t3a, t3b, c3, z3, trip_table = absent_triplets(S)
            c3s = None if std_coeffs is None else z3
        self.t2, self.c2, self.pair_table = t2, c2, pair_table
        self.t3a, self.t3b, self.c3, self.trip_table = t3a, t3b, c3, trip_table
        self.c2s, self.c3s = c2s, c3s
        self.e0 = np.asarray(e0, float)
        self.info = dict(info or {})
        self._tables()

    kind = "mapped"

    @property
    def noise_(self):
        return float(self.info.get("source", {}).get("noise", float("nan")))

    @property
    def n_train_(self):
        return int(self.info.get("source", {}).get("n_train", 0))

    @classmethod
    def from_config(cls, section, previous=None):
        raise TypeError("a mapped potential is built from a trained model (MappedPotential.from_model, "
                        "pipeline rule map), not from a config section")

    def fit(self, frames, atom_indices=None):
        raise TypeError("a mapped potential is not fitted to data: map a trained model (from_model)")

    def update(self, frames, atom_indices=None):
        raise TypeError("a mapped potential is not updated with data: map the updated model again")

    def describe(self):
        """Kind, the source model's training size and noise, the grid."""
        return {"kind": self.kind, "n_train": self.n_train_, "noise": self.noise_,
                "settings": {"species": self.species, "r2": self.r2, "r3": self.r3, "rmin": self.rmin,
                             "grid": self.info.get("grid")}}

    def _tables(self):
        """Per-span polynomial tables for the compiled kernel."""
        def geo(t):
            return [t[3], t[4] - t[3], len(t) - 4]

        self._g2 = np.array([geo(t) for t in self.t2], float)
        polys = [span_polynomials(t) for t in self.t2]
        self._Q2 = np.ascontiguousarray(np.stack([np.einsum("srk,sr->sk", P, self._span_coeffs(c, P.shape[0]))
                                                  for P, c in zip(polys, self.c2)]))
        self._g3a = np.array([geo(t) for t in self.t3a], float)
        self._g3b = np.array([geo(t) for t in self.t3b], float)
        self._B3a = np.ascontiguousarray(np.stack([span_polynomials(t) for t in self.t3a]))
        self._B3b = np.ascontiguousarray(np.stack([span_polynomials(t) for t in self.t3b]))
        if self.c2s is not None:
            self._Q2s = np.ascontiguousarray(np.stack([np.einsum("srk,sr->sk", P, self._span_coeffs(c, P.shape[0]))
                                                       for P, c in zip(polys, self.c2s)]))

    @staticmethod
    def _span_coeffs(c, n):
        """(n, 4) the coefficients active in each span (s - 3 ... s)."""
        out = np.zeros((n, 4))
        for s in range(3, n):
            out[s] = c[s - 3:s + 1]
        return out

    def kernel_args(self):
        """The spline tables of the energy, as
        :func:`~alff.models.mapped_kernels.mapped_energy_forces` takes them.

        Returns
        -------
        SplineTables
        """
        return SplineTables(pair_grid=self._g2, pair_poly=self._Q2, pair_table=self.pair_table,
                            r2=self.r2 if self.r2 is not None else 0.0,
                            trip_grid_ij=self._g3a, trip_basis_ij=self._B3a, trip_grid_jk=self._g3b,
                            trip_basis_jk=self._B3b, trip_coeffs=self.c3, trip_table=self.trip_table,
                            r3=self.r3 if self.r3 is not None else 0.0, use3=self.r3 is not None, rmin=self.rmin)

    # ------------------------------------------------------------ building
    @classmethod
    def from_model(cls, model, grid=None, bounds=None, margin=0.1):
        """Map a trained :class:`~alff.models.GaussianProcess`.

        Parameters
        ----------
        model : GaussianProcess
        grid : dict, optional
            ``{"twobody": h2, "threebody": h3}`` knot spacings in A (default
            0.05 and 0.1: about 60 coefficients per axis, the most a LAMMPS
            UF3 line holds); samples are taken at twice the knot density.
        bounds : dict, optional
            ``{"rmin": ...}`` lower bound of every spline (default: the
            smallest distance in the training data minus ``margin``).
        margin : float

        Returns
        -------
        MappedPotential
        """
        if not getattr(model, "mappable", False):
            raise TypeError(f"a {type(model).__name__} cannot be mapped to splines (only 2+3-body GP models)")
        model._check_fitted()
        g = {"twobody": 0.05, "threebody": 0.1}
        g.update(grid or {})
        t0 = time.perf_counter()
        dmin = min_training_distance(model)
        rmin = float((bounds or {}).get("rmin", max(0.5, dmin - margin)))
        species = list(model.species_)
        S = len(species)
        r2 = model.cutoffs.get("twobody") if model.use2 else None
        r3 = model.cutoffs.get("threebody") if model.use3 else None
        if r2 is not None and rmin >= r2 or r3 is not None and rmin >= r3:
            raise ValueError(f"bounds: rmin={rmin} is not below the cutoffs {model.cutoffs}")
        info = {"grid": g, "rmin": rmin, "min_training_distance": dmin, "margin": margin,
                "source": model.describe()}
        t2, c2, c2s, pair_table = map_pairs(model, rmin, r2, S, g["twobody"])
        info["twobody_s"] = time.perf_counter() - t0
        t3a, t3b, c3, c3s, trip_table = map_triplets(model, rmin, r3, S, g["threebody"])
        info["map_s"] = time.perf_counter() - t0
        e0 = np.array([(model.e0_ or {}).get(int(z), 0.0) for z in species])
        return cls(species, r2, r3, rmin, t2, c2, pair_table, t3a, t3b, c3, trip_table, e0, info,
                   std_coeffs=(c2s, c3s))

    # ---------------------------------------------------------- evaluation
    @property
    def cutoff(self):
        return max(r for r in (self.r2, self.r3) if r is not None)

    def codes(self, atoms):
        lookup = {z: k for k, z in enumerate(self.species)}
        try:
            return np.array([lookup[int(z)] for z in atoms.numbers], np.int64)
        except KeyError as err:
            raise ValueError(f"species Z={err.args[0]} is not in the mapped potential {self.species}") from None

    def evaluate(self, positions, numbers_codes, first, nbr, D, d):
        """Energy, per-atom energies, forces and virial from a neighbour list
        (see :func:`~alff.models.mapped_kernels.mapped_energy_forces`)."""
        n = len(numbers_codes)
        e, ea, F, W, bad = mapped_energy_forces(n, numbers_codes, NeighborArrays(first, nbr, D, d),
                                                self.kernel_args())
        if bad >= 0:
            i = int(np.searchsorted(first, bad, side="right") - 1)
            raise OutOfRangeError(
                f"atoms {i} and {int(nbr[bad])} are {d[bad]:.3f} A apart, below the mapped range "
                f"rmin={self.rmin:.3f} A (smallest training distance "
                f"{self.info.get('min_training_distance', float('nan')):.3f} A): the model has no data there")
        ea = ea + self.e0[numbers_codes]
        return e + float(self.e0[numbers_codes].sum()), ea, F, W

    def predict(self, atoms, properties=("forces",), return_std=False):
        """Energy, per-atom energies, forces and stress of ``atoms``.

        Parameters
        ----------
        atoms : ase.Atoms
        properties : tuple of str
            Accepted for the protocol; all properties cost the same one
            pass, so all are returned.
        return_std : bool
            Also an upper bound of the GP standard deviation of each local
            energy (see below).

        Returns
        -------
        dict
            ``energy``, ``energies`` (N,), ``forces`` (N, 3), ``stress`` (6,)
            Voigt (periodic cells), ``virial`` (3, 3); with ``return_std``
            ``energies_std_bound`` (N,).

        Notes
        -----
        Mapped uncertainty: the std of a sum of correlated terms is at most
        the sum of their stds (triangle inequality), so ``sum_j std(phi2)/2
        + sum_jk std(phi3)/3`` over an atom's clusters bounds the GP std of
        its local energy from above. The single-cluster stds are mapped to
        splines like the means (exact at the samples; the fit error of the
        splines is the only way the bound can be undercut).
        """
        codes = self.codes(atoms)
        i, j, D, d, _ = neighbor_list(atoms.positions, atoms.cell[:], atoms.pbc, self.cutoff)
        first = np.searchsorted(i, np.arange(len(atoms) + 1)).astype(np.int64)
        e, ea, F, W = self.evaluate(atoms.positions, codes, first, j, D, d)
        out = {"energy": e, "energies": ea, "forces": F, "virial": W}
        if return_std:
            if self.c2s is None:
                raise ValueError("this mapped potential has no uncertainty splines")
            std_tables = self.kernel_args()._replace(pair_poly=self._Q2s, trip_coeffs=self.c3s)
            _, sb, _, _, _ = mapped_energy_forces(len(atoms), codes, NeighborArrays(first, j, D, d), std_tables,
                                                  absolute=True)
            out["energies_std_bound"] = sb
        if atoms.pbc.all():
            V = atoms.get_volume()
            s = W / V
            out["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        return out

    def calculator(self, return_std=False):
        """An ASE calculator (energy, energies, forces, stress)."""
        from .calculator import ModelCalculator
        return ModelCalculator(self, return_std=return_std)

    def mapping_error(self, model, frames):
        """Force and energy differences to the source model on frames.

        Returns
        -------
        dict
            ``force_rmse``, ``force_max`` (eV/A), ``energy_mae_per_atom`` (eV)
            over the frames inside the mapped range; ``n_frames`` of them and
            ``n_out_of_range`` frames with atoms closer than ``rmin`` (left
            out: the mapped potential refuses them).
        """
        df, de = [], []
        out = 0
        for f in frames:
            try:
                m = self.predict(f)
            except OutOfRangeError:
                out += 1
                continue
            g = model.predict(f, properties=("energy", "forces"))
            df.append((m["forces"] - g["forces"]).ravel())
            de.append((m["energy"] - g["energy"]) / len(f))
        if not df:
            return {"force_rmse": None, "force_max": None, "energy_mae_per_atom": None, "n_frames": 0,
                    "n_out_of_range": out}
        df = np.concatenate(df)
        return {"force_rmse": float(np.sqrt(np.mean(df ** 2))), "force_max": float(np.abs(df).max()),
                "energy_mae_per_atom": float(np.mean(np.abs(de))), "n_frames": len(de),
                "n_out_of_range": out}

    # ------------------------------------------------------------------ I/O
    def save(self, path):
        """Write ``path.json`` (settings) and ``path.npz`` (tables)."""
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "species": self.species, "r2": self.r2,
                "r3": self.r3, "rmin": self.rmin, "e0": self.e0.tolist(), "info": self.info}
        arrays = dict(t2=self.t2, c2=self.c2, pair_table=self.pair_table, t3a=self.t3a, t3b=self.t3b, c3=self.c3,
                      trip_table=self.trip_table)
        if self.c2s is not None:
            arrays.update(c2s=self.c2s, c3s=self.c3s)
        return write_model(path, meta, arrays)

    @classmethod
    def load(cls, path):
        """Read a potential written by :meth:`save`, validated (format,
        version, cutoffs, knots, shapes, finite values); a bad file raises
        :class:`~alff.models.storage.ModelFileError` naming it."""
        mf = open_model(path, FORMAT, FORMAT_VERSION)
        species = mf.species()
        S = len(species)
        r2, r3 = mf.number("r2", positive=True, none=True), mf.number("r3", positive=True, none=True)
        if r2 is None and r3 is None:
            mf.fail("keys 'r2' and 'r3' are both null: no body order to evaluate")
        rmin = mf.number("rmin", positive=True)
        for name, rc in (("r2", r2), ("r3", r3)):
            if rc is not None and not rmin < rc:
                mf.fail(f"key 'rmin' ({rmin}) is not below the cutoff '{name}' ({rc})")
        e0 = mf.key("e0", list)
        if len(e0) != S or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
                                   for v in e0):
            mf.fail(f"key 'e0' is {e0!r}, expected {S} finite energies (one per species)")
        std = "c2s" in mf.arrays or "c3s" in mf.arrays
        a = {}
        if r2 is not None:
            P = S * (S + 1) // 2
            a["t2"] = _knot_rows(mf, "t2", (P, None), f"{S} species have {P} pair splines", rmin, r2)
            shape = (P, a["t2"].shape[1] - 4)
            why = f"'t2' has {shape[1] + 4} knots per spline"
            a["c2"] = mf.array("c2", shape, why=why)
            a["c2s"] = mf.array("c2s", shape, why=why) if std else None
            a["pair_table"] = _table(mf, "pair_table", (S, S), P)
        if r3 is not None:
            T = S ** 3
            why = f"{S} species have {T} triplet splines"
            a["t3a"] = _knot_rows(mf, "t3a", (T, None), why, rmin, r3, shared=True)
            a["t3b"] = _knot_rows(mf, "t3b", (T, None), why, rmin, 2 * r3, shared=True)
            na, nb = a["t3a"].shape[1] - 4, a["t3b"].shape[1] - 4
            why = f"'t3a' and 't3b' have {na + 4} and {nb + 4} knots"
            a["c3"] = mf.array("c3", (T, na, na, nb), why=why)
            a["c3s"] = mf.array("c3s", (T, na, na, nb), why=why) if std else None
            a["trip_table"] = _table(mf, "trip_table", (S, S, S), T)
        mf.check_pair()
        g = a.get
        return cls(species, r2, r3, rmin, g("t2"), g("c2"), g("pair_table"), g("t3a"), g("t3b"), g("c3"),
                   g("trip_table"), e0, mf.key("info", dict, {}),
                   std_coeffs=(g("c2s"), g("c3s")) if std else None)

    def __repr__(self):
        return f"MappedPotential(species={self.species}, r2={self.r2}, r3={self.r3}, rmin={self.rmin:.3f})"


def _knot_rows(mf, name, shape, why, rmin, end, shared=False):
    """Knot array ``name`` of a saved potential: one clamped uniform knot
    vector per row, from at most ``rmin`` to ``end`` (``shared``: the same
    in every row, as the compiled kernel reads only the first)."""
    t = mf.array(name, shape, why=why)
    for k, row in enumerate(t):
        try:
            check_knots(row)
        except ValueError as err:
            mf.fail(f"array '{name}', row {k}: {err}", npz=True)
        if row[0] > rmin + 1e-8 or abs(row[-1] - end) > 1e-9 * max(1.0, end):
            mf.fail(f"array '{name}', row {k}: the knots span [{row[0]}, {row[-1]}], not [rmin = {rmin} or below, "
                    f"{end}]", npz=True)
    if shared and np.any(t != t[0]):
        mf.fail(f"array '{name}': the rows differ (every triplet spline shares its knots)", npz=True)
    return t


def _table(mf, name, shape, n):
    """Species -> spline index table ``name``: entries in 0..n-1, the same
    for every permutation of the species that the spline is symmetric in."""
    t = mf.array(name, shape, "i")
    if np.any(t < 0) or np.any(t >= n):
        mf.fail(f"array '{name}' has entries outside 0..{n - 1} (the splines)", npz=True)
    if t.ndim == 2 and np.any(t != t.T):
        mf.fail(f"array '{name}' is not symmetric (one spline per unordered species pair)", npz=True)
    return t
