"""Temperatures relative to the melting point, and the oracle's melting point.

A material-dependent temperature key (the exploration schedule, the RDF
conditions, the diffusion temperatures, the melting windows) takes either a
number in K or a string ``"<factor> Tm"`` (``"1.6 Tm"``, ``"0.75*Tm"``,
``"Tm"``): the factor times ``system.melting_point_K``. The strings are
replaced by kelvin when the config is resolved, so every rule and script
reads numbers; each replacement is recorded in
``results/<run>/resolved_config.yaml``.

``system.melting_point_K: null`` with a key that uses ``Tm`` means the
oracle's own melting point of fcc ``system.element``, estimated at config
time for the cheap oracles (``emt``, ``lj``) only; for ``gpaw`` and
``calculator`` it is required. The estimate (:func:`estimate_melting_point`)
is the melting validation's protocol, shortened, run with the oracle's
reference engine (:func:`alff.validation.engines.reference_engine`, choice
``auto``: asap3's compiled EMT for a plain EMT oracle when installed, else
the oracle through ASE), all at zero pressure (Berendsen barostat):

1. a heating ramp of 108 atoms (:func:`alff.validation.melting.heating_ramp`)
   over 0.02-0.14 E_coh / k_B in 14 stages (E_coh: the oracle's energy of an
   isolated atom minus that of the crystal), whose q6 transition (a
   superheated upper bound) starts
2. a solid-liquid coexistence of 288 atoms
   (:func:`alff.validation.melting.coexistence`) from 0.8 x that, retried 10%
   colder or hotter when one phase takes over, at most 3 runs.

A coexistence in which one phase vanished every time gives no number: the
melting point is then required. An estimate is cached on disk
(``melting_<hash>.json`` next to the lattice fits, keyed by the oracle
section, element, crystal, lattice constant, engine and protocol) and in
memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["parse_temperature", "temperature_keys", "resolve_temperatures", "estimate_melting_point",
           "MeltingPointError", "METHOD"]

log = logging.getLogger("alff.defaults")

METHOD = ("Tm estimate v1: zero pressure; ramp 3x3x3 fcc, 14 stages x 400 steps of 2 fs over 0.02-0.14 E_coh/kB "
          "(q6 transition); NVE coexistence 3x3x8 from 0.8 x ramp Tm, melt at 2 x ramp Tm, 6000 steps, "
          "<= 3 attempts +-10%")
#: the protocol (sections as :mod:`alff.validation.melting` reads them)
PROTOCOL = {
    "timestep_fs": 2.0, "pressure_GPa": 0.0,
    "ramp": {"repeat": [3, 3, 3], "stages": 14, "stage_steps": 400, "T_lo": 0.02, "T_hi": 0.14},
    "coexistence": {"repeat": [3, 3, 8], "guess_factor": 0.8, "melt_factor": 2.0, "melt_steps": 1000,
                    "prep_steps": 500, "steps": 6000, "every": 60, "discard": 0.3, "attempts": 3,
                    "retry_step": 0.1},
}
_MEMO = {}
_SYNTAX = re.compile(r"^\s*(?:(?P<f>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*?\s*)?Tm\s*$")
_NUMBER = re.compile(r"^\s*[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?\s*$")


class MeltingPointError(ValueError):
    """The estimate's protocol did not give a melting point (the reason)."""


# ----------------------------------------------------------------- syntax
def parse_temperature(value, key):
    """A temperature setting: a number (K) or ``"<factor> Tm"``.

    Parameters
    ----------
    value : float, int or str
        ``2000``, ``"2000"``, ``"1.6 Tm"``, ``"1.6Tm"``, ``"1.6*Tm"``, ``"Tm"``.
    key : str
        Config key path, for the error message.

    Returns
    -------
    (kind, number) : ('K', kelvin) or ('Tm', factor)

    Raises
    ------
    ValueError
        Neither a positive number nor a positive factor of Tm; the message
        names ``key``.
    """
    if isinstance(value, bool):
        raise ValueError(f"{key}: {value!r} is not a temperature (a number in K, or '<factor> Tm' such as "
                         "'1.6 Tm')")
    if isinstance(value, (int, float)):
        kind, x = "K", float(value)
    elif isinstance(value, str) and _NUMBER.match(value):
        kind, x = "K", float(value)
    elif isinstance(value, str) and _SYNTAX.match(value):
        f = _SYNTAX.match(value).group("f")
        kind, x = "Tm", float(f) if f is not None else 1.0
    else:
        raise ValueError(f"{key}: {value!r} is not a temperature: give a number in K (2000) or a multiple of "
                         "the melting point system.melting_point_K as '<factor> Tm' ('1.6 Tm', '0.75 Tm')")
    if not np.isfinite(x) or x < 0 or (kind == "Tm" and x == 0):
        raise ValueError(f"{key}: {value!r}: a temperature must be positive")
    return kind, x


