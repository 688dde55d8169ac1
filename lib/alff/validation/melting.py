"""Melting point by a heating ramp and by solid-liquid coexistence, with the
model and the reference under the same protocol (rule melting)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from ase import units
from ase.constraints import FixAtoms

from ..analysis import coexistence_temperature, ramp_transition, solid_fraction
from ..analysis.melting import coexistence_validity, ramp_validity
from ..md import MD
from .engines import guarded
from .rows import row
from .setups import bulk_cell, shell_cutoff

__all__ = ["heating_ramp", "coexistence", "melting_validation"]

log = logging.getLogger("alff.validate")
# progress lines: the log file, and the terminal at a steady rate (alff.jobs.job)
progress = logging.getLogger("alff.progress.validate")


def _solid_fraction(atoms, q_cutoff, volume0):
    """:func:`solid_fraction` with the cutoff scaled to the cell's density
    (a barostat expands the hot cell; a fixed cutoff would then cut the
    first shell of the crystal, or reach beyond it in a compressed one)."""
    return solid_fraction(atoms, q_cutoff * (atoms.get_volume() / volume0) ** (1.0 / 3.0))


def heating_ramp(atoms, engine, cfg, q_cutoff, seed=0):
    """Heat in stages (Bussi thermostat; constant volume unless
    ``pressure_GPa``) and locate the transition from the potential energy
    (two-branch fit) and from the solid fraction (q6).

    Parameters
    ----------
    atoms : ase.Atoms
    engine : Engine
    cfg : dict
        The ``validate.melting.ramp`` section plus ``timestep_fs``,
        ``pressure_GPa``.
    q_cutoff : float
        Neighbour cutoff of the order parameter (A) at the volume of
        ``atoms`` (scaled with the cell's volume along the run).

    Returns
    -------
    table : pandas.DataFrame
        One row per stage: T_set, T (mean), epot (eV/atom, mean over the
        stage's second half), solid_fraction (end of the stage).
    result : dict
        ``ramp_transition`` result plus ``Tm_structure`` (K, where the solid
        fraction falls through 1/2).
    """
    a = atoms.copy()
    a.set_momenta(np.zeros((len(a), 3)))
    temps = np.linspace(cfg["T_start"], cfg["T_end"], cfg["stages"])
    md = MD(a, engine.make(), timestep_fs=cfg["timestep_fs"], ensemble="bussi", temperature_K=temps[0],
            pressure_GPa=cfg.get("pressure_GPa"), seed=seed)
    n = cfg["stage_steps"]
    every = max(n // 10, 1)
    table = []
    for k, T in enumerate(temps):
        md.T = float(T)
        rows = md.run(n, thermo_every=every)[1:]
        half = rows[len(rows) // 2:]
        table.append({"T_set": T, "T": np.mean([r["temperature_K"] for r in half]),
                      "epot": np.mean([r["potential_energy_eV"] for r in half]) / len(a),
                      "volume": np.mean([r["volume_A3"] for r in half]) / len(a),
                      "solid_fraction": _solid_fraction(a, q_cutoff, atoms.get_volume())[0]})
        progress.info("melting ramp %s: stage %d/%d, T_set %.0f K, <T> %.0f K, Epot %.4f eV/atom, solid fraction %.2f",
                      engine.label, k + 1, len(temps), T, table[-1]["T"], table[-1]["epot"],
                      table[-1]["solid_fraction"])
    table = pd.DataFrame(table)
    res = ramp_transition(table["T_set"].to_numpy(), table["epot"].to_numpy())
    f = table["solid_fraction"].to_numpy()
    k = np.flatnonzero(f < 0.5)
    if len(k) and k[0] > 0:
        i = k[0]
        res["Tm_structure"] = float(np.interp(0.5, [f[i], f[i - 1]], [temps[i], temps[i - 1]]))
    else:
        res["Tm_structure"] = float("nan")
    res["invalid"] = ramp_validity(temps, f, res)
    log.info("ramp %s: Tm %.0f +- %.0f K (energy), %.0f K (q6), latent heat %.4f eV/atom", engine.label, res["Tm"],
             res["Tm_err"], res["Tm_structure"], res["latent_heat"])
    for what, why in res["invalid"].items():
        if why:
            log.warning("ramp %s: the %s estimate is NOT VALID: %s", engine.label, what, why)
    return table, res


def coexistence(atoms, engine, cfg, T_guess, q_cutoff, seed=0):
    """Solid-liquid coexistence in an elongated cell, integrated at
    constant energy and volume (NVE; NPH with ``pressure_GPa``).

    The crystal is equilibrated at ``T_guess``; the upper half is melted at
    ``melt_T`` and brought back to ``T_guess`` with the lower half held
    fixed (ASE Langevin with ``FixAtoms``); then the whole cell evolves at
    constant energy and its temperature relaxes to the melting point while
    both phases persist.

    Returns
    -------
    table : pandas.DataFrame
        time_ps, T, solid_fraction along the coexistence run.
    result : dict
        :func:`~alff.analysis.coexistence_temperature` result plus
        ``T_guess``.
    """
    from ase.md.langevin import Langevin

    a = atoms.copy()
    a.set_momenta(np.zeros((len(a), 3)))
    dt = cfg["timestep_fs"]
    md = MD(a, engine.make(), timestep_fs=dt, ensemble="bussi", temperature_K=T_guess,
            pressure_GPa=cfg.get("pressure_GPa"), seed=seed)
    md.run(cfg["prep_steps"], thermo_every=cfg["prep_steps"])
    z = a.get_scaled_positions()[:, 2]
    lower = z < 0.5
    b = a.copy()
    b.calc = engine.calculator()
    b.set_constraint(FixAtoms(mask=lower))
    rng = np.random.default_rng(seed)
    for what, T, steps in (("melting the upper half", cfg["melt_T"], cfg["melt_steps"]),
                           ("cooling the upper half", T_guess, cfg["prep_steps"])):
        dyn = Langevin(b, dt * units.fs, temperature_K=T, friction=0.02 / units.fs, rng=rng, fixcm=False)
        dyn.attach(lambda dyn=dyn, what=what, T=T, steps=steps: progress.info(
            "coexistence %s: %s (Langevin %.0f K) %d/%d steps", engine.label, what, T, dyn.nsteps, steps),
            interval=max(steps // 5, 1))
        dyn.run(steps)
    b.set_constraint()
    f_melt = _solid_fraction(b, q_cutoff, atoms.get_volume())[1]
    log.info("coexistence %s: after melting the upper half, solid fraction lower %.2f, upper %.2f", engine.label,
             f_melt[lower].mean(), f_melt[~lower].mean())
    c = a.copy()
    c.positions[:] = b.positions
    p = b.get_momenta()
    m = c.get_masses()[lower]
    p[lower] = rng.normal(size=(int(lower.sum()), 3)) * np.sqrt(m * units.kB * T_guess)[:, None]
    c.set_momenta(p)
    nve = MD(c, engine.make(), timestep_fs=dt, ensemble="nve", temperature_K=T_guess,
             pressure_GPa=cfg.get("pressure_GPa"), barostat="anisotropic", seed=seed)
    every = cfg["every"]
    table = []

    n_rows = cfg["steps"] // every
    report_every = max(1, n_rows // 5)

    def keep(r):  # called with the atoms updated, at every `every`-th step
        table.append({"time_ps": r["time_ps"], "T": r["temperature_K"], "epot": r["potential_energy_eV"] / len(c),
                      "etot": r["total_energy_eV"] / len(c),
                      "solid_fraction": _solid_fraction(c, q_cutoff, atoms.get_volume())[0]})
        if len(table) % report_every == 0:
            progress.info("coexistence %s: NVE %d/%d steps, T %.0f K, solid fraction %.2f", engine.label,
                          len(table) * every, n_rows * every, r["temperature_K"], table[-1]["solid_fraction"])

    nve.run(cfg["steps"] // every * every, thermo_every=every, progress=keep)
    table = pd.DataFrame(table)
    res = coexistence_temperature(table["T"], table["solid_fraction"], discard=cfg["discard"])
    res["T_guess"] = float(T_guess)
    res["invalid"] = coexistence_validity(res, cfg["discard"], T_guess)
    log.info("coexistence %s: Tm %.0f +- %.0f K from T_guess %.0f K; solid fraction %.2f-%.2f%s", engine.label,
             res["Tm"], res["Tm_err"], T_guess, *res["solid_fraction_range"],
             "" if res["coexisting"] else " -- ONE PHASE VANISHED: Tm not valid (change T_guess or the size)")
    return table, res


def melting_validation(cfg, element, a, engines, seed=0):
    """Heating ramp, then coexistence started at ``guess_factor`` x the
    ramp's Tm (from q6, else the energy; each engine from its own ramp)
    unless ``T_guess`` is set. A coexistence run in which one phase takes
    over is repeated from a start ``retry_step`` colder (all melted) or
    hotter (all frozen), up to ``attempts`` runs; the last is reported.

    Returns
    -------
    ramp : pandas.DataFrame (engine + :func:`heating_ramp` columns)
    coex : pandas.DataFrame (engine + :func:`coexistence` columns)
    results : dict engine -> {"ramp": ..., "coexistence": ...}
    rows : list of dict
    """
    qc = shell_cutoff(a)
    common = {"timestep_fs": cfg["timestep_fs"], "pressure_GPa": cfg["pressure_GPa"]}
    ramps, coexs, results = [], [], {}
    nan_coex = {"Tm": np.nan, "Tm_err": np.nan, "coexisting": False, "solid_fraction_range": (np.nan, np.nan),
                "T_guess": np.nan, "attempt": 0,
                "invalid": "the model left its range during the coexistence run (see the log)"}
    cc = cfg["coexistence"]
    for eng in engines:
        res = guarded(lambda: heating_ramp(bulk_cell(element, a, cfg["ramp"]["repeat"]), eng,
                                           dict(cfg["ramp"], **common), qc, seed=seed), eng, "melting ramp")
        if res is None:
            why = "the model left its range during the ramp (see the log)"
            results[eng.name] = {"ramp": {"Tm": np.nan, "Tm_err": np.nan, "latent_heat": np.nan, "split": -1,
                                          "Tm_structure": np.nan, "invalid": {"energy": why, "q6": why}},
                                 "coexistence": dict(nan_coex, invalid="no ramp to start from")}
            continue
        t, r = res
        ramps.append(t.assign(engine=eng.name))
        results[eng.name] = {"ramp": r}
        if cc["enabled"]:
            guess = r["Tm_structure"] if np.isfinite(r["Tm_structure"]) else r["Tm"]
            T0 = cc["T_guess"] if cc["T_guess"] else cc["guess_factor"] * guess
            for attempt in range(cc["attempts"]):
                res = guarded(lambda: coexistence(bulk_cell(element, a, cc["repeat"]), eng, dict(cc, **common), T0,
                                                  qc, seed=seed + attempt), eng, "melting coexistence")
                if res is None:
                    break
                t, c = res
                c["attempt"] = attempt + 1
                tail = t["solid_fraction"].to_numpy()[int(cc["discard"] * len(t)):]
                if c["coexisting"] or attempt + 1 == cc["attempts"]:
                    break
                # one phase took over: start colder if it melted, hotter if it froze
                T0 *= (1.0 - cc["retry_step"]) if tail.mean() < 0.5 else (1.0 + cc["retry_step"])
                log.info("coexistence %s: retry from %.0f K", eng.label, T0)
            if res is None:
                results[eng.name]["coexistence"] = dict(nan_coex)
                continue
            if c["invalid"]:
                c["invalid"] += f" ({c['attempt']} of at most {cc['attempts']} attempts)"
                log.warning("coexistence %s: NOT VALID after %d attempts: %s", eng.label, c["attempt"], c["invalid"])
            coexs.append(t.assign(engine=eng.name))
            results[eng.name]["coexistence"] = c
    ref = results.get("oracle")
    cond = "constant volume" if cfg["pressure_GPa"] is None else f"{cfg['pressure_GPa']:g} GPa"
    n_ramp = len(bulk_cell(element, a, cfg["ramp"]["repeat"]))
    label = f"heating ramp; {n_ramp} atoms; {cond}"
    mr, orr = results["model"]["ramp"], ref["ramp"] if ref else None
    rows = [row(f"melting_Tm_ramp_{what}", label, mr[key], orr[key] if ref else None, "K",
                mr["invalid"][what], orr["invalid"][what] if ref else None)
            for what, key in (("energy", "Tm"), ("q6", "Tm_structure"))]
    if cfg["coexistence"]["enabled"]:
        n_c = len(bulk_cell(element, a, cfg["coexistence"]["repeat"]))
        mc, oc = results["model"]["coexistence"], ref["coexistence"] if ref else None
        rows.append(row("melting_Tm_coexistence", f"NVE coexistence; {n_c} atoms; {cond}", mc["Tm"],
                        oc["Tm"] if oc else None, "K", mc["invalid"], oc["invalid"] if oc else None))
    return (pd.concat(ramps, ignore_index=True) if ramps else pd.DataFrame(columns=["engine"]), pd.concat(coexs, ignore_index=True) if coexs else pd.DataFrame(),
            results, rows)
