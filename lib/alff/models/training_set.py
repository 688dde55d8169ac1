"""Labelled structures of a model's training set, with validation.

Frames are kept as plain arrays (positions, cell, pbc, numbers and labels)
so a model saves them to .npz without pickling ASE objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

__all__ = ["LabelledFrame", "labelled_frame", "pack_frames", "unpack_frames", "checked_frames", "reference_energies"]

VOIGT_NAMES = ("xx", "yy", "zz", "yz", "xz", "xy")


@dataclass
class LabelledFrame:
    """One labelled structure of a training set.

    Attributes
    ----------
    atoms : ase.Atoms
        Structure without a calculator.
    forces : (N, 3) array or None
    energy : float or None
    stress : (6,) array (Voigt, ASE sign convention) or None
    force_atoms : (M,) int array
        Atoms whose forces are training labels.
    use_energy, use_stress : bool
        Whether the total energy / stress are training labels.
    """

    atoms: Atoms
    forces: np.ndarray | None
    energy: float | None
    stress: np.ndarray | None
    force_atoms: np.ndarray
    use_energy: bool
    use_stress: bool


def _get(atoms, name):
    """Read a label from the calculator or the info/arrays of ``atoms``.

    Forces: ``calc.results['forces']`` or the per-atom arrays ``forces``,
    ``force``, ``REF_forces``, ``dft_forces``; energy/stress: the calculator
    or ``info`` keys ``energy``, ``REF_energy``, ``dft_energy`` (likewise).
    """
    calc = atoms.calc
    if calc is not None:
        try:
            if name in calc.results:
                return np.array(calc.results[name], dtype=float) if name != "energy" else float(calc.results[name])
        except AttributeError:
            pass
    if name == "forces":
        for key in ("forces", "force", "REF_forces", "dft_forces"):
            if key in atoms.arrays:
                return np.array(atoms.arrays[key], dtype=float)
    if name in ("energy", "stress"):
        for key in (name, f"REF_{name}", f"dft_{name}"):
            if key in atoms.info:
                v = atoms.info[key]
                return float(v) if name == "energy" else np.array(v, dtype=float)
    return None


def labelled_frame(atoms, index, atom_indices=None, use_energy=False, use_stress=False):
    """Validate one training structure and extract its labels.

    Parameters
    ----------
    atoms : ase.Atoms
        With forces (and energy/stress if used) from a calculator or in
        ``atoms.arrays['forces']`` / ``atoms.info['energy']``.
    index : int
        Position of the frame in the user's list (for error messages).
    atom_indices : sequence of int, optional
        Atoms whose forces are used; all atoms by default.
    use_energy, use_stress : bool

    Raises
    ------
    ValueError
        Missing or non-finite labels, or atom indices out of range, with the
        frame index (and atom) named.
    """
    n = len(atoms)
    if n == 0:
        raise ValueError(f"frame {index} has no atoms")
    if atom_indices is None:
        force_atoms = np.arange(n)
    else:
        force_atoms = np.unique(np.asarray(atom_indices, dtype=np.int64).ravel())
        if len(force_atoms) and (force_atoms.min() < 0 or force_atoms.max() >= n):
            raise ValueError(f"frame {index}: atom index out of range 0..{n - 1}: {list(force_atoms)}")
    forces = _get(atoms, "forces")
    if len(force_atoms):
        if forces is None:
            raise ValueError(f"frame {index} has no forces (needed as labels)")
        forces = forces.reshape(n, 3)
        bad = ~np.isfinite(forces[force_atoms]).all(axis=1)
        if bad.any():
            a = int(force_atoms[np.argmax(bad)])
            raise ValueError(f"frame {index}: force label of atom {a} is not finite: {forces[a]}")
    energy = _get(atoms, "energy")
    if use_energy:
        if energy is None:
            raise ValueError(f"frame {index} has no energy although energy labels are used")
        if not np.isfinite(energy):
            raise ValueError(f"frame {index}: energy label is not finite ({energy})")
    stress = _get(atoms, "stress")
    if stress is not None:
        stress = np.asarray(stress, float)
        if stress.shape == (3, 3):
            stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    if use_stress:
        if not all(atoms.pbc):
            raise ValueError(f"frame {index}: stress labels need a fully periodic cell")
        if stress is None:
            raise ValueError(f"frame {index} has no stress although stress labels are used")
        if not np.isfinite(stress).all():
            raise ValueError(f"frame {index}: stress label is not finite ({stress})")
    if not np.isfinite(atoms.positions).all():
        raise ValueError(f"frame {index}: positions are not finite")
    plain = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    return LabelledFrame(plain, forces, energy, stress, force_atoms, bool(use_energy), bool(use_stress))


def pack_frames(frames):
    """Flatten labelled frames into a dict of arrays (for np.savez)."""
    nat = np.array([len(f.atoms) for f in frames], np.int64)
    nfa = np.array([len(f.force_atoms) for f in frames], np.int64)
    cat = (lambda xs, shape: np.concatenate(xs) if xs else np.zeros(shape))
    return {
        "frame_natoms": nat,
        "frame_numbers": cat([f.atoms.numbers for f in frames], (0,)).astype(np.int64),
        "frame_positions": cat([f.atoms.positions for f in frames], (0, 3)),
        "frame_cells": np.array([f.atoms.cell.array for f in frames]).reshape(-1, 3, 3),
        "frame_pbc": np.array([f.atoms.pbc for f in frames], bool).reshape(-1, 3),
        "frame_forces": cat([f.forces if f.forces is not None else np.full((len(f.atoms), 3), np.nan)
                             for f in frames], (0, 3)),
        "frame_energy": np.array([np.nan if f.energy is None else f.energy for f in frames]),
        "frame_stress": np.array([np.full(6, np.nan) if f.stress is None else f.stress
                                  for f in frames]).reshape(-1, 6),
        "frame_nforce_atoms": nfa,
        "frame_force_atoms": cat([f.force_atoms for f in frames], (0,)).astype(np.int64),
        "frame_use_energy": np.array([f.use_energy for f in frames], bool),
        "frame_use_stress": np.array([f.use_stress for f in frames], bool),
    }


def unpack_frames(d):
    """Inverse of :func:`pack_frames`."""
    frames = []
    a0 = 0
    f0 = 0
    for k, n in enumerate(d["frame_natoms"]):
        n = int(n)
        m = int(d["frame_nforce_atoms"][k])
        atoms = Atoms(d["frame_numbers"][a0:a0 + n], positions=d["frame_positions"][a0:a0 + n],
                      cell=d["frame_cells"][k], pbc=d["frame_pbc"][k])
        forces = d["frame_forces"][a0:a0 + n]
        energy = float(d["frame_energy"][k])
        stress = d["frame_stress"][k]
        frames.append(LabelledFrame(
            atoms,
            None if np.isnan(forces).all() else forces.copy(),
            None if np.isnan(energy) else energy,
            None if np.isnan(stress).all() else stress.copy(),
            d["frame_force_atoms"][f0:f0 + m].copy(),
            bool(d["frame_use_energy"][k]),
            bool(d["frame_use_stress"][k]),
        ))
        a0 += n
        f0 += m
    return frames


def checked_frames(mf, species):
    """The training frames of a saved model, validated: the arrays of
    :func:`pack_frames` in ``mf`` (a :class:`~alff.models.storage.ModelFile`)
    with consistent shapes, finite positions and cells, species among
    ``species``, label atoms in range and finite labels where used.

    Raises
    ------
    ModelFileError
        Naming the npz file and the array.
    """
    nat = mf.array("frame_natoms", (None,), "i")
    nf = len(nat)
    if nf == 0 or np.any(nat < 1):
        mf.fail("array 'frame_natoms': " + ("no training frames" if nf == 0 else "a frame without atoms"), npz=True)
    na = int(nat.sum())
    atoms_why = f"the {nf} training frames have {na} atoms ('frame_natoms')"
    frames_why = f"the training set has {nf} frames ('frame_natoms')"
    numbers = mf.array("frame_numbers", (na,), "i", why=atoms_why)
    unknown = sorted(set(numbers.tolist()) - {int(z) for z in species})
    if unknown:
        mf.fail(f"array 'frame_numbers' holds species Z={unknown} that are not the model's species {list(species)}",
                npz=True)
    d = {"frame_natoms": nat, "frame_numbers": numbers,
         "frame_positions": mf.array("frame_positions", (na, 3), why=atoms_why),
         "frame_cells": mf.array("frame_cells", (nf, 3, 3), why=frames_why),
         "frame_pbc": mf.array("frame_pbc", (nf, 3), "b", why=frames_why),
         "frame_forces": mf.array("frame_forces", (na, 3), finite=False, why=atoms_why),
         "frame_energy": mf.array("frame_energy", (nf,), finite=False, why=frames_why),
         "frame_stress": mf.array("frame_stress", (nf, 6), finite=False, why=frames_why),
         "frame_use_energy": mf.array("frame_use_energy", (nf,), "b", why=frames_why),
         "frame_use_stress": mf.array("frame_use_stress", (nf,), "b", why=frames_why)}
    nfa = d["frame_nforce_atoms"] = mf.array("frame_nforce_atoms", (nf,), "i", why=frames_why)
    if np.any(nfa < 0) or np.any(nfa > nat):
        mf.fail("array 'frame_nforce_atoms' counts more label atoms than a frame has (or fewer than none)", npz=True)
    fa = d["frame_force_atoms"] = mf.array("frame_force_atoms", (int(nfa.sum()),), "i",
                                           why=f"'frame_nforce_atoms' counts {int(nfa.sum())} label atoms")
    owner = np.repeat(np.arange(nf), nfa)
    if np.any(fa < 0) or np.any(fa >= nat[owner]):
        k = int(owner[np.argmax((fa < 0) | (fa >= nat[owner]))])
        mf.fail(f"array 'frame_force_atoms': a label atom of frame {k} is out of range 0..{int(nat[k]) - 1}", npz=True)
    same = owner[1:] == owner[:-1]
    if np.any(same & (np.diff(fa) <= 0)):
        mf.fail("array 'frame_force_atoms': label atoms of a frame repeat or are not sorted", npz=True)
    start = np.concatenate([[0], np.cumsum(nat)[:-1]])
    if not np.isfinite(d["frame_forces"][start[owner] + fa]).all():
        mf.fail("non-finite values in 'frame_forces' (force labels)", npz=True)
    for key, use in (("frame_energy", "frame_use_energy"), ("frame_stress", "frame_use_stress")):
        used = d[key][d[use]]
        if not np.isfinite(used).all():
            mf.fail(f"non-finite values in '{key}' (labels of frames with '{use}')", npz=True)
    return unpack_frames(d)


def reference_energies(frames, species, given=None):
    """Per-species reference energies (``{Z: eV}``): ``given`` (keys
    symbols or Z), else least squares on the energy labels of labelled
    ``frames``; None without energy labels."""
    if given is not None:
        from ase.data import atomic_numbers
        e0 = {(atomic_numbers[k] if isinstance(k, str) else int(k)): float(v) for k, v in given.items()}
        missing = [z for z in species if z not in e0]
        if missing:
            raise ValueError(f"reference_energies has no entry for species Z={missing}")
        return e0
    ef = [f for f in frames if f.use_energy]
    if not ef:
        return None
    A = np.array([[np.sum(f.atoms.numbers == z) for z in species] for f in ef], float)
    e = np.array([f.energy for f in ef])
    coef = np.linalg.lstsq(A, e, rcond=None)[0]
    return {int(z): float(c) for z, c in zip(species, coef)}
