"""Harmonic phonons of a model and of the oracle by the same finite
displacements (phonopy): dispersion along the crystal's special path, the
density of states, and the supercell force constants.

phonopy is the field's standard for this (symmetry-reduced displacements,
force-constant symmetrisation, the dynamical matrix with the images of
boundary atoms weighted, DOS on a mesh); both sides go through its one
pipeline, so their difference is the model's alone. Central differences
(plus and minus) cancel the 3rd-order terms of the forces: what remains is
the harmonic part plus O(h^2).
"""

from __future__ import annotations

import numpy as np

__all__ = ["phonon_setup", "order_map", "finite_displacement_fc", "dispersion", "total_dos"]


def _phonopy_atoms(atoms):
    from phonopy.structure.atoms import PhonopyAtoms
    return PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell[:], positions=atoms.positions)


def _ase_atoms(ph_atoms, pbc=True):
    from ase import Atoms
    return Atoms(symbols=ph_atoms.symbols, cell=ph_atoms.cell, positions=ph_atoms.positions, pbc=pbc)


def phonon_setup(unit_cell, repeat, symprec=1e-5):
    """A phonopy object of ``unit_cell`` in the supercell ``repeat``.

    Parameters
    ----------
    unit_cell : ase.Atoms
        The cell the supercell repeats (e.g. the 8-atom conventional diamond
        cell); the primitive cell is found by phonopy (``auto``).
    repeat : (3,) ints
    """
    import warnings

    from phonopy import Phonopy
    with warnings.catch_warnings():  # phonopy 4 notes that "auto" became its default: it is asked for here
        warnings.simplefilter("ignore")
        return Phonopy(_phonopy_atoms(unit_cell), supercell_matrix=np.diag([int(r) for r in repeat]),
                       primitive_matrix="auto", symprec=symprec)


def order_map(supercell, reference, tol=1e-3):
    """Index of each of phonopy's supercell atoms in ``reference``.

    Parameters
    ----------
    supercell : ase.Atoms
        phonopy's ideal supercell.
    reference : ase.Atoms
        The same structure in another atom order (a model's reference cell).

    Returns
    -------
    (N,) int array
        ``reference[perm[i]]`` is ``supercell[i]``.

    Raises
    ------
    ValueError
        When the cells differ or an atom has no partner within ``tol`` A.
    """
    if len(supercell) != len(reference) or not np.allclose(supercell.cell[:], reference.cell[:], atol=tol):
        raise ValueError(f"phonons: phonopy's supercell ({len(supercell)} atoms, cell lengths "
                         f"{np.round(supercell.cell.lengths(), 4).tolist()}) is not the model's reference cell "
                         f"({len(reference)} atoms, {np.round(reference.cell.lengths(), 4).tolist()})")
    frac_s = supercell.get_scaled_positions(wrap=True)
    frac_r = reference.get_scaled_positions(wrap=True)
    d = frac_s[:, None, :] - frac_r[None, :, :]
    d -= np.round(d)
    dist = np.linalg.norm(d @ reference.cell[:], axis=2)
    perm = np.argmin(dist, axis=1)
    if np.max(dist[np.arange(len(perm)), perm]) > tol or len(np.unique(perm)) != len(perm):
        raise ValueError("phonons: the model's reference cell is not phonopy's supercell up to atom order")
    return perm


def finite_displacement_fc(phonon, forces_of, distance=0.01):
    """Supercell force constants from the forces of displaced supercells.

    Parameters
    ----------
    phonon : phonopy.Phonopy
        Left with its force constants set (a copy per side is the caller's).
    forces_of : callable
        ``forces_of(atoms) -> (N, 3)`` for an ase.Atoms in phonopy's order.
    distance : float
        Displacement (A), plus and minus.

    Returns
    -------
    (N, N, 3, 3) array
        In phonopy's supercell order (eV/A^2).
    """
    phonon.generate_displacements(distance=distance, is_plusminus=True)
    forces = []
    for sc in phonon.supercells_with_displacements:
        f = np.asarray(forces_of(_ase_atoms(sc)), float)
        forces.append(f - f.mean(axis=0))  # drift-free
    phonon.forces = np.array(forces)
    phonon.produce_force_constants()
    phonon.symmetrize_force_constants()
    return np.array(phonon.force_constants)


def dispersion(phonon, npoints=120):
    """Frequencies along the special path of phonopy's primitive cell
    (ASE's band path of that lattice).

    Returns
    -------
    x : (K,) array
        Path coordinate.
    freqs : (K, B) array
        THz, imaginary modes negative.
    special : list of (float, str)
        Positions and labels of the special points.
    """
    from ase.cell import Cell
    path = Cell(phonon.primitive.cell).bandpath(npoints=npoints)
    phonon.run_qpoints(path.kpts)
    freqs = np.array(phonon.qpoints.frequencies)
    x, xs, labels = path.get_linear_kpoint_axis()
    return np.asarray(x), freqs, list(zip(np.asarray(xs).tolist(), labels))


def total_dos(phonon, mesh=(16, 16, 16), freq_pitch=0.05):
    """Total phonon DOS on a mesh.

    Returns
    -------
    freq, dos : (M,) arrays
        THz and states per THz per primitive cell.
    """
    import warnings
    with warnings.catch_warnings():  # phonopy's own Mesh deprecation, inside run_mesh
        warnings.simplefilter("ignore", DeprecationWarning)
        phonon.run_mesh(list(mesh), is_gamma_center=True)
    phonon.run_total_dos(freq_pitch=freq_pitch)
    return np.asarray(phonon.total_dos.frequency_points), np.asarray(phonon.total_dos.dos)
