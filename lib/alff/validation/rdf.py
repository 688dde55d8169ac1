"""RDF of the solid and the liquid with the model and the reference (rule rdf)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..analysis import radial_distribution
from .engines import guarded, sample_md
from .rows import row
from .setups import bulk_cell

__all__ = ["first_peak", "rdf_validation", "phase_mismatch"]

log = logging.getLogger("alff.validate")


def first_peak(r, g):
    """Position and height of the first peak of g(r), refined by a parabola
    through the highest bin and its neighbours.

    Parameters
    ----------
    r, g : (nbins,)

    Returns
    -------
    position (A), height
    """
    r = np.asarray(r, float)
    g = np.asarray(g, float)
    nz = np.flatnonzero(g > 0)
    if not len(nz):
        raise ValueError("g(r) is zero everywhere: no pairs within rmax")
    # the first peak: the maximum before g first falls back below 1 after rising above it
    start = nz[0]
    above = np.flatnonzero(g[start:] > 1.0)
    end = len(g)
    if len(above):
        after = np.flatnonzero(g[start + above[0]:] < 1.0)
        if len(after):
            end = start + above[0] + after[0]
    k = start + int(np.argmax(g[start:end]))
    if 0 < k < len(g) - 1:
        y0, y1, y2 = g[k - 1], g[k], g[k + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            t = 0.5 * (y0 - y2) / den
            return float(r[k] + t * (r[1] - r[0])), float(y1 - 0.25 * (y0 - y2) * t)
    return float(r[k]), float(g[k])


def phase_mismatch(name, frames, start, where):
    """Why the frames of a condition named ``name`` are not in the phase the
    name claims (:func:`alff.analysis.phase.expected_phase`: solid*/crystal*,
    liquid*/melt*), else None (also when the name claims no phase or the
    crystal is not one the classifier supports).

    Parameters
    ----------
    name : str
    frames : list of ase.Atoms
        The last five are classified (q6 solid fraction).
    start : ase.Atoms
        The crystal the run started from (the classifier's reference).
    where : str
        The config key of the condition's temperature, named in the fix.
    """
    from ..analysis.phase import MISMATCH, PhaseReference, classify_frames
    c = classify_frames(frames[-5:], PhaseReference.from_structure(start), name)
    if c["status"] != MISMATCH:
        return None
    f = c["mean_solid_fraction"]
    if c["expected"] == "liquid":
        state = "crystalline" if c["verdict"] == "solid" else "partly crystalline"
        return f"the '{name}' stayed {state} (solid fraction {f:.2f}): raise {where}"
    state = "melted" if c["verdict"] == "liquid" else "partly melted"
    return f"the '{name}' {state} (solid fraction {f:.2f}): lower {where}"


def rdf_validation(cfg, element, a, engines, seed=0):
    """g(r) of each condition with each engine.

    Parameters
    ----------
    cfg : dict
        The ``validate.rdf`` section.
    element : str
    a : float
        Lattice constant (A); the runs are at this volume (NVT) unless the
        condition sets ``pressure_GPa``.
    engines : list of Engine
        The model first, then the reference (if any).

    Returns
    -------
    data : pandas.DataFrame
        Long table: condition, engine, pair, r, g, valid (the frames are in
        the phase the condition's name says: :func:`phase_mismatch`).
    rows : list of dict
        First-peak position and height, and the mean pressure, per
        condition.
    """
    out, rows = [], []
    for ci, cond in enumerate(cfg["conditions"]):
        peaks, pressure, why = {}, {}, {}
        for eng in engines:
            atoms = bulk_cell(element, a, cfg["repeat"])
            res = guarded(lambda: sample_md(atoms, eng, cond["temperature_K"], cfg["timestep_fs"],
                                            cfg["equilibrate_steps"], cfg["steps"], cfg["every"], seed + ci,
                                            pressure_GPa=cond.get("pressure_GPa"),
                                            progress_label=f"rdf {cond['name']} {eng.name}"),
                          eng, f"rdf {cond['name']}")
            if res is None:
                peaks[eng.name], pressure[eng.name] = (np.nan, np.nan), np.nan
                why[eng.name] = None  # NaN values: the row says the run failed
                continue
            frames, thermo = res
            why[eng.name] = phase_mismatch(cond["name"], frames, atoms,
                                           f"validate.rdf.conditions[{ci}].temperature_K")
            if why[eng.name]:
                log.warning("rdf %s (%s): NOT VALID: %s", cond["name"], eng.label, why[eng.name])
            r, g = radial_distribution(frames, rmax=cfg["rmax"], nbins=cfg["nbins"])
            for pair, gv in g.items():
                out.append(pd.DataFrame({"condition": cond["name"], "engine": eng.name, "pair": "-".join(pair),
                                         "r": r, "g": gv, "valid": why[eng.name] is None}))
            peaks[eng.name] = first_peak(r, g[("all", "all")])
            Tmean = np.mean([t["temperature_K"] for t in thermo])
            pressure[eng.name] = float(np.mean([t["pressure_GPa"] for t in thermo]))
            log.info("rdf %s (%s, <T> %.0f K, <P> %.2f GPa): first peak at %.4f A, height %.4f", cond["name"],
                     eng.label, Tmean, pressure[eng.name], *peaks[eng.name])
        ref = peaks.get("oracle", (None, None))
        label = f"{cond['name']} {cond['temperature_K']:g} K"
        if "oracle" in why and why["model"] and not why["oracle"]:
            # the reference is in the named phase and the model is not: a
            # model error the comparison shows, not a failed protocol
            flags, note = (None, None), f"model: {why['model'].split(':')[0]}, where the reference did not"
        else:
            flags, note = (why["model"], why.get("oracle")), None
        rows.append(row("rdf_first_peak_position", label, peaks["model"][0], ref[0], "A", *flags, note=note))
        rows.append(row("rdf_first_peak_height", label, peaks["model"][1], ref[1], "1", *flags, note=note))
        # the pressure at the same state: a model fitted to forces at one
        # density need not get the volume derivative right
        rows.append(row("pressure", label, pressure["model"], pressure.get("oracle"), "GPa", *flags, note=note))
    return pd.concat(out, ignore_index=True), rows
