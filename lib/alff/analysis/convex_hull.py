"""Formation energies of a binary and their lower convex hull.

E_f(x) = E / N - (1 - x) e_A - x e_B per atom, x the fraction of B and
e_A, e_B the lowest energies per atom of the pure structures. The ground
states are the vertices of the lower convex hull of (x, E_f).
"""

from __future__ import annotations

import numpy as np

__all__ = ["formation_energies", "lower_hull", "hull_distances"]


def formation_energies(x, energy_per_atom):
    """(n,) formation energies per atom and the references (e_A, e_B).

    Parameters
    ----------
    x : (n,) float array
        Fraction of the second species.
    energy_per_atom : (n,) float array
        NaN for a structure without a valid energy (left NaN).

    Raises
    ------
    ValueError
        No valid pure structure of one of the species (x = 0 or 1).
    """
    x, e = np.asarray(x, float), np.asarray(energy_per_atom, float)
    ok = np.isfinite(e)
    refs = []
    for end in (0.0, 1.0):
        sel = ok & np.isclose(x, end)
        if not sel.any():
            raise ValueError(f"formation energies need a valid pure structure at x = {end:g}")
        refs.append(float(e[sel].min()))
    return e - (1 - x) * refs[0] - x * refs[1], tuple(refs)


def lower_hull(x, ef, tol=1e-6):
    """Indices of the ground states: vertices of the lower convex hull of
    (x, E_f), left to right (Andrew's monotone chain; points within ``tol``
    eV/atom of an edge are not vertices; at one x the lowest only).

    Parameters
    ----------
    x, ef : (n,) float arrays (NaN entries ignored)
    tol : float

    Returns
    -------
    list of int
    """
    x, ef = np.asarray(x, float), np.asarray(ef, float)
    idx = [int(i) for i in np.flatnonzero(np.isfinite(ef))]
    best = {}
    for i in idx:  # the lowest structure at each composition
        key = round(float(x[i]), 9)
        if key not in best or ef[i] < ef[best[key]]:
            best[key] = i
    pts = sorted(best.values(), key=lambda i: x[i])
    hull = []
    for i in pts:
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # b is above (or within tol of) the segment a -> i: not a vertex
            t = (x[b] - x[a]) / (x[i] - x[a])
            if ef[b] >= ef[a] + t * (ef[i] - ef[a]) - tol:
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


def hull_distances(x, ef, hull):
    """(n,) energy above the hull (eV/atom) of every structure (NaN kept)."""
    x, ef = np.asarray(x, float), np.asarray(ef, float)
    hx, he = x[hull], ef[hull]
    return ef - np.interp(x, hx, he)
