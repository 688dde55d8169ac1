"""Minimum-energy paths by the climbing-image nudged elastic band (ASE)."""

from __future__ import annotations

import numpy as np

__all__ = ["neb_path"]


def neb_path(initial, final, calculator, n_images=7, climb=True, fmax=0.01, steps=1000, relax_endpoints=True,
             k=0.1):
    """Climbing-image NEB between two structures (ase.mep.NEB with the
    improved tangent, relaxed by FIRE).

    Parameters
    ----------
    initial, final : ase.Atoms
    calculator : callable
        ``calculator()`` returns a new ASE calculator (one per image).
    n_images : int
        Interior images.
    climb : bool
        Climbing image (the highest image converges to the saddle point).
    fmax : float
        Force convergence of the band and the end-point relaxations (eV/A).
    relax_endpoints : bool
        Relax the end points first (FIRE).

    Returns
    -------
    dict
        ``images`` (list of Atoms), ``coordinate`` (n,) cumulative path
        length (A), ``energies`` (n,) relative to the initial state (eV),
        ``barrier`` (eV), ``reaction_energy`` (eV), ``saddle`` (index),
        ``converged`` (bool).
    """
    from ase.mep import NEB
    from ase.optimize import FIRE

    ends = []
    for a in (initial, final):
        b = a.copy()
        b.calc = calculator()
        if relax_endpoints:
            FIRE(b, logfile=None).run(fmax=fmax, steps=steps)
        ends.append(b)
    images = [ends[0]] + [ends[0].copy() for _ in range(n_images)] + [ends[1]]
    for im in images[1:-1]:
        im.calc = calculator()
    band = NEB(images, climb=climb, k=k, method="improvedtangent")
    band.interpolate(mic=True)
    opt = FIRE(band, logfile=None)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    E = np.array([im.get_potential_energy() for im in images])
    E -= E[0]
    X = np.array([im.positions for im in images])
    seg = np.linalg.norm((X[1:] - X[:-1]).reshape(len(images) - 1, -1), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    return {"images": images, "coordinate": s, "energies": E, "barrier": float(E.max()),
            "reaction_energy": float(E[-1]), "saddle": int(np.argmax(E)), "converged": converged}
