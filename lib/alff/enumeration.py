"""Structure pools for relaxation-driven learning: derivative structures of
parent lattices with every decoration up to symmetry, enumerated by icet
(Hart & Forcade's algorithm, the field's tool for it)."""

from __future__ import annotations

from ase.build import bulk

__all__ = ["PARENTS", "derivative_structures"]

#: parent lattices (ASE's bulk with one or two atoms per primitive cell)
PARENTS = ("fcc", "bcc", "hcp")


def derivative_structures(species, lattices=PARENTS, max_atoms=8, a=None):
    """Every derivative structure of the parent lattices with at most
    ``max_atoms`` atoms per cell, all decorations by ``species`` up to
    symmetry, the pure structures included.

    Parameters
    ----------
    species : sequence of str
        Chemical symbols (two for a binary).
    lattices : sequence of {'fcc', 'bcc', 'hcp'}
    max_atoms : int
    a : float, optional
        Lattice parameter of the fcc parent (A); bcc and hcp get the same
        volume per atom (hcp ideal c/a). Default: ASE's for the first species.

    Returns
    -------
    list of ase.Atoms
        With ``info['parent']`` (the lattice) and ``info['pool_index']``.
    """
    from icet.tools import enumerate_structures
    species = list(species)
    if len(species) < 2:
        raise ValueError(f"derivative structures need at least two species, got {species}")
    bad = [lat for lat in lattices if lat not in PARENTS]
    if bad:
        raise ValueError(f"unknown parent lattice(s) {bad}: choose from {list(PARENTS)}")
    a_fcc = float(a) if a is not None else float(bulk(species[0], "fcc").cell.cellpar()[0] * 2 ** 0.5)
    vol = a_fcc ** 3 / 4  # per atom
    parents = {"fcc": bulk(species[0], "fcc", a=a_fcc),
               "bcc": bulk(species[0], "bcc", a=(2 * vol) ** (1 / 3)),
               "hcp": bulk(species[0], "hcp", a=(vol * 2 ** 0.5) ** (1 / 3))}  # ideal c/a: a^3 / sqrt(2) per atom
    out = []
    for lat in lattices:
        prim = parents[lat]
        sizes = range(1, int(max_atoms) // len(prim) + 1)
        for s in enumerate_structures(prim, sizes, species):
            s.info.update(parent=lat, pool_index=len(out))
            out.append(s)
    return out
