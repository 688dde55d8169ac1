"""Elastic constants of a cubic crystal and its energy-volume curve, with any
ASE calculator (the model's or the oracle's, under one protocol).

C_ij from the stress response to small symmetric strains, +-``strain``
(central differences), each strained cell with its atoms relaxed at fixed
cell when it has internal degrees of freedom; the cubic averages
C11 = <C_xx,xx>, C12 = <C_xx,yy>, C44 = <C_yz,yz> over the equivalent
components, and the largest deviation from cubic symmetry as a check.
"""

from __future__ import annotations

import numpy as np
from ase.units import GPa

__all__ = ["elastic_constants", "cubic_constants", "energy_volume"]

VOIGT = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]


def _stress(atoms, calc, relax_fmax):
    a = atoms.copy()
    a.calc = calc
    if relax_fmax is not None and len(a) > 1:
        from ase.optimize import BFGS
        BFGS(a, logfile=None).run(fmax=relax_fmax, steps=200)
    return np.asarray(a.get_stress(voigt=True), float)


def elastic_constants(atoms, calc, strain=0.005, relax_fmax=None):
    """(6, 6) elastic tensor in Voigt notation (GPa) at the cell of ``atoms``.

    Parameters
    ----------
    atoms : ase.Atoms
        The (relaxed) reference crystal.
    calc : ase Calculator
    strain : float
        Amplitude of each strain component (engineering shear strain 2 eps
        for the off-diagonal components).
    relax_fmax : float, optional
        Relax the atoms of every strained cell to this force (eV/A); None
        keeps them at the homogeneously strained positions (right for
        monatomic Bravais lattices).

    Returns
    -------
    (6, 6) float array
        C[i, j] = d sigma_i / d eps_j with ASE's stress sign turned
        (positive C for a stable crystal).
    """
    C = np.zeros((6, 6))
    cell = atoms.cell[:].copy()
    for j, (a, b) in enumerate(VOIGT):
        s = []
        for sign in (1.0, -1.0):
            eps = np.zeros((3, 3))
            eps[a, b] = eps[b, a] = sign * strain / (1.0 if a == b else 2.0)
            st = atoms.copy()
            st.set_cell(cell @ (np.eye(3) + eps), scale_atoms=True)
            s.append(_stress(st, calc, relax_fmax))
        C[:, j] = (s[0] - s[1]) / (2 * strain)
    return C / GPa


def cubic_constants(C):
    """(C11, C12, C44, asymmetry) in GPa from a (6, 6) tensor: the averages
    over the cubic-equivalent components and the largest deviation of any
    component from its cubic value (a check that the crystal is cubic and
    the strain small enough)."""
    C = np.asarray(C, float)
    c11 = float(np.mean([C[i, i] for i in range(3)]))
    c12 = float(np.mean([C[i, j] for i in range(3) for j in range(3) if i != j]))
    c44 = float(np.mean([C[i, i] for i in range(3, 6)]))
    ideal = np.zeros((6, 6))
    ideal[:3, :3] = c12
    ideal[range(3), range(3)] = c11
    ideal[range(3, 6), range(3, 6)] = c44
    return c11, c12, c44, float(np.abs(C - ideal).max())


def energy_volume(atoms, calc, scales=np.linspace(0.94, 1.06, 13)):
    """Energy per atom against volume per atom under uniform scaling of the
    lattice parameter (atoms at scaled positions).

    Returns
    -------
    volumes, energies : (n,) float arrays
        A^3 per atom, eV per atom.
    """
    v, e = [], []
    for s in scales:
        a = atoms.copy()
        a.set_cell(atoms.cell[:] * s, scale_atoms=True)
        a.calc = calc
        v.append(a.get_volume() / len(a))
        e.append(a.get_potential_energy() / len(a))
    return np.array(v), np.array(e)