def temperature_keys(cfg):
    """Every material-dependent temperature setting of ``cfg``.

    Returns
    -------
    list of (key path, container, name)
        ``container[name]`` is the value (dicts and lists, changed in place
        by :func:`resolve_temperatures`).
    """
    out = []

    def schedule(prefix, explore):
        for k, seg in enumerate((explore or {}).get("schedule") or []):
            if isinstance(seg, dict) and "temperature_K" in seg:
                out.append((f"{prefix}.schedule[{k}].temperature_K", seg, "temperature_K"))

    schedule("explore", cfg["explore"])
    for name, sc in cfg["schemes"].items():
        schedule(f"schemes.{name}.explore", (sc or {}).get("explore"))
    v = cfg["validate"]
    for k, c in enumerate(v["rdf"]["conditions"]):
        out.append((f"validate.rdf.conditions[{k}].temperature_K", c, "temperature_K"))
    temps = v["diffusion"]["temperatures"]
    out += [(f"validate.diffusion.temperatures[{k}]", temps, k) for k in range(len(temps))]
    ramp, coex = v["melting"]["ramp"], v["melting"]["coexistence"]
    out += [("validate.melting.ramp.T_start", ramp, "T_start"), ("validate.melting.ramp.T_end", ramp, "T_end"),
            ("validate.melting.coexistence.melt_T", coex, "melt_T")]
    if coex.get("T_guess") is not None:
        out.append(("validate.melting.coexistence.T_guess", coex, "T_guess"))
    return out


# ------------------------------------------------------------- resolution
def resolve_temperatures(cfg, res, cache_dir=None):
    """Replace every ``"<factor> Tm"`` temperature by kelvin, estimating
    ``system.melting_point_K`` from the oracle when it is null and needed.

    Parameters
    ----------
    cfg : dict
        The validated config, lattice constant resolved (changed in place).
    res : alff.defaults.Resolution
    cache_dir : str or Path, optional
        Where estimates are cached (None - in memory only).

    Returns
    -------
    list of str
        Errors naming the key.
    """
    errs, relative = [], []
    for key, box, name in temperature_keys(cfg):
        try:
            kind, x = parse_temperature(box[name], key)
        except ValueError as err:
            errs.append(str(err))
            continue
        if kind == "K":
            if isinstance(box[name], str):
                box[name] = x  # "2000" from --config; numbers stay as written (params unchanged)
        else:
            relative.append((key, box, name, x))
    if errs:
        return errs
    if not relative:
        return _window_errors(cfg)
    errs = _relative_errors(cfg, [r[0] for r in relative])
    if errs:
        return errs
    Tm = cfg["system"]["melting_point_K"]
    if Tm is None:
        try:
            est = estimate_melting_point(cfg["oracle"], cfg["system"]["element"], cache_dir)
        except (MeltingPointError, ValueError) as err:
            return [f"system.melting_point_K: required, since {_keys(relative)} use 'Tm', and the oracle's melting "
                    f"point could not be estimated: {err}. Set system.melting_point_K (K)"]
        Tm = cfg["system"]["melting_point_K"] = round(est["Tm"], 1)
        res.note("system.melting_point_K", Tm, "oracle", describe(est))
        log.info("system.melting_point_K = %.0f K (%s)", Tm, describe(est))
    else:
        res.note("system.melting_point_K", Tm, "config", "given")
    for key, box, name, f in relative:
        box[name] = round(f * Tm, 1)
        res.note(key, box[name], "system.melting_point_K", f"'{f:g} Tm' = {f:g} x {Tm:g} K")
    return _window_errors(cfg)


def _keys(relative):
    keys = [r[0] for r in relative]
    return ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")


