"""Phonon validation of a fixed-cell model (the force-constant expansion):
harmonic dispersion, DOS and 2nd-order force constants of the model against
the oracle's, both by phonopy's finite displacements in the model's own
supercell (:mod:`alff.analysis.phonons`). Rows in validation/summary.csv.
"""

from __future__ import annotations

import logging

import numpy as np

from ..analysis.phonons import dispersion, finite_displacement_fc, order_map, phonon_setup, total_dos
from ..oracle_cache import is_ok
from .rows import row

__all__ = ["phonon_validation", "phonon_rows"]

log = logging.getLogger("alff.validation")


def _model_forces(model, ideal):
    """``forces_of`` for phonopy: displaced supercells in phonopy's order,
    evaluated on the model's reference cell (its own atom order)."""
    ref = model.reference
    perm = order_map(ideal, ref)

    def forces_of(atoms):
        b = ref.copy()
        b.positions[perm] = ref.positions[perm] + (atoms.positions - ideal.positions)
        return np.asarray(model.predict(b, properties=("forces",))["forces"])[perm]
    return forces_of


def _oracle_forces(oracle):
    def forces_of(atoms):
        lab = oracle.label(atoms)
        if not is_ok(lab):
            raise RuntimeError(f"the oracle failed on a displaced supercell: {lab.info.get('oracle_reason', '?')}")
        return lab.get_forces()
    return forces_of


def phonon_validation(model, unit_cell, repeat, oracle, distance=0.01, mesh=(16, 16, 16)):
    """Dispersion, DOS and force constants of ``model`` and ``oracle``.

    Parameters
    ----------
    model : fitted model with a fixed ``reference`` supercell
    unit_cell : ase.Atoms
        The cell the reference repeats.
    repeat : (3,) ints
    oracle : object with ``label(atoms)`` (an :class:`~alff.oracle_cache.OracleCache`)

    Returns
    -------
    dict
        ``x``, ``special``; per side (``model``, ``oracle``) ``frequencies``
        (K, B) THz, ``dos_frequency``, ``dos``, ``fc`` (N, N, 3, 3), or
        ``error`` (str) when that side failed.
    """
    from ..analysis.phonons import _ase_atoms
    out = {}
    for side in ("model", "oracle"):
        ph = phonon_setup(unit_cell, repeat)
        ideal = _ase_atoms(ph.supercell)
        try:
            fn = _model_forces(model, ideal) if side == "model" else _oracle_forces(oracle)
            fc = finite_displacement_fc(ph, fn, distance)
        except (RuntimeError, ValueError) as err:
            log.error("phonons of the %s: %s", side, err)
            out[side] = {"error": str(err)}
            continue
        x, freqs, special = dispersion(ph)
        fq, dos = total_dos(ph, mesh)
        out.update(x=x, special=special)
        out[side] = {"frequencies": freqs, "dos_frequency": fq, "dos": dos, "fc": fc,
                     "n_displacements": len(ph.supercells_with_displacements)}
        log.info("phonons of the %s: %d displaced supercells, highest frequency %.3f THz, lowest %.3f THz", side,
                 out[side]["n_displacements"], freqs.max(), freqs.min())
    return out


def _at(res, side, x0):
    k = int(np.argmin(np.abs(np.asarray(res["x"]) - x0)))
    return res[side]["frequencies"][k]


def phonon_rows(res):
    """Summary rows: the highest frequency at each special point, the lowest
    over the path (negative: an imaginary mode), the DOS mean frequency, the
    RMS frequency difference and the force constants' relative difference.
    """
    m_err, o_err = res["model"].get("error"), res["oracle"].get("error")
    if "x" not in res:
        return [row("phonon frequencies", "harmonic", float("nan"), float("nan"), "THz", m_err, o_err)]
    rows, seen = [], set()
    for x0, label in res["special"]:
        if label in seen:
            continue
        seen.add(label)
        fm = float("nan") if m_err else float(np.max(_at(res, "model", x0)))
        fo = float("nan") if o_err else float(np.max(_at(res, "oracle", x0)))
        name = "Gamma" if label == "G" else label
        rows.append(row(f"highest phonon frequency at {name}", "harmonic", fm, fo, "THz", m_err, o_err))
    low = [float("nan") if res[s].get("error") else float(np.min(res[s]["frequencies"])) for s in ("model", "oracle")]
    rows.append(row("lowest phonon frequency on the path", "harmonic", low[0], low[1], "THz", m_err, o_err,
                    note="negative: an imaginary (unstable) mode" if min(low) < -0.05 else None))
    mean = []
    for s in ("model", "oracle"):
        d = res[s]
        mean.append(float("nan") if d.get("error") else
                    float(np.trapezoid(d["dos"] * d["dos_frequency"], d["dos_frequency"])
                          / np.trapezoid(d["dos"], d["dos_frequency"])))
    rows.append(row("phonon DOS mean frequency", "harmonic", mean[0], mean[1], "THz", m_err, o_err))
    if not (m_err or o_err):
        fm, fo = res["model"]["frequencies"], res["oracle"]["frequencies"]
        rms = float(np.sqrt(np.mean((fm - fo) ** 2)))
        rows.append(row("RMS phonon frequency difference over the path", "harmonic", rms, None, "THz",
                        note=f"{100 * rms / float(np.max(fo)):.1f} % of the oracle's highest frequency"))
        dfc = res["model"]["fc"] - res["oracle"]["fc"]
        rel = float(np.linalg.norm(dfc) / np.linalg.norm(res["oracle"]["fc"]))
        rows.append(row("relative RMS difference of the 2nd-order force constants", "finite differences", rel, None, "",
                        note="||Phi_model - Phi_oracle|| / ||Phi_oracle|| over the supercell"))
    return rows
