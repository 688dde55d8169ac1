"""Defaults that depend on the material, resolved from the oracle at config time.

The lattice constant: ``system.a: null`` means the oracle's own, from an
energy-volume fit of the primitive cell of ``system.crystal`` (7-point
coarse scan of +-15 %, moved while the minimum is at its edge, then 9
volumes within +-3 % fitted with ASE's Birch-Murnaghan equation of state;
hcp keeps the c/a that :func:`alff.structures.build_structure` uses). The
fit runs only for cheap oracles (``emt``, ``lj``: well under a second);
for ``gpaw`` and ``calculator`` a missing lattice constant is an error,
since the fit would run the reference method while Snakemake parses the
workflow. A fit is cached on disk (JSON, keyed by a hash of the oracle
settings, element, crystal and ASE's version) and in memory.

Temperatures that depend on the material (the exploration schedule, RDF
conditions, diffusion temperatures, melting windows) may be given relative
to the melting point (``"1.6 Tm"``; :mod:`alff.melting_point`, which
estimates the oracle's when ``system.melting_point_K`` is null); when the
element is not Al and they still hold the Al values of config/config.yaml or
the schema, a warning says so and suggests that syntax.

Everything filled in, corrected or warned about is kept in a
:class:`Resolution`, which the Snakefile writes to
``results/<run>/resolved_config.yaml``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from pathlib import Path

import numpy as np

__all__ = ["CHEAP_KINDS", "AL_TEMPERATURES", "Resolution", "fitted_lattice_constant", "resolve_lattice",
           "temperature_warnings", "unbind_embedded_lattice", "write_resolved_config"]

#: oracle kinds cheap enough to run at config time
CHEAP_KINDS = ("emt", "lj")
#: relative difference between a given lattice constant and the oracle's above which a warning is given
LATTICE_WARN = 0.02
METHOD = "E-V fit v1: primitive cell, 9 volumes within +-3%, Birch-Murnaghan (ase.eos)"
# nearest-neighbour distance -> lattice constant a, per crystal
_NN_TO_A = {"fcc": 2 ** 0.5, "bcc": 2 / 3 ** 0.5, "sc": 1.0, "diamond": 4 / 3 ** 0.5, "hcp": 1.0}
_MEMO = {}

#: the Al values (config/config.yaml and schema defaults) of the temperatures that depend on the material
AL_TEMPERATURES = {
    "explore.schedule": [[300.0], [300.0, 2000.0]],
    "validate.rdf.conditions": [[300.0, 2000.0]],
    "validate.diffusion.temperatures": [[800.0, 900.0, 1000.0]],
    "validate.melting.ramp.T_start": [500.0, 600.0],
    "validate.melting.ramp.T_end": [1800.0, 2000.0],
    "validate.melting.coexistence.melt_T": [2000.0],
}


class Resolution:
    """What the config resolution filled in, corrected or warns about.

    Attributes
    ----------
    records : list of dict
        ``key``, ``value``, ``source`` (``oracle``, ``config``, ``normalised``,
        ``system.a``, ...) and ``detail`` of every value decided here.
    warnings : list of str
    from_schema : list of str
        Key paths whose value is the schema's default (not in any config file).
    """

    def __init__(self):
        self.records, self.warnings, self.from_schema = [], [], []

    def note(self, key, value, source, detail=""):
        self.records.append({"key": key, "value": value, "source": source, "detail": detail})

    def warn(self, message):
        self.warnings.append(message)

    def as_dict(self):
        return {"defaults": copy.deepcopy(self.records), "warnings": list(self.warnings),
                "from_schema": list(self.from_schema)}


# ---------------------------------------------------------------- E-V fit
def _guess(oracle_cfg, element, crystal):
    """(a, where the guess comes from) to start the fit."""
    from ase.data import atomic_numbers, covalent_radii, reference_states
    z = atomic_numbers[element]
    if oracle_cfg.get("kind") == "lj":
        sigma = float((oracle_cfg.get("params") or {}).get("sigma", 1.0))
        return 2 ** (1 / 6) * sigma * _NN_TO_A[crystal], "the Lennard-Jones pair minimum 2^(1/6) sigma"
    ref = reference_states[z] or {}
    if ref.get("symmetry") == crystal and ref.get("a"):
        return float(ref["a"]), "ASE's reference lattice constant"
    return 2 * covalent_radii[z] * _NN_TO_A[crystal], "twice the covalent radius as nearest-neighbour distance"


def _energies(calc, element, crystal, a, scales):
    """(volumes, energies) per atom of the primitive cell at ``a * scales``."""
    from ase.build import bulk

    from .analysis.elastic import energy_volume
    vols, ens = energy_volume(bulk(element, crystal, a=a), calc, scales)
    if not np.isfinite(ens).all():
        raise ValueError(f"non-finite energies of {crystal} {element} near a = {a:.4g} A")
    return vols, ens


def _bracket(calc, element, crystal, a, scales, tries):
    """Move ``a`` to the lowest of ``a * scales`` until that is inside."""
    for _ in range(tries):
        _, e = _energies(calc, element, crystal, a, scales)
        i = int(np.argmin(e))
        a *= scales[i]
        if 0 < i < len(scales) - 1:
            return a
    raise ValueError(f"no energy minimum of {crystal} {element} found (the last scan ended at a = {a:.4g} A)")


def _fit(calc, element, crystal, a_guess):
    """The E-V fit: dict with ``a``, ``B_GPa``, the sampled points."""
    from ase.eos import EquationOfState
    from ase.units import GPa
    a = _bracket(calc, element, crystal, a_guess, np.linspace(0.85, 1.15, 7), 12)
    fine = np.linspace(0.97, 1.03, 9)
    a = _bracket(calc, element, crystal, a, fine, 4)
    vols, ens = _energies(calc, element, crystal, a, fine)
    v_mid = vols[len(vols) // 2]
    try:
        v0, _, b = EquationOfState(vols, ens, eos="birchmurnaghan").fit(warn=False)
    except Exception:  # noqa: BLE001 - fall back to a cubic polynomial
        v0, b = _poly_minimum(vols, ens, v_mid), float("nan")
    if not vols.min() <= v0 <= vols.max():
        raise ValueError(f"the E-V fit of {crystal} {element} put the minimum outside the sampled volumes")
    return {"a": float(a * (v0 / v_mid) ** (1 / 3)), "B_GPa": float(b / GPa), "volumes_A3_per_atom": vols.tolist(),
            "energies_eV_per_atom": ens.tolist()}


def _poly_minimum(vols, ens, v_mid):
    """The minimum of a cubic fit of E(V) nearest ``v_mid``."""
    c = np.polyfit(vols, ens, 3)
    d1, d2 = np.polyder(c), np.polyder(c, 2)
    roots = [r.real for r in np.roots(d1) if abs(r.imag) < 1e-12 and np.polyval(d2, r.real) > 0]
    if not roots:
        raise ValueError("the E-V points have no minimum")
    return min(roots, key=lambda r: abs(r - v_mid))


def _cache_key(oracle_cfg, element, crystal):
    import ase
    blob = json.dumps({"oracle": {k: oracle_cfg.get(k) for k in ("kind", "params", "calculator")},
                       "element": element, "crystal": crystal, "method": METHOD, "ase": ase.__version__},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def fitted_lattice_constant(oracle_cfg, element, crystal, cache_dir=None):
    """The oracle's equilibrium lattice constant of ``crystal`` ``element``.

    Parameters
    ----------
    oracle_cfg : dict
        The ``oracle`` section (a cheap kind: emt, lj).
    element, crystal : str
    cache_dir : str or Path, optional
        Where fits are kept (``lattice_<hash>.json``); None - in memory only.

    Returns
    -------
    dict
        ``a`` (A), ``B_GPa``, ``guess`` and ``guess_from``, the sampled
        volumes and energies, ``seconds`` (of the fit), ``method``, ``cache``
        (the file, or None) and ``cached`` (read from the cache).

    Raises
    ------
    ValueError
        The oracle cannot be built or no minimum was found.
    """
    from .jobs import read_json, write_json
    from .oracle import Oracle
    key = _cache_key(oracle_cfg, element, crystal)
    path = Path(cache_dir) / f"lattice_{key}.json" if cache_dir else None
    if key in _MEMO:
        if path is not None and not path.exists():
            write_json(path, {k: v for k, v in _MEMO[key].items() if k != "cache"})
            _MEMO[key]["cache"] = str(path)
        return dict(_MEMO[key], cached=True)
    if path is not None and path.exists():
        try:
            out = read_json(path)
            if out.get("method") == METHOD and out.get("element") == element and out.get("crystal") == crystal:
                _MEMO[key] = dict(out, cache=str(path))
                return dict(_MEMO[key], cached=True)
        except (OSError, ValueError):
            pass  # an unreadable cache entry is recomputed
    t0 = time.perf_counter()
    a_guess, source = _guess(oracle_cfg, element, crystal)
    calc = Oracle.from_config(oracle_cfg).make_calculator()
    out = dict(_fit(calc, element, crystal, a_guess), element=element, crystal=crystal, guess=a_guess,
               guess_from=source, method=METHOD, oracle={k: oracle_cfg.get(k) for k in ("kind", "params")},
               seconds=time.perf_counter() - t0)
    if path is not None:
        write_json(path, out)
    _MEMO[key] = dict(out, cache=str(path) if path else None)
    return dict(_MEMO[key], cached=False)


def _describe(fit):
    # the same words whether just computed or read from the cache (the text
    # goes into resolved_config.yaml, which must not change between parses)
    where = f"cache {fit['cache']}" if fit.get("cache") else "not cached on disk"
    return (f"oracle E-V fit of {fit['crystal']} {fit['element']} ({fit['method']}; start {fit['guess']:.4f} A from "
            f"{fit['guess_from']}; B = {fit['B_GPa']:.1f} GPa; {fit['seconds']:.2f} s; {where})")


# ----------------------------------------------------------- resolution
def _lattice_needed(cfg):
    return cfg["system"]["kind"] in ("bulk", "vacancy", "slab")


def _validation_on(cfg):
    v = cfg["validate"]
    return v["enabled"] and any(v[n]["enabled"] for n in ("rdf", "neb", "diffusion", "melting"))


def resolve_lattice(cfg, res, cache_dir=None):
    """Fill ``system.a`` (and ``validate.a`` where the validation's fcc cell
    of its element cannot take ``system.a``) from the oracle; warn when a
    given lattice constant is far from the oracle's.

    Parameters
    ----------
    cfg : dict
        The validated config (changed in place).
    res : Resolution
    cache_dir : str or Path, optional

    Returns
    -------
    list of str
        Errors naming the key (a lattice constant that is required).
    """
    errs = []
    s, kind = cfg["system"], cfg["oracle"]["kind"]
    if _lattice_needed(cfg):
        errs += _resolve_key(cfg, res, "system.a", s["element"], s["crystal"], cache_dir)
    if not _validation_on(cfg) or cfg["validate"]["a"] is not None:
        return errs
    el = cfg["validate"]["element"] or s["element"]
    if _lattice_needed(cfg) and el == s["element"] and s["crystal"] == "fcc":
        res.note("validate.a", s["a"], "system.a", "the validation's fcc cells take system.a")
    elif kind in CHEAP_KINDS:
        errs += _resolve_key(cfg, res, "validate.a", el, "fcc", cache_dir)
    else:
        res.warn(f"validate.a: null with oracle.kind {kind}: the validation builds fcc {el} with "
                 f"{'system.a = %s' % s['a'] if s['a'] else 'ASE reference'} lattice constant, which is not "
                 f"that of fcc {el} under this oracle (system is {s['crystal']} {s['element']}); set validate.a")
    return errs


def _resolve_key(cfg, res, key, element, crystal, cache_dir):
    sec, name = key.split(".")
    value, kind = cfg[sec][name], cfg["oracle"]["kind"]
    if kind not in CHEAP_KINDS:
        if value is None:
            return [f"{key}: required with oracle.kind '{kind}' (the lattice constant of {crystal} {element} under "
                    "this oracle): alff fits it only for the cheap oracles emt and lj, since an E-V fit would run "
                    "the reference method while Snakemake parses the workflow. Set it from your own E-V fit "
                    "with this oracle's settings"]
        res.note(key, value, "config", f"not checked against oracle.kind '{kind}' (no E-V fit at config time)")
        return []
    try:
        fit = fitted_lattice_constant(cfg["oracle"], element, crystal, cache_dir)
    except ValueError as err:
        return [f"{key}: the oracle's lattice constant of {crystal} {element} could not be fitted ({err}); "
                f"set {key}"]
    a0 = round(fit["a"], 4)
    if value is None:
        cfg[sec][name] = a0
        res.note(key, a0, "oracle", _describe(fit))
        return []
    res.note(key, value, "config", f"the oracle's is {a0} A ({_describe(fit)})")
    if abs(value / a0 - 1) > LATTICE_WARN:
        res.warn(f"{key} = {value} A is {100 * (value / a0 - 1):+.1f}% from the oracle's equilibrium {a0} A for "
                 f"{crystal} {element}: the run learns a strained crystal (set {key}: null to take the oracle's)")
    return []


def unbind_embedded_lattice(cfg, embedded, overlay, res):
    """Drop config/config.yaml's lattice constant when the overlays
    (``--configfile``, ``--config``) change the element or crystal without
    giving ``system.a``: that number belongs to the embedded element
    (4.05 A is Al's), so the oracle's is taken instead.

    Parameters
    ----------
    cfg : dict
        The merged config, before validation (changed in place).
    embedded, overlay : dict
        config/config.yaml and the merged overlays.
    res : Resolution
    """
    from .structures import normalise_element
    es, os_, cs = embedded.get("system") or {}, overlay.get("system") or {}, cfg.get("system") or {}
    if "a" in os_ or es.get("a") is None or cs.get("a") != es.get("a"):
        return
    changed = []
    for k in ("element", "crystal"):
        new = os_.get(k)
        if k == "element" and isinstance(new, str):
            try:
                new = normalise_element(new)
            except ValueError:
                pass
        if new is not None and new != es.get(k):
            changed.append(f"system.{k} {es.get(k)} -> {new}")
    if changed:
        cs["a"] = None
        res.note("system.a", None, "config/config.yaml's value dropped",
                 f"a: {es['a']} in config/config.yaml is {es.get('crystal')} {es.get('element')}'s; the overlays "
                 f"change {', '.join(changed)} without system.a, so the lattice constant comes from the oracle")


def _temperatures(cfg, key):
    if key == "explore.schedule":
        return [float(s["temperature_K"]) for s in cfg["explore"]["schedule"]]
    if key == "validate.rdf.conditions":
        return [float(c["temperature_K"]) for c in cfg["validate"]["rdf"]["conditions"]]
    d = cfg
    for part in key.split("."):
        d = d[part]
    return [float(t) for t in d] if isinstance(d, list) else float(d)


def temperature_warnings(cfg, res):
    """Warn about material-dependent temperatures left at the Al values when
    the element is not Al (run after :func:`alff.melting_point.resolve_temperatures`:
    every value is in K)."""
    elements = {cfg["system"]["element"]} if cfg["system"]["kind"] != "file" else set()
    if _validation_on(cfg) and cfg["validate"]["element"]:
        elements.add(cfg["validate"]["element"])
    if not elements or elements == {"Al"}:
        return
    v = cfg["validate"]
    active = {"explore.schedule": True, "validate.rdf.conditions": _validation_on(cfg) and v["rdf"]["enabled"],
              "validate.diffusion.temperatures": _validation_on(cfg) and v["diffusion"]["enabled"]}
    melt = _validation_on(cfg) and v["melting"]["enabled"]
    stale = [f"{k} = {_temperatures(cfg, k)}" for k, al in AL_TEMPERATURES.items()
             if active.get(k, melt) and _temperatures(cfg, k) in al]
    if stale:
        res.warn(f"system.element is {'/'.join(sorted(elements))} but these temperatures (K) are still the Al "
                 f"values of config/config.yaml or the schema: {'; '.join(stale)}. They depend on the material "
                 "(a liquid phase must be above the oracle's melting point, the melting windows around it, the "
                 "diffusion temperatures high enough for vacancy jumps): set them for this element, in K or "
                 "relative to its melting point as '<factor> Tm' (e.g. explore.schedule[k].temperature_K: '1.6 Tm', "
                 "validate.diffusion.temperatures: ['0.6 Tm', '0.7 Tm', '0.8 Tm']; Tm is system.melting_point_K, "
                 "estimated from the oracle when null, see config/systems/cu_emt.yaml)")


def write_resolved_config(cfg, res, path):
    """Write ``results/<run>/resolved_config.yaml``: the resolution (what
    was filled in or corrected, from where; warnings; the keys at their
    schema defaults) and the whole resolved config. Written atomically and
    only when its content changes.

    Returns
    -------
    bool
        Whether the file was (re)written.
    """
    import yaml

    from .atomic import atomic_write_text
    doc = dict(res.as_dict(), config=copy.deepcopy(cfg))
    text = ("# alff: the configuration as the run uses it (written when the Snakefile is parsed).\n"
            "# defaults: values filled in or corrected (source: oracle, config, normalised, ...);\n"
            "# warnings: what to check; from_schema: keys at the schema's default; config: everything.\n"
            + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=110))
    p = Path(path)
    if p.exists() and p.read_text() == text:
        return False
    atomic_write_text(p, text)
    return True
