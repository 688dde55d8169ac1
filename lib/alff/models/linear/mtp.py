"""The moment tensor potential (MTP) of the MLIP package, evaluated in numba.

E = sum_i [ species_coeffs[t_i] + sum_a moment_coeffs[a] B_a(i) ], with the
basis B_a of :mod:`.mtp_basis` and the radial functions of
:mod:`.mtp_kernels`. Reads and writes the MLIP package's ``.mtp`` files, so
a potential trained by MLIP-2/3 runs here and one fitted here runs in
LAMMPS through the MLIP interface.
"""

from __future__ import annotations

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from ...neighbors import neighbor_list
from .mlip_files import read_mtp_file, write_mtp_file
from .mtp_basis import MomentBasis, build_basis
from .mtp_kernels import (MTPBasisArrays, MTPNeighbors, MTPRadial, mtp_energy_forces, mtp_features,
                          mtp_site_energy_forces, neighbor_offsets)
from .mtp_monomials import monomials

__all__ = ["MomentTensorPotential", "read_mtp", "MTPInputError"]


class MTPInputError(ValueError):
    """A structure the MTP cannot evaluate (unknown species, atoms closer
    than r_min); the message names the atoms."""


def _symbols(species):
    out = []
    for s in species:
        if isinstance(s, (int, np.integer)):
            if not 0 < int(s) < len(chemical_symbols):
                raise ValueError(f"MTP species: no element with atomic number {s}")
            out.append(chemical_symbols[int(s)])
        elif isinstance(s, str) and s in atomic_numbers:
            out.append(s)
        else:
            raise ValueError(f"MTP species: {s!r} is not a chemical symbol")
    if len(set(out)) != len(out):
        raise ValueError(f"MTP species listed twice: {out}")
    if not out:
        raise ValueError("MTP species: the list is empty")
    return out


