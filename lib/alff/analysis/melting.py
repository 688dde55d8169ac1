"""Melting from a heating ramp: where the potential energy jumps."""

from __future__ import annotations

import numpy as np

__all__ = ["ramp_transition", "coexistence_temperature"]


def ramp_transition(T, E, window=0.1):
    """Locate a first-order transition in a heating ramp.

    Fits straight lines to the solid branch (below) and the liquid branch
    (above) of ``E(T)`` for every candidate split and keeps the split with
    the least squared residual; the transition temperature is where the
    energy crosses the midpoint between the two branches, and its
    uncertainty the temperature spread of the crossing region.

    Parameters
    ----------
    T : (n,) instantaneous or set temperatures along the ramp (increasing)
    E : (n,) potential energy per atom
    window : float
        Smallest fraction of the points on each branch.

    Returns
    -------
    dict
        ``Tm`` (K), ``Tm_err`` (K), ``latent_heat`` (energy jump at Tm, per
        atom), ``split`` (index of the first liquid point).
    """
    T = np.asarray(T, float)
    E = np.asarray(E, float)
    n = len(T)
    lo = max(int(window * n), 3)
    if n < 2 * lo + 1:
        raise ValueError(f"ramp_transition needs at least {2 * lo + 1} points, got {n}")
    best = (np.inf, None)
    for k in range(lo, n - lo):
        ps = np.polyfit(T[:k], E[:k], 1)
        pl = np.polyfit(T[k:], E[k:], 1)
        res = np.sum((np.polyval(ps, T[:k]) - E[:k]) ** 2) + np.sum((np.polyval(pl, T[k:]) - E[k:]) ** 2)
        if res < best[0]:
            best = (res, k, ps, pl)
    _, k, ps, pl = best
    mid = 0.5 * (np.polyval(ps, T) + np.polyval(pl, T))
    above = E > mid
    # crossing region: between the last point still below the midpoint and
    # the first point above it
    first_above = int(np.argmax(above)) if above.any() else n - 1
    last_below = int(n - 1 - np.argmax(~above[::-1])) if (~above).any() else 0
    a, b = sorted((first_above, last_below))
    Tm = 0.5 * (T[max(a - 1, 0)] + T[min(b + 1, n - 1)]) if a != b else T[a]
    Tm_err = 0.5 * (T[min(b + 1, n - 1)] - T[max(a - 1, 0)])
    return {"Tm": float(Tm), "Tm_err": float(Tm_err),
            "latent_heat": float(np.polyval(pl, Tm) - np.polyval(ps, Tm)), "split": int(k)}


def coexistence_temperature(T, solid_fraction, discard=0.3, n_blocks=5, bounds=(0.1, 0.9)):
    """Melting point from a solid-liquid coexistence run (NVE or NPH).

    While both phases persist, the temperature of an isolated two-phase
    system relaxes to the melting point; Tm is its mean over the run after
    ``discard``, the uncertainty the standard error of ``n_blocks`` block
    means.

    Parameters
    ----------
    T : (n,) temperatures along the run (K)
    solid_fraction : (n,) fraction of solid-like atoms at the same times
    discard : float
        Leading fraction of the run left out (equilibration).
    bounds : (float, float)
        Both phases are deemed present while the solid fraction stays
        inside these bounds.

    Returns
    -------
    dict
        ``Tm``, ``Tm_err`` (K), ``coexisting`` (bool: both phases
        throughout the averaged part), ``solid_fraction_range`` (min, max).
    """
    T = np.asarray(T, float)
    f = np.asarray(solid_fraction, float)
    if len(T) != len(f):
        raise ValueError("coexistence_temperature: T and solid_fraction differ in length")
    k = int(discard * len(T))
    t, fk = T[k:], f[k:]
    if len(t) < 2 * n_blocks:
        raise ValueError(f"coexistence_temperature needs at least {2 * n_blocks} samples after the discarded "
                         f"part, got {len(t)}")
    size = len(t) // n_blocks
    blocks = [t[b * size:(b + 1) * size].mean() for b in range(n_blocks)]
    return {"Tm": float(t.mean()), "Tm_err": float(np.std(blocks, ddof=1) / np.sqrt(n_blocks)),
            "coexisting": bool(fk.min() > bounds[0] and fk.max() < bounds[1]),
            "solid_fraction_range": (float(fk.min()), float(fk.max()))}
