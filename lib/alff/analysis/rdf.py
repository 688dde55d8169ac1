"""Radial distribution functions (total and partial) of periodic structures."""

from __future__ import annotations

import numpy as np

from ..neighbors import neighbor_list

__all__ = ["radial_distribution"]


def radial_distribution(frames, rmax, nbins=200, pairs=None):
    """Partial radial distribution functions averaged over frames.

    ``g_ab(r) = V / (N_a N_b) * n_ab(r) / (4 pi r^2 dr)`` with ``n_ab`` the
    number of (a-centre, b-neighbour) pairs per shell, so ``g -> 1`` in a
    uniform liquid and ``rho_b * int g_ab 4 pi r^2 dr`` is the number of b
    neighbours of an a atom.

    Parameters
    ----------
    frames : list of ase.Atoms
        Periodic structures (the same composition).
    rmax : float
        Largest distance (A).
    nbins : int
    pairs : list of (str, str), optional
        Species pairs, e.g. ``[("Al", "Al")]``; by default every pair and
        ``("all", "all")``.

    Returns
    -------
    r : (nbins,) bin centres
    g : dict
        ``(a, b) -> (nbins,)`` array.
    """
    if not frames:
        raise ValueError("radial_distribution needs at least one frame")
    edges = np.linspace(0.0, rmax, nbins + 1)
    r = 0.5 * (edges[1:] + edges[:-1])
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    symbols = sorted(set(frames[0].get_chemical_symbols()))
    if pairs is None:
        pairs = [("all", "all")] + [(a, b) for a in symbols for b in symbols if a <= b]
    hist = {p: np.zeros(nbins) for p in pairs}
    norm = {p: 0.0 for p in pairs}
    for k, f in enumerate(frames):
        if not f.pbc.all():
            raise ValueError(f"frame {k}: the RDF needs a periodic cell")
        i, j, _, d, _ = neighbor_list(f.positions, f.cell[:], f.pbc, rmax)
        sym = np.array(f.get_chemical_symbols())
        V = f.get_volume()
        for a, b in pairs:
            ma = np.ones(len(f), bool) if a == "all" else sym == a
            mb = np.ones(len(f), bool) if b == "all" else sym == b
            sel = ma[i] & mb[j]
            hist[(a, b)] += np.histogram(d[sel], bins=edges)[0]
            norm[(a, b)] += ma.sum() * mb.sum() / V
    return r, {p: hist[p] / (norm[p] * shell) for p in pairs}
