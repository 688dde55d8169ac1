"""Structures of the validation protocols: bulk cells, a vacancy hop, an
adatom hop on an fcc(111) surface, and the solid-liquid coexistence cell."""

from __future__ import annotations

import numpy as np
from ase.build import add_adsorbate, bulk, fcc111
from ase.constraints import FixAtoms

__all__ = ["bulk_cell", "vacancy_hop", "adatom_hop", "shell_cutoff"]


def bulk_cell(element, a, repeat, crystal="fcc"):
    """A cubic supercell, ``repeat`` (3,) conventional cells."""
    return bulk(element, crystal, a=a, cubic=True).repeat(tuple(repeat))


def shell_cutoff(a, crystal="fcc"):
    """A neighbour cutoff between the first and second shells (A)."""
    if crystal != "fcc":
        raise ValueError(f"validation set-ups are written for fcc crystals, got '{crystal}'")
    return 0.5 * (a / np.sqrt(2.0) + a)


def vacancy_hop(element, a, repeat):
    """End points of a nearest-neighbour vacancy jump in an fcc supercell.

    Atom 0 is removed; in the final state its nearest neighbour (the lowest
    index among the 12) sits on the vacant site.

    Returns
    -------
    initial, final : ase.Atoms
        ``N - 1`` atoms each, the same atom order.
    """
    atoms = bulk_cell(element, a, repeat)
    d = atoms.get_distances(0, range(len(atoms)), mic=True)
    j = int(np.flatnonzero(np.abs(d - a / np.sqrt(2.0)) < 1e-6)[0])
    final = atoms.copy()
    final.positions[j] = atoms.positions[0]
    initial = atoms.copy()
    del initial[0]
    del final[0]
    return initial, final


def adatom_hop(element, a, size, vacuum=8.0, height=2.0, fixed_layers=2):
    """End points of an adatom hop from an hcp to the neighbouring fcc
    hollow site on fcc(111).

    Parameters
    ----------
    size : (3,) nx, ny, layers
    fixed_layers : int
        Bottom layers held fixed (``FixAtoms``) in relaxations and NEB.

    Returns
    -------
    initial (hcp), final (fcc) : ase.Atoms
    """
    states = []
    for site in ("hcp", "fcc"):
        slab = fcc111(element, size=tuple(size), a=a, vacuum=vacuum, periodic=True)
        add_adsorbate(slab, element, height, site)
        layers = int(size[2])
        # ase tags: 1 = top layer ... layers = bottom; the adatom gets tag 0
        slab.set_constraint(FixAtoms(mask=slab.get_tags() > layers - int(fixed_layers)))
        states.append(slab)
    # the hcp and fcc sites of add_adsorbate are neighbours (a / sqrt(6) apart)
    return states[0], states[1]
