"""Melting from a heating ramp: where the potential energy jumps."""

from __future__ import annotations

import numpy as np

__all__ = ["ramp_transition", "ramp_validity", "coexistence_temperature", "coexistence_validity"]


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
        Smallest fraction of the points on each branch (at least 3 points
        each: :func:`min_branch`).

    Returns
    -------
    dict
        ``Tm`` (K), ``Tm_err`` (K), ``latent_heat`` (energy jump at Tm, per
        atom), ``split`` (index of the first liquid point), ``residual_rms``
        (RMS deviation of the points from their branch lines, per atom).
    """
    T = np.asarray(T, float)
    E = np.asarray(E, float)
    n = len(T)
    lo = min_branch(n, window)
    if n < 2 * lo:
        raise ValueError(f"ramp_transition needs at least {2 * lo} points, got {n}")
    best = (np.inf, None)
    for k in range(lo, n - lo + 1):  # each branch at least lo points
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
            "latent_heat": float(np.polyval(pl, Tm) - np.polyval(ps, Tm)), "split": int(k),
            "residual_rms": float(np.sqrt(best[0] / n))}


def min_branch(n, window=0.1):
    """Fewest points on either branch of a :func:`ramp_transition` fit
    of ``n`` points."""
    return max(int(window * n), 3)


def ramp_validity(T, solid_fraction, result, min_jump=5.0, key="validate.melting.ramp"):
    """Whether a heating ramp saw a melting transition inside its window.

    A two-line fit always finds a "transition" somewhere; it is one only
    when the structure changed (the solid fraction starts above 1/2 and ends
    below it) and the energy jumps by more than ``min_jump`` times the
    scatter of the points about the two lines.

    Parameters
    ----------
    T : (n,) set temperatures of the stages (K, increasing)
    solid_fraction : (n,) solid fraction at the end of each stage
    result : dict
        :func:`ramp_transition` result.
    min_jump : float
    key : str
        Config section named in the reasons.

    Returns
    -------
    dict
        ``energy`` and ``q6``: None when that estimate is valid, else the
        reason (with the fix).
    """
    T = np.asarray(T, float)
    f = np.asarray(solid_fraction, float)
    if not (len(f) and np.isfinite(f).all()):
        why = "no solid fraction along the ramp"
        return {"energy": why, "q6": why}
    if f[0] < 0.5:
        why = (f"the cell was molten from the start (solid fraction {f[0]:.2f} at {T[0]:.0f} K): lower "
               f"{key}.T_start")
        return {"energy": why, "q6": why}
    if f[-1] >= 0.5:
        why = (f"no transition inside the window {T[0]:.0f}-{T[-1]:.0f} K (solid fraction {f[-1]:.2f} at "
               f"{T[-1]:.0f} K): raise {key}.T_end")
        return {"energy": why, "q6": why}
    out = {"energy": None, "q6": None}
    k = int(np.flatnonzero(f < 0.5)[0])
    lo = min_branch(len(T))
    if not lo <= k <= len(T) - lo:
        # the structure changed too near an end of the window for the two-line fit to place its split there
        end = f"raise {key}.T_end" if k > len(T) - lo else f"lower {key}.T_start"
        out["energy"] = (f"the structural transition (between {T[k - 1]:.0f} and {T[k]:.0f} K) lies within {lo} "
                         f"stages of the window's end, where the energy fit cannot place it: {end}")
        return out
    jump, noise = result["latent_heat"], result.get("residual_rms", 0.0)
    if not jump > min_jump * noise:
        out["energy"] = (f"no energy jump at the structural transition (latent heat {jump:.4f} eV/atom against a "
                         f"scatter of {noise:.4f}): more {key}.stages or stage_steps")
        return out
    # the energy's jump must be the structural transition, not another kink
    T_q6 = 0.5 * (T[k - 1] + T[k])
    step = float(np.max(np.diff(T))) if len(T) > 1 else 0.0
    if abs(result["Tm"] - T_q6) > result["Tm_err"] + step:
        out["energy"] = (f"the energy's jump ({result['Tm']:.0f} +- {result['Tm_err']:.0f} K) is not at the "
                         f"structural transition (solid fraction below 1/2 between {T[k - 1]:.0f} and {T[k]:.0f} K)")
    return out


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


def coexistence_validity(result, discard, T_start, key="validate.melting.coexistence"):
    """None when a coexistence run kept both phases, else the reason.

    Parameters
    ----------
    result : dict
        :func:`coexistence_temperature` result.
    discard : float
        The leading fraction that was left out (named in the reason).
    T_start : float
        Start temperature of the run (K).
    """
    if result["coexisting"]:
        return None
    lo, hi = result["solid_fraction_range"]
    went = "melted" if hi <= 0.5 else "froze" if lo >= 0.5 else "left the two-phase range"
    return (f"one phase vanished: the cell {went} (solid fraction {lo:.2f}-{hi:.2f} after the first {discard:.0%}, "
            f"started at {T_start:.0f} K): set {key}.T_guess nearer Tm, or a longer cell ({key}.repeat)")
