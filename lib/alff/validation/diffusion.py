"""Vacancy-mediated self-diffusion at several temperatures, the MSD and an
Arrhenius fit, with the model and the reference (rule diffusion).

A D is valid only when the vacancy jumped often enough
(``validate.diffusion.min_jumps``; too few jumps give a MSD slope of
thermal noise, which can be negative) and is positive; a run short of
jumps goes on in chunks of ``steps`` up to ``max_steps`` first. The
activation energy is fitted to the valid temperatures only and is valid
when at least two are left and it is positive by more than twice its
error bar.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..analysis import arrhenius_fit, diffusion_coefficient, mean_squared_displacement, unwrap_positions
from ..analysis.diffusion import site_jumps
from .engines import guarded, sample_md
from .rows import row
from .setups import bulk_cell, vacancy_hop

__all__ = ["diffusion_validation", "diffusion_run", "diffusion_validity", "arrhenius_validity"]

log = logging.getLogger("alff.validate")
KEY = "validate.diffusion"


def diffusion_run(start, sites, eng, T, cfg, seed):
    """One temperature: MD until ``min_jumps`` vacancy jumps or
    ``max_steps``, then D.

    Parameters
    ----------
    start : ase.Atoms
        The cell with one vacancy.
    sites : (N + 1, 3) the ideal lattice sites of the cell
    eng : Engine
    T : float
    cfg : dict
        The ``validate.diffusion`` section.
    seed : int

    Returns
    -------
    dict or None
        ``frames``, ``thermo``, ``unwrapped`` (T, N, 3), ``D``, ``D_err`` (A^2/ps), ``jumps``,
        ``steps``, ``invalid`` (None or the reason); None when the model
        left its mapped range.
    """
    max_steps = cfg.get("max_steps") or 2 * cfg["steps"]
    min_jumps = cfg.get("min_jumps", 1)
    label = f"diffusion {T:g} K {eng.name}"
    res = guarded(lambda: sample_md(start, eng, T, cfg["timestep_fs"], cfg["equilibrate_steps"], cfg["steps"],
                                    cfg["every"], seed, progress_label=label), eng, f"diffusion {T:g} K")
    if res is None:
        return None
    frames, thermo = res
    steps = cfg["steps"] // cfg["every"] * cfg["every"]
    cell = frames[0].cell[:]
    jumps = site_jumps(np.array([f.positions for f in frames]), sites, cell)
    chunk = 1
    # each extension counts only its own jumps (from the last frame before it on)
    while jumps < min_jumps and steps + cfg["steps"] <= max_steps:
        log.info("%s: %d vacancy jumps in %d steps (%d needed): running on for %d steps", label, jumps, steps,
                 min_jumps, cfg["steps"])
        more = guarded(lambda: sample_md(frames[-1], eng, T, cfg["timestep_fs"], 0, cfg["steps"], cfg["every"],
                                         seed + 1000 * chunk, progress_label=label, keep_momenta=True),
                       eng, f"diffusion {T:g} K")
        if more is None:
            return None
        jumps += site_jumps(np.array([f.positions for f in [frames[-1]] + more[0][1:]]), sites, cell)
        frames += more[0][1:]
        thermo += more[1][1:]
        steps += cfg["steps"] // cfg["every"] * cfg["every"]
        chunk += 1
    dt_ps = cfg["timestep_fs"] * cfg["every"] * 1e-3
    x = unwrap_positions(np.array([f.positions for f in frames]), cell)
    D, D_err = diffusion_coefficient(x, dt_ps, n_blocks=cfg["blocks"])
    return {"frames": frames, "thermo": thermo, "unwrapped": x, "D": D, "D_err": D_err, "jumps": jumps,
            "steps": steps, "invalid": diffusion_validity(D, jumps, min_jumps, steps * cfg["timestep_fs"] * 1e-3)}


def diffusion_validity(D, jumps, min_jumps, time_ps):
    """None when a D from ``jumps`` vacancy jumps in ``time_ps`` is a
    measurement, else the reason."""
    if jumps < min_jumps:
        return (f"only {jumps} vacancy jumps in {time_ps:.0f} ps ({min_jumps} needed, {KEY}.min_jumps): run "
                f"hotter ({KEY}.temperatures) or longer ({KEY}.steps, max_steps)")
    if not D > 0:
        return f"D = {D:.3g} A^2/ps is not positive ({jumps} jumps): run longer ({KEY}.steps)"
    return None


def arrhenius_validity(fit, n_valid):
    """None when an Arrhenius fit of ``n_valid`` valid temperatures is a
    measurement, else the reason (``fit['weighted']``: fitted with the D
    error bars)."""
    if n_valid < 2:
        return f"fewer than two temperatures with a valid D ({n_valid})"
    if (n_valid == 2 and not fit.get("weighted", True)) or not (np.isfinite(fit["Ea_err"]) and fit["Ea_err"] > 0):
        # a line through two points without error bars has no error
        return (f"Ea = {fit['Ea']:.3f} eV has no error bar ({n_valid} temperatures, D without error bars): more "
                f"{KEY}.blocks or temperatures")
    if not fit["Ea"] > 2.0 * fit["Ea_err"]:
        return (f"Ea = {fit['Ea']:.3f} +- {fit['Ea_err']:.3f} eV is not positive by two error bars: more jumps "
                f"per temperature or a wider range of {KEY}.temperatures")
    return None


def diffusion_validation(cfg, element, a, engines, seed=0):
    """MSD and D of a supercell with one vacancy at each temperature.

    D is the atoms' mean self-diffusion coefficient at the cell's vacancy
    concentration 1/N (so its activation energy is the vacancy migration
    energy), from the MSD slope, with block error bars.

    Parameters
    ----------
    cfg : dict
        The ``validate.diffusion`` section.
    engines : list of Engine

    Returns
    -------
    msd : pandas.DataFrame
        engine, temperature_K, time_ps, msd (A^2)
    coefficients : pandas.DataFrame
        engine, temperature_K, mean_T_K, D, D_err (A^2/ps), jumps, steps,
        valid, note
    fits : dict
        engine -> arrhenius_fit result of its valid temperatures, plus
        ``valid`` and ``note``
    rows : list of dict
    """
    start, _ = vacancy_hop(element, a, cfg["repeat"])
    sites = bulk_cell(element, a, cfg["repeat"]).positions
    dt_ps = cfg["timestep_fs"] * cfg["every"] * 1e-3
    msd_tables, coeffs, fits = [], [], {}
    for eng in engines:
        for ti, T in enumerate(cfg["temperatures"]):
            r = diffusion_run(start, sites, eng, T, cfg, seed + ti)
            if r is None:
                coeffs.append({"engine": eng.name, "temperature_K": T, "mean_T_K": np.nan, "D": np.nan,
                               "D_err": np.nan, "jumps": -1, "steps": 0, "valid": False,
                               "note": "the model left its range (see the log)"})
                continue
            msd = mean_squared_displacement(r["unwrapped"])
            msd_tables.append(pd.DataFrame({"engine": eng.name, "temperature_K": T,
                                            "time_ps": np.arange(len(msd)) * dt_ps, "msd": msd}))
            Tmean = float(np.mean([t["temperature_K"] for t in r["thermo"]]))
            coeffs.append({"engine": eng.name, "temperature_K": T, "mean_T_K": Tmean, "D": r["D"],
                           "D_err": r["D_err"], "jumps": r["jumps"], "steps": r["steps"],
                           "valid": r["invalid"] is None, "note": r["invalid"] or ""})
            log.info("diffusion %s %g K (<T> %.0f K): D = %.3g +- %.2g A^2/ps from %d vacancy jumps in %d steps%s",
                     eng.label, T, Tmean, r["D"], r["D_err"], r["jumps"], r["steps"],
                     f" -- NOT VALID: {r['invalid']}" if r["invalid"] else "")
        c = pd.DataFrame([r for r in coeffs if r["engine"] == eng.name])
        ok = c["valid"].to_numpy(bool)
        if ok.sum() >= 2:
            err = c["D_err"].where(np.isfinite(c["D_err"]) & (c["D_err"] > 0))
            weighted = not err[ok].isna().any()
            fit = dict(arrhenius_fit(c["temperature_K"][ok], c["D"][ok], err[ok] if weighted else None),
                       weighted=weighted)
        else:
            fit = {"Ea": np.nan, "Ea_err": np.nan, "D0": np.nan, "lnD0_err": np.nan}
        why = arrhenius_validity(fit, int(ok.sum()))
        fits[eng.name] = dict(fit, valid=why is None, note=why or "", n_temperatures=int(ok.sum()))
        if why:
            log.warning("arrhenius %s: NOT VALID: %s", eng.label, why)
        else:
            log.info("arrhenius %s: Ea = %.4f +- %.4f eV from %d temperatures", eng.label, fit["Ea"], fit["Ea_err"],
                     ok.sum())
    coeffs = pd.DataFrame(coeffs)
    rows = []
    for T in cfg["temperatures"]:
        sel = {e: coeffs[(coeffs.engine == e) & (coeffs.temperature_K == T)] for e in ("model", "oracle")}
        m, o = sel["model"].iloc[0], (sel["oracle"].iloc[0] if len(sel["oracle"]) else None)
        rows.append(row("vacancy_diffusion_D", f"{T:g} K; 1 vacancy in {len(start) + 1} sites", m["D"],
                        None if o is None else o["D"], "A^2/ps", m["note"] or None,
                        None if o is None else (o["note"] or None)))
    fm, fo = fits["model"], fits.get("oracle")
    rows.append(row("vacancy_diffusion_Ea", f"{min(cfg['temperatures']):g}-{max(cfg['temperatures']):g} K",
                    fm["Ea"], None if fo is None else fo["Ea"], "eV", fm["note"] or None,
                    None if fo is None else (fo["note"] or None)))
    msd = pd.concat(msd_tables, ignore_index=True) if msd_tables else pd.DataFrame(
        columns=["engine", "temperature_K", "time_ps", "msd"])
    return msd, coeffs, fits, rows