class MomentTensorPotential:
    """A moment tensor potential with given coefficients.

    Parameters
    ----------
    species : sequence of str or int
        Chemical symbols (or atomic numbers) in type order.
    basis : MomentBasis
    r_min, r_max : float
        Radial basis interval (A); r_max is the cutoff.
    radial_coeffs : (n_species, n_species, n_radial, radial_basis_size) array
        Mixing of the Chebyshev functions into f_mu per (centre, neighbour)
        species pair.
    species_coeffs : (n_species,) array
    moment_coeffs : (S,) array
    scaling : float
        Factor of the radial functions (MLIP's ``scaling``).
    """

    def __init__(self, species, basis, r_min, r_max, radial_coeffs, species_coeffs=None, moment_coeffs=None,
                 scaling=1.0):
        self.species = _symbols(species)
        if not isinstance(basis, MomentBasis):
            raise TypeError(f"basis must be a MomentBasis, got {type(basis).__name__}")
        self.basis = basis
        self.r_min, self.r_max, self.scaling = float(r_min), float(r_max), float(scaling)
        if not 0 <= self.r_min < self.r_max:
            raise ValueError(f"MTP radial interval needs 0 <= r_min < r_max, got r_min={r_min}, r_max={r_max}")
        ns = len(self.species)
        rc = np.asarray(radial_coeffs, float)
        if rc.ndim != 4 or rc.shape[:3] != (ns, ns, basis.n_radial):
            raise ValueError(f"radial_coeffs has shape {rc.shape}, expected ({ns}, {ns}, {basis.n_radial}, size)")
        self.radial_coeffs = np.ascontiguousarray(rc)
        self.species_coeffs = np.zeros(ns) if species_coeffs is None else np.asarray(species_coeffs, float)
        self.moment_coeffs = np.zeros(basis.size) if moment_coeffs is None else np.asarray(moment_coeffs, float)
        if self.species_coeffs.shape != (ns,):
            raise ValueError(f"species_coeffs has shape {self.species_coeffs.shape}, expected ({ns},)")
        if self.moment_coeffs.shape != (basis.size,):
            raise ValueError(f"moment_coeffs has shape {self.moment_coeffs.shape}, expected ({basis.size},)")

    # ---------------------------------------------------------------- build
    @classmethod
    def untrained(cls, species, level, r_min, r_max, radial_basis_size=8, n_radial=None, scaling=1.0):
        """A generated basis of ``level`` with the linear-mode radial
        functions and zero coefficients.

        One species: f_mu is the mu-th Chebyshev function. Several: the
        same plus a fixed pseudo-random mixing of every Chebyshev function,
        different for each (centre, neighbour) species pair (uniform in
        [-0.5, 0.5], seeded by the species count: the same model every
        time), so that a neighbourhood's moments depend on its neighbours'
        species (with one f_mu for every pair the basis would see geometry
        only, and an alloy's orderings would all look alike); the MLIP
        package also starts its radial coefficients from random values."""
        basis = build_basis(level, n_radial)
        size = int(radial_basis_size)
        if size < basis.n_radial:
            raise ValueError(f"radial_basis_size {size} < radial_funcs_count {basis.n_radial}")
        ns = len(_symbols(species))
        rc = np.zeros((ns, ns, basis.n_radial, size))
        if ns > 1:
            rc += np.random.default_rng(1000 + ns).uniform(-0.5, 0.5, rc.shape)
        for mu in range(basis.n_radial):
            rc[:, :, mu, mu] += 1.0
        return cls(species, basis, r_min, r_max, rc, scaling=scaling)

    @classmethod
    def from_mtp(cls, path, species):
        """Read an MLIP ``.mtp`` file; ``species`` are the chemical symbols
        of its types 0, 1, ... (the file does not name them)."""
        f = read_mtp_file(path)
        species = _symbols(species)
        if len(species) != f["species_count"]:
            raise ValueError(f"{path}: species_count = {f['species_count']} but {len(species)} species given "
                             f"({species})")
        basis = MomentBasis(f["alpha_index_basic"], f["alpha_index_times"], f["alpha_moment_mapping"],
                            f["alpha_moments_count"], f["radial_funcs_count"])
        rc = f["radial_coeffs"]
        if rc is None:  # an untrained potential: the linear-mode radial functions
            rc = np.zeros((len(species), len(species), f["radial_funcs_count"], f["radial_basis_size"]))
            for mu in range(min(f["radial_funcs_count"], f["radial_basis_size"])):
                rc[:, :, mu, mu] = 1.0
        return cls(species, basis, f["min_dist"], f["max_dist"], rc, f["species_coeffs"], f["moment_coeffs"],
                   f["scaling"])

    def write_mtp(self, path):
        """Write the potential as an MLIP ``.mtp`` file (species in
        :attr:`species` order)."""
        b = self.basis
        write_mtp_file(path, {
            "species_count": len(self.species), "potential_tag": "", "scaling": self.scaling,
            "min_dist": self.r_min, "max_dist": self.r_max, "radial_basis_size": self.radial_basis_size,
            "radial_funcs_count": b.n_radial, "radial_coeffs": self.radial_coeffs,
            "alpha_moments_count": b.alpha_moments_count, "alpha_index_basic": b.alpha_index_basic,
            "alpha_index_times": b.alpha_index_times, "alpha_moment_mapping": b.alpha_moment_mapping,
            "species_coeffs": self.species_coeffs, "moment_coeffs": self.moment_coeffs})

    @property
    def radial_basis_size(self):
        return self.radial_coeffs.shape[3]

    # ----------------------------------------------------------- evaluation
    def types(self, atoms):
        """(N,) type index of each atom; MTPInputError for an unknown species."""
        index = {s: k for k, s in enumerate(self.species)}
        symbols = atoms.get_chemical_symbols()
        bad = sorted({s for s in symbols if s not in index})
        if bad:
            which = [a for a, s in enumerate(symbols) if s in bad][:5]
            raise MTPInputError(f"species {bad} (atoms {which}) not in the MTP's species {self.species}")
        return np.array([index[s] for s in symbols], np.int64)

    def neighbors(self, atoms, check=True):
        """Neighbour arrays (first, j, D, d) within r_max.

        Raises
        ------
        MTPInputError
            Two atoms closer than r_min (``check``): the radial basis is
            not defined there.
        """
        i, j, D, d, _ = neighbor_list(atoms.positions, atoms.cell[:], atoms.pbc, self.r_max)
        if check and len(d) and d.min() < self.r_min:
            k = int(np.argmin(d))
            raise MTPInputError(f"atoms {int(i[k])} and {int(j[k])} are {d[k]:.3f} A apart, closer than the MTP's "
                                f"r_min = {self.r_min:g} A")
        return neighbor_offsets(i, len(atoms)), np.ascontiguousarray(j), np.ascontiguousarray(D), d

    def kernel_tables(self):
        """(MTPBasisArrays, MTPRadial): the basis with its direction
        monomials (computed once per basis) and the radial functions, as
        the numba kernels take them."""
        b = self.basis
        if getattr(self, "_mono_basic", None) is not b.alpha_index_basic:  # the monomials of this basis, once
            self._mono = monomials(b.alpha_index_basic)
            self._mono_basic = b.alpha_index_basic
        basis = MTPBasisArrays(np.ascontiguousarray(b.alpha_index_basic, np.int64),
                               np.ascontiguousarray(b.alpha_index_times, np.int64),
                               np.ascontiguousarray(b.alpha_moment_mapping, np.int64), int(b.alpha_moments_count),
                               *self._mono)
        return basis, MTPRadial(np.ascontiguousarray(self.radial_coeffs, float), self.r_min, self.r_max,
                                self.scaling)

    def _kernel_args(self, atoms, check):
        """(MTPNeighbors, MTPBasisArrays, MTPRadial) of ``atoms``."""
        nbr = MTPNeighbors(*self.neighbors(atoms, check), self.types(atoms))
        return (nbr, *self.kernel_tables())

    def evaluate(self, atoms, check=True):
        """Site energies (N,), forces (N, 3) and stress (6,) Voigt eV/A^3
        (None for a non-periodic cell) of ``atoms``."""
        e, f, w = mtp_energy_forces(*self._kernel_args(atoms, check), self.species_coeffs, self.moment_coeffs)
        return e, f, self._stress(atoms, w)

    @staticmethod
    def _stress(atoms, w):
        if not atoms.pbc.all():
            return None
        s = w / atoms.get_volume()
        return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])

    def evaluate_rows(self, atoms, radial=False, check=True):
        """:meth:`evaluate` and the site rows' parts in one kernel call.

        Returns
        -------
        energies : (N,) float array
        forces : (N, 3) float array
        stress : (6,) float array or None
        values : (N, S) float array
            Basis values B_a(i).
        types : (N,) int array
        radial_rows : (N, radial_coeffs.size) float array or None
            With ``radial``: d E_i / d radial coefficients in the order of
            ``radial_coeffs.reshape(-1)`` (nonzero only in the block of the
            site's own species).
        """
        nbr, basis, rad = self._kernel_args(atoms, check)
        n, shape = len(atoms), self.radial_coeffs.shape
        values = np.zeros((n, basis.mapping.shape[0]))
        rows = np.zeros((n if radial else 0,) + shape[1:])
        e, f, w = mtp_site_energy_forces(nbr, basis, rad, self.species_coeffs, self.moment_coeffs, values, rows)
        full = None
        if radial:
            full = np.zeros((n,) + shape)
            full[np.arange(n), nbr.types] = rows
            full = full.reshape(n, -1)
        return e, f, self._stress(atoms, w), values, nbr.types, full

    def site_values(self, atoms, check=True, radial=False):
        """Basis values B_a(i) (N, S) and types (N,) (and with ``radial``
        the radial rows) of :meth:`evaluate_rows`."""
        out = self.evaluate_rows(atoms, radial, check)[3:]
        return out if radial else out[:2]

    def features(self, atoms, check=True):
        """Basis values and derivatives for linear fits.

        Returns
        -------
        values : (N, S) float array
            B_a(i).
        grads : (S, N, 3) float array
            d (sum_i B_a(i)) / d r_k.
        virials : (S, 3, 3) float array
            Strain derivatives of sum_i B_a(i) (eV per unit coefficient).
        types : (N,) int array
        """
        nbr, basis, rad = self._kernel_args(atoms, check)
        v, g, w = mtp_features(nbr, basis, rad)
        return v, g, w, nbr.types

    def predict(self, atoms, properties=("forces",), return_std=False):
        """Energy, site energies, forces and (periodic cells) stress."""
        e, f, s = self.evaluate(atoms)
        out = {"energy": float(e.sum()), "energies": e, "forces": f}
        if s is not None:
            out["stress"] = s
        return out


def read_mtp(path, species):
    """A potential from an MLIP ``.mtp`` file (``species``: chemical symbols
    in the file's type order)."""
    return MomentTensorPotential.from_mtp(path, species)
