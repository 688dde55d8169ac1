"""Minimum-energy paths by the climbing-image nudged elastic band (ASE)."""

from __future__ import annotations

import numpy as np

__all__ = ["neb_path", "neb_validity"]


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

    ends, ends_ok = [], []
    for a in (initial, final):
        b = a.copy()
        b.calc = calculator()
        ends_ok.append(bool(FIRE(b, logfile=None).run(fmax=fmax, steps=steps)) if relax_endpoints else True)
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
    from ase.geometry import find_mic
    d, _ = find_mic(ends[1].positions - ends[0].positions, ends[0].cell, ends[0].pbc)
    return {"images": images, "coordinate": s, "energies": E, "barrier": float(E.max()),
            "reaction_energy": float(E[-1]), "saddle": int(np.argmax(E)), "converged": converged,
            "endpoints_converged": all(ends_ok), "end_separation": float(np.abs(d).max())}


def neb_validity(result, fmax, steps, key="validate.neb"):
    """None when a :func:`neb_path` result is a barrier, else the reason.

    Not a barrier: the band or an end point did not converge, the end
    points relaxed into the same state (largest atomic displacement between
    them < 0.1 A), or the highest image is an end point (no transition
    state between them).
    """
    if not result["endpoints_converged"]:
        return f"an end point did not relax to fmax {fmax:g} eV/A in {steps} steps: raise {key}.max_steps"
    if result["end_separation"] < 0.1:
        return (f"the end points relaxed into the same state (largest displacement "
                f"{result['end_separation']:.3f} A): no transition to cross")
    if not result["converged"]:
        return f"the band did not converge to fmax {fmax:g} eV/A in {steps} steps: raise {key}.max_steps"
    if result["saddle"] in (0, len(result["energies"]) - 1):
        return "the highest image is an end point: no transition state between the end points"
    return None
