"""Vacancy-mediated self-diffusion at several temperatures, the MSD and an
Arrhenius fit, with the model and the reference (rule diffusion)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..analysis import arrhenius_fit, diffusion_coefficient, mean_squared_displacement, unwrap_positions
from .engines import guarded, sample_md
from .rows import row
from .setups import vacancy_hop

__all__ = ["diffusion_validation"]

log = logging.getLogger("alff.validate")


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
        engine, temperature_K, mean_T_K, D, D_err (A^2/ps)
    fits : dict
        engine -> arrhenius_fit result
    rows : list of dict
    """
    start, _ = vacancy_hop(element, a, cfg["repeat"])
    dt_ps = cfg["timestep_fs"] * cfg["every"] * 1e-3
    msd_tables, coeffs, fits = [], [], {}
    for eng in engines:
        for ti, T in enumerate(cfg["temperatures"]):
            res = guarded(lambda: sample_md(start, eng, T, cfg["timestep_fs"], cfg["equilibrate_steps"], cfg["steps"],
                                            cfg["every"], seed + ti, progress_label=f"diffusion {T:g} K {eng.name}"),
                          eng, f"diffusion {T:g} K")
            if res is None:
                coeffs.append({"engine": eng.name, "temperature_K": T, "mean_T_K": np.nan, "D": np.nan,
                               "D_err": np.nan})
                continue
            frames, thermo = res
            x = unwrap_positions(np.array([f.positions for f in frames]), frames[0].cell[:])
            D, D_err = diffusion_coefficient(x, dt_ps, n_blocks=cfg["blocks"])
            msd = mean_squared_displacement(x)
            msd_tables.append(pd.DataFrame({"engine": eng.name, "temperature_K": T,
                                            "time_ps": np.arange(len(msd)) * dt_ps, "msd": msd}))
            Tmean = float(np.mean([t["temperature_K"] for t in thermo]))
            coeffs.append({"engine": eng.name, "temperature_K": T, "mean_T_K": Tmean, "D": D, "D_err": D_err})
            log.info("diffusion %s %g K (<T> %.0f K): D = %.3g +- %.2g A^2/ps", eng.label, T, Tmean, D, D_err)
        c = pd.DataFrame([r for r in coeffs if r["engine"] == eng.name])
        ok = c["D"] > 0
        if ok.sum() >= 2:
            err = c["D_err"].where(np.isfinite(c["D_err"]) & (c["D_err"] > 0))
            fits[eng.name] = arrhenius_fit(c["temperature_K"][ok], c["D"][ok],
                                           None if err[ok].isna().any() else err[ok])
            log.info("arrhenius %s: Ea = %.4f +- %.4f eV", eng.label, fits[eng.name]["Ea"], fits[eng.name]["Ea_err"])
        else:
            log.warning("arrhenius %s: fewer than two temperatures with D > 0 (run longer or hotter)", eng.label)
    coeffs = pd.DataFrame(coeffs)
    rows = []
    for T in cfg["temperatures"]:
        val = {e: coeffs[(coeffs.engine == e) & (coeffs.temperature_K == T)]["D"] for e in ("model", "oracle")}
        rows.append(row("vacancy_diffusion_D", f"{T:g} K; 1 vacancy in {len(start) + 1} sites",
                        val["model"].iloc[0], val["oracle"].iloc[0] if len(val["oracle"]) else None, "A^2/ps"))
    # NaN when fewer than two temperatures gave D > 0
    rows.append(row("vacancy_diffusion_Ea", f"{min(cfg['temperatures']):g}-{max(cfg['temperatures']):g} K",
                    fits.get("model", {}).get("Ea", np.nan), fits.get("oracle", {}).get("Ea"), "eV"))
    return pd.concat(msd_tables, ignore_index=True), coeffs, fits, rows