def _relative_errors(cfg, keys):
    """Why 'Tm' cannot be resolved here (expensive oracle, no element)."""
    s, kind = cfg["system"], cfg["oracle"]["kind"]
    shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
    errs = []
    other = cfg["validate"]["element"]
    if other and other != s["element"] and any(k.startswith("validate.") for k in keys):
        errs.append(f"validate: temperatures relative to Tm ({shown}) are relative to system.element "
                    f"{s['element']}'s melting point, but validate.element is {other}: give them in K")
    if s["melting_point_K"] is not None:
        return errs
    from .defaults import CHEAP_KINDS
    if kind not in CHEAP_KINDS:
        errs.append(f"system.melting_point_K: required with oracle.kind '{kind}', since {shown} use 'Tm': alff "
                    "estimates the oracle's melting point only for the cheap oracles emt and lj, since the estimate "
                    "runs thousands of MD steps with the oracle while Snakemake parses the workflow. Set it (K), "
                    "e.g. from a coexistence run with this oracle or a published value for it")
    elif s["kind"] == "file":
        errs.append(f"system.melting_point_K: required with system.kind 'file', since {shown} use 'Tm' (the "
                    "estimate needs one element and its fcc crystal)")
    elif s["crystal"] != "fcc":
        errs.append(f"system.melting_point_K: required with system.crystal '{s['crystal']}', since {shown} use "
                    "'Tm': the estimate (q6 solid fraction) is written for fcc crystals")
    return errs


def _window_errors(cfg):
    ramp = cfg["validate"]["melting"]["ramp"]
    if cfg["validate"]["melting"]["enabled"] and not ramp["T_start"] < ramp["T_end"]:
        return [f"validate.melting.ramp: T_start ({ramp['T_start']:g} K) must be below T_end "
                f"({ramp['T_end']:g} K)"]
    return []


def describe(est):
    """One line: how the estimate was made, what it cost, where it is kept."""
    # the same words whether just computed or read from the cache (the text
    # goes into resolved_config.yaml, which must not change between parses)
    where = f"cache {est['cache']}" if est.get("cache") else "not cached on disk"
    return (f"oracle melting-point estimate of fcc {est['element']} with {est['engine']}: {est['Tm']:.0f} +- "
            f"{est['Tm_err']:.0f} K (solid-liquid coexistence of {est['n_atoms']} atoms at zero pressure, attempt "
            f"{est['attempt']}; heating ramp {est['ramp_Tm']:.0f} K; {est['seconds']:.0f} s; {where})")


