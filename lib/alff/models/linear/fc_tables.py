"""Cluster tables of a force-constant expansion on one supercell.

hiphive (MIT; the field's tool for force-constant cluster spaces) builds the
cluster space of the primitive cell: the orbits of clusters up to each
order's cutoff, their eigentensors under the space group and permutations,
and the constraint map from eigentensor coefficients to the independent
parameters (acoustic sum rules). :func:`build_tables` maps it onto a
supercell once (hiphive's ``ForceConstantModel``) and keeps only arrays; the
design rows and forces are then numba kernels (:mod:`.fc_kernels`), which
are checked against hiphive's own fit matrix in the tests. hiphive's fit
matrix builds the rows in a Python loop over orientation families and
eigentensors (~0.3 s for a 54-atom cell), too slow for every MD step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .fc_kernels import COL0, NET, ORDER, family_forces, raw_rows

__all__ = ["FCTables", "build_tables", "cluster_space"]

log = logging.getLogger("alff.models")

ARRAYS = ("families", "positions", "prefactors", "clusters", "eigentensors", "constraints", "parameter_orders",
          "reference_positions", "cell", "numbers")


def cluster_space(primitive, cutoffs, symprec=1e-5):
    """hiphive's cluster space of ``primitive`` (ase.Atoms) with
    ``cutoffs`` (A) for orders 2, 3, ... (a list, one per order)."""
    import contextlib
    import io

    from hiphive import ClusterSpace
    text = io.StringIO()
    hp = logging.getLogger("hiphive")  # hiphive logs its summary to stdout: into alff's log at debug level
    level, hp.level = hp.level, logging.WARNING
    try:
        with contextlib.redirect_stdout(text):
            cs = ClusterSpace(primitive, [float(c) for c in cutoffs], symprec=symprec)
    finally:
        hp.setLevel(level)
    log.debug("hiphive cluster space:\n%s%s", text.getvalue(), cs)
    return cs


@dataclass
class FCTables:
    """The arrays of :mod:`.fc_kernels` for one supercell.

    Attributes
    ----------
    families, positions, prefactors, clusters, eigentensors
        Kernel tables (:mod:`.fc_kernels`).
    constraints : (n_raw, P) float64
        Eigentensor coefficients per independent parameter (hiphive's
        constraint vectors).
    parameter_orders : (P,) int64
        Order of each parameter.
    reference_positions : (N, 3), cell : (3, 3), numbers : (N,)
        The ideal supercell the displacements are taken from.
    """

    families: np.ndarray
    positions: np.ndarray
    prefactors: np.ndarray
    clusters: np.ndarray
    eigentensors: np.ndarray
    constraints: np.ndarray
    parameter_orders: np.ndarray
    reference_positions: np.ndarray
    cell: np.ndarray
    numbers: np.ndarray

    @property
    def n_parameters(self):
        return self.constraints.shape[1]

    @property
    def orders(self):
        return np.unique(self.parameter_orders).astype(np.int64)

    def to_arrays(self, prefix="fc_"):
        return {prefix + k: getattr(self, k) for k in ARRAYS}

    @classmethod
    def from_arrays(cls, arrays, prefix="fc_"):
        return cls(**{k: np.asarray(arrays[prefix + k]) for k in ARRAYS})

    def displacements(self, atoms):
        """(N, 3) displacements of ``atoms`` from the reference supercell
        (minimum image in its cell).

        Raises
        ------
        ValueError
            ``atoms`` is not this supercell (atom count, species order or
            cell differ).
        """
        if len(atoms) != len(self.numbers) or not np.array_equal(atoms.numbers, self.numbers):
            raise ValueError(f"the force-constant model's supercell has {len(self.numbers)} atoms "
                             f"({_formula(self.numbers)}); got {len(atoms)} ({atoms.get_chemical_formula()}) "
                             f"in the same order")
        if not np.allclose(atoms.cell[:], self.cell, atol=1e-6):
            raise ValueError("the force-constant model is defined on a fixed cell; this structure's cell differs "
                             "from the reference supercell's")
        d = atoms.positions - self.reference_positions
        frac = np.linalg.solve(self.cell.T, d.T).T
        frac -= np.round(frac)
        return frac @ self.cell

    def rows(self, u):
        """(3N, P) force rows: F.ravel() = rows @ parameters."""
        n_raw = self.constraints.shape[0]
        raw = raw_rows(u, self.families, self.positions, self.prefactors, self.clusters, self.eigentensors, n_raw)
        return raw @ self.constraints

    def energy_row(self, rows, u):
        """(P,) energy row of the displacement part: E - E_0 = row @
        parameters (order n: ``-(1/n) sum F_n . u``)."""
        return -(rows * u.reshape(-1, 1)).sum(axis=0) / self.parameter_orders

    def family_tensors(self, parameters):
        """The fitted tensor of every family (flat) and their offsets."""
        coef = self.constraints @ np.asarray(parameters, float)
        sizes = 3 ** self.families[:, ORDER]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        out = np.zeros(int(sizes.sum()))
        et = 0
        for f, (col0, n_et, size) in enumerate(zip(self.families[:, COL0], self.families[:, NET], sizes)):
            block = self.eigentensors[et:et + n_et * size].reshape(n_et, size)
            out[offsets[f]:offsets[f] + size] = coef[col0:col0 + n_et] @ block
            et += n_et * size
        return out, offsets

    def forces_energy(self, u, tensors, offsets):
        """Forces (N, 3) and the displacement energy (eV) from
        :meth:`family_tensors`."""
        f, e = family_forces(u, self.families, self.positions, self.prefactors, self.clusters, tensors, offsets,
                             self.orders)
        return f, float(e.sum())


def _formula(numbers):
    from ase import Atoms
    return Atoms(numbers=numbers).get_chemical_formula()


def build_tables(cs, supercell, fcm=None):
    """:class:`FCTables` of cluster space ``cs`` on ``supercell`` (ideal
    positions; ase.Atoms); ``fcm``: hiphive's ``ForceConstantModel`` of the
    two, when already built.

    Raises
    ------
    ValueError
        A cutoff reaches half the supercell (a cluster would meet its own
        periodic image): hiphive's message, with the cutoffs.
    """
    from hiphive.force_constant_model import ForceConstantModel
    try:
        fcm = ForceConstantModel(supercell, cs) if fcm is None else fcm
    except Exception as err:  # hiphive raises a bare Exception for clusters in two orbits
        raise ValueError(f"the force-constant cutoffs do not fit the supercell "
                         f"(cell lengths {np.round(supercell.cell.lengths(), 2).tolist()} A): {err}") from err
    fams, pos, pref, clusters, ets = [], [], [], [], []
    col0 = et_off = 0
    for orbit in fcm.orbits:
        n_et = len(orbit.eigentensors)
        npos = len(orbit.positions)
        for of in orbit.orientation_families:
            if n_et == 0:
                continue
            fams.append([orbit.order, npos, col0, n_et, et_off, len(clusters), len(of.cluster_indices)])
            pos.append(list(orbit.positions) + [0] * (4 - npos))
            pref.append(list(orbit.prefactors) + [0.0] * (4 - npos))
            for ci in of.cluster_indices:
                cl = list(fcm.cluster_list[ci])
                clusters.append(cl + [-1] * (4 - len(cl)))
            for et in of.eigentensors:
                ets.append(np.asarray(et, float).ravel())
            et_off += n_et * 3 ** orbit.order
        col0 += n_et
    constraints = cs._cvs.toarray()  # hiphive's constraint vectors (eigentensor coefficients per parameter)
    if constraints.shape[0] != col0:
        raise RuntimeError(f"hiphive's constraint map has {constraints.shape[0]} rows for {col0} eigentensors")
    orders = np.zeros(constraints.shape[1], np.int64)
    for order in cs.cutoffs.orders:
        orders[cs.get_parameter_indices(order)] = order
    t = FCTables(np.asarray(fams, np.int64).reshape(-1, 7), np.asarray(pos, np.int64).reshape(-1, 4),
                 np.asarray(pref, float).reshape(-1, 4), np.asarray(clusters, np.int64).reshape(-1, 4),
                 np.concatenate(ets) if ets else np.zeros(0), constraints, orders,
                 supercell.positions.copy(), supercell.cell[:].copy(), supercell.numbers.copy())
    log.info("force-constant tables: %d atoms, %d clusters in %d orientation families, %d parameters (%s)",
             len(supercell), len(t.clusters), len(t.families), t.n_parameters,
             ", ".join(f"order {o}: {int((orders == o).sum())}" for o in t.orders))
    return t