# --------------------------------------------------------------- estimate
def _cache_key(oracle_cfg, element, a, engine):
    import ase
    blob = json.dumps({"oracle": {k: oracle_cfg.get(k) for k in ("kind", "params", "calculator")},
                       "element": element, "crystal": "fcc", "a": round(float(a), 4), "engine": engine,
                       "method": METHOD, "ase": ase.__version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cohesive_energy(oracle_cfg, element, a):
    """The oracle's energy of an isolated atom minus that of the fcc
    crystal at ``a``, per atom (eV): the energy scale of the ramp window."""
    from ase import Atoms
    from ase.build import bulk

    from .oracle import Oracle
    calc = Oracle.from_config(oracle_cfg).make_calculator()
    atom = Atoms(element, positions=[[0.0, 0.0, 0.0]], cell=[20.0] * 3, pbc=True)
    atom.calc = calc
    e_atom = atom.get_potential_energy()
    crystal = bulk(element, "fcc", a=a)
    crystal.calc = Oracle.from_config(oracle_cfg).make_calculator()
    e = e_atom - crystal.get_potential_energy() / len(crystal)
    if not (np.isfinite(e) and e > 0):
        raise MeltingPointError(f"the oracle does not bind fcc {element} (cohesive energy {e:.3g} eV)")
    return float(e)


def estimate_melting_point(oracle_cfg, element, cache_dir=None, protocol=None):
    """The oracle's melting point of fcc ``element`` at zero pressure.

    Parameters
    ----------
    oracle_cfg : dict
        The ``oracle`` section (a cheap kind: emt, lj).
    element : str
    cache_dir : str or Path, optional
        Where estimates are kept (``melting_<hash>.json``); None - in memory.
    protocol : dict, optional
        Replaces :data:`PROTOCOL` (tests, longer checks); not cached on disk.

    Returns
    -------
    dict
        ``Tm``, ``Tm_err`` (K), ``ramp_Tm`` (K), ``a`` (A), ``E_coh`` (eV),
        ``engine``, ``n_atoms``, ``attempt``, ``attempts`` (each run's start,
        Tm and solid-fraction range), ``seconds``, ``method``, ``cache``,
        ``cached``.

    Raises
    ------
    MeltingPointError
        The protocol gave no melting point (no transition in the ramp, or
        one phase vanished in every coexistence run): the reason.
    """
    from .defaults import fitted_lattice_constant
    from .jobs import read_json, write_json
    from .validation.engines import reference_engine
    a = round(fitted_lattice_constant(oracle_cfg, element, "fcc", cache_dir)["a"], 4)
    engine = reference_engine(oracle_cfg, "auto", "system.melting_point_K")
    key = _cache_key(oracle_cfg, element, a, engine.label)
    path = Path(cache_dir) / f"melting_{key}.json" if cache_dir and protocol is None else None
    if protocol is None and key in _MEMO:
        return dict(_MEMO[key], cached=True)
    if path is not None and path.exists():
        try:
            out = read_json(path)
            if out.get("method") == METHOD and out.get("element") == element:
                _MEMO[key] = dict(out, cache=str(path))
                return dict(_MEMO[key], cached=True)
        except (OSError, ValueError):
            pass  # an unreadable cache entry is recomputed
    msg = f"estimating the oracle's melting point of fcc {element} with {engine.label} ({METHOD}); once, then cached"
    log.info(msg)
    if not logging.getLogger().handlers:  # while Snakemake parses the workflow: say why it pauses
        print(f"config: {msg}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    out = _run(oracle_cfg, element, a, engine, protocol or PROTOCOL)
    out.update(element=element, crystal="fcc", a=a, engine=engine.label, method=METHOD,
               oracle={k: oracle_cfg.get(k) for k in ("kind", "params")}, seconds=time.perf_counter() - t0)
    if path is not None:
        write_json(path, out)
    if protocol is None:
        _MEMO[key] = dict(out, cache=str(path) if path else None)
    return dict(out, cache=str(path) if path else None, cached=False)


def _run(oracle_cfg, element, a, engine, p):
    """Ramp, then coexistence runs; the result dict (without provenance)."""
    from ase.units import kB

    from .validation.melting import coexistence, heating_ramp
    from .validation.setups import bulk_cell, shell_cutoff
    e_coh = cohesive_energy(oracle_cfg, element, a)
    qc = shell_cutoff(a)
    common = {"timestep_fs": p["timestep_fs"], "pressure_GPa": p["pressure_GPa"]}
    r = p["ramp"]
    ramp_cfg = dict(common, repeat=r["repeat"], stages=r["stages"], stage_steps=r["stage_steps"],
                    T_start=r["T_lo"] * e_coh / kB, T_end=r["T_hi"] * e_coh / kB)
    _, ramp = heating_ramp(bulk_cell(element, a, r["repeat"]), engine, ramp_cfg, qc)
    T_ramp = ramp["Tm_structure"]
    if not np.isfinite(T_ramp):
        raise MeltingPointError(f"the heating ramp of {len(bulk_cell(element, a, r['repeat']))} atoms saw no "
                                f"melting between {ramp_cfg['T_start']:.0f} and {ramp_cfg['T_end']:.0f} K "
                                f"({ramp['invalid']['q6']})")
    c = p["coexistence"]
    cc = dict(common, repeat=c["repeat"], melt_T=c["melt_factor"] * T_ramp, melt_steps=c["melt_steps"],
              prep_steps=c["prep_steps"], steps=c["steps"], every=c["every"], discard=c["discard"])
    T0, runs = c["guess_factor"] * T_ramp, []
    for attempt in range(c["attempts"]):
        table, res = coexistence(bulk_cell(element, a, c["repeat"]), engine, cc, T0, qc, seed=attempt)
        runs.append({"T_start": round(T0, 1), "Tm": res["Tm"], "Tm_err": res["Tm_err"],
                     "solid_fraction_range": list(res["solid_fraction_range"])})
        if res["coexisting"]:
            return {"Tm": float(res["Tm"]), "Tm_err": float(res["Tm_err"]), "ramp_Tm": float(T_ramp),
                    "E_coh": e_coh, "n_atoms": len(bulk_cell(element, a, c["repeat"])),
                    "attempt": attempt + 1, "attempts": runs}
        tail = table["solid_fraction"].to_numpy()[int(c["discard"] * len(table)):]
        T0 *= (1.0 - c["retry_step"]) if tail.mean() < 0.5 else (1.0 + c["retry_step"])
        log.info("melting-point estimate: one phase vanished (%s); retry from %.0f K", res["invalid"], T0)
    raise MeltingPointError(f"one phase vanished in each of {len(runs)} coexistence runs of "
                            f"{len(bulk_cell(element, a, c['repeat']))} atoms (starts "
                            f"{', '.join('%.0f' % x['T_start'] for x in runs)} K; last: {res['invalid']})")
