"""Configuration: validation against config/schema.yaml with defaults filled in
(the schema's, and those that come from the oracle: :mod:`alff.defaults`,
:mod:`alff.melting_point`); temperatures given as ``"<factor> Tm"`` are
resolved to kelvin."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import yaml

from .structures import BINARY_CRYSTALS

__all__ = ["ConfigError", "validate_config", "resolve_config", "load_config", "scheme_sections", "LEGACY_KEYS"]


class ConfigError(ValueError):
    """The configuration is invalid; the message names every bad key path."""


def _key_path(path):
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def _validator_with_defaults(schema):
    import jsonschema

    base = jsonschema.validators.validator_for(schema)

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": set_defaults})(schema)


def _coerce(value, schema):
    """Strings from ``snakemake --config key=value`` to the schema's type
    (``"2"`` -> 2 where an integer is expected); anything else unchanged."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: _coerce(v, props.get(k, {})) for k, v in value.items()}
    if isinstance(value, list):
        return [_coerce(v, schema.get("items", {})) for v in value]
    if isinstance(value, str):
        types = schema.get("type", [])
        types = [types] if isinstance(types, str) else types
        if "string" in types:
            return value
        if value.lower() in ("null", "none", "~") and "null" in types:
            return None
        if "boolean" in types and value.lower() in ("true", "false"):
            return value.lower() == "true"
        for t, conv in (("integer", int), ("number", float)):
            if t in types:
                try:
                    return conv(value)
                except ValueError:
                    pass
    return value


#: keys of the configuration before schemes (issue 11) -> where they live now
LEGACY_KEYS = {
    "model": "schemes.<name>.model",
    "learn.std_tolerance_factor": "schemes.<name>.selector.std_tolerance_factor",
    "learn.absolute": "schemes.<name>.selector.absolute",
    "learn.max_atoms_added": "schemes.<name>.selector.max_atoms_added",
    "learn.break_factor": "schemes.<name>.selector.break_factor",
    "learn.hyps_opt_first": "schemes.<name>.model.optimize_first",
    "learn.hyps_opt_every": "schemes.<name>.model.optimize_every",
}


def _legacy_errors(cfg):
    errs = []
    for old, new in LEGACY_KEYS.items():
        sec, _, key = old.partition(".")
        if (not key and sec in cfg) or (key and isinstance(cfg.get(sec), dict) and key in cfg[sec]):
            errs.append(f"{old}: moved to {new} (a scheme; see config/config.yaml)")
    return errs


#: directories of results/<run>/ that a scheme's (results/<run>/<scheme>/ with several schemes) must not be
RESERVED_SCHEME_NAMES = ("seed", "testset", "logs", "benchmarks", "oracle_cache", "dynamic", "hull", "elastic")


def _selector_errors(cfg, name, sc):
    """The selector built from its section (settings that only the class
    checks), and the dynamic-training selectors' log grid."""
    from .selection import build_selector
    if ":" in sc["selector"]["kind"]:
        return []
    try:
        sel = build_selector(sc["selector"])
    except (ValueError, TypeError) as err:
        return [f"schemes.{name}.{str(err)}" if str(err).startswith("selector") else f"schemes.{name}.selector: {err}"]
    every, log_every = int(getattr(sel, "score_every", 1)), int(cfg["learn"]["log_every"])
    if every > 1 and log_every % every:
        return [f"learn.log_every: {log_every} is not a multiple of schemes.{name}.selector.score_every {every} (the "
                "learning log and its figure would see eps_B only where both grids meet)"]
    return []


def _scheme_errors(cfg, schema):
    from .models.registry import MODEL_KINDS
    from .selection.registry import SELECTOR_KINDS
    errs = []
    for name in cfg["learn"]["schemes"]:
        if name not in cfg["schemes"]:
            errs.append(f"learn.schemes: '{name}' is not a section of schemes (defined: {sorted(cfg['schemes'])})")
            continue
        if len(cfg["learn"]["schemes"]) > 1 and name in RESERVED_SCHEME_NAMES:
            errs.append(f"learn.schemes: a scheme cannot be named '{name}' (results/<run>/{name}/ holds the run's "
                        f"own outputs); rename schemes.{name}")
        sc = cfg["schemes"][name]
        for part, kinds in (("model", MODEL_KINDS), ("selector", SELECTOR_KINDS)):
            kind = sc[part]["kind"]
            if kind not in kinds and ":" not in kind:
                errs.append(f"schemes.{name}.{part}.kind: '{kind}' is not one of {sorted(kinds)} "
                            "nor an import path module:Class")
        if sc["selector"]["kind"] == "maxvol" and sc["model"]["kind"] != "mtp":
            errs.append(f"schemes.{name}.selector.kind: maxvol (D-optimality) needs a model with an active set: "
                        f"schemes.{name}.model.kind must be mtp, not '{sc['model']['kind']}'")
        if sc["selector"]["kind"] in SELECTOR_KINDS:
            errs += _selector_errors(cfg, name, sc)
        if sc["model"]["kind"] == "force_constants":
            errs += _fc_errors(cfg, name, sc)
        if sc["explore"]:
            merged = _merged(cfg["explore"], sc["explore"])
            v = _validator_with_defaults(dict(schema["properties"]["explore"], **{"$defs": schema.get("$defs", {})}))
            for e in v.iter_errors(merged):
                where = "." + _key_path(list(e.absolute_path)) if e.absolute_path else ""
                errs.append(f"schemes.{name}.explore{where}: {e.message}")
    return errs


def scheme_sections(cfg, name):
    """The sections of scheme ``name``: ``name``, ``model``, ``selector`` and
    ``explore`` (the top-level section with the scheme's overrides)."""
    sc = cfg["schemes"][name]
    model = copy.deepcopy(sc["model"])
    if model.get("kind") == "force_constants" and not model.get("reference"):
        model["reference"] = {"system": copy.deepcopy(cfg["system"])}  # the ideal supercell of the system section
    return {"name": name, "model": model, "selector": copy.deepcopy(sc["selector"]),
            "explore": _merged(cfg["explore"], sc.get("explore") or {})}


def _fc_errors(cfg, name, sc):
    """The force-constant model learns from whole structures of one cell."""
    errs = []
    if cfg["seed"]["init_atoms"] != 0:
        errs.append(f"seed.init_atoms: {cfg['seed']['init_atoms']}, but schemes.{name}.model.kind force_constants is "
                    "fitted on every force of a structure: set seed.init_atoms: 0")
    sel = sc["selector"]["kind"]
    if sel not in ("trajectory_average", "eps_min") and ":" not in sel:
        errs.append(f"schemes.{name}.selector.kind: '{sel}' labels single atoms; the force-constant model needs a "
                    "whole-structure criterion (trajectory_average or eps_min)")
    return errs


def _merged(base, override):
    out = copy.deepcopy(base)
    _merge(out, copy.deepcopy(override))
    return out


def _semantic_errors(cfg):
    errs = []
    o = cfg["oracle"]
    if o["kind"] == "calculator" and not o.get("calculator"):
        errs.append("oracle.calculator: required when oracle.kind is 'calculator' (an import path "
                    "such as ase.calculators.vasp.Vasp)")
    if cfg["system"]["kind"] == "file" and not cfg["system"].get("path"):
        errs.append("system.path: required when system.kind is 'file'")
    if cfg["seed"]["method"] == "file" and not cfg["seed"].get("path"):
        errs.append("seed.path: required when seed.method is 'file'")
    for key in ("system.path", "seed.path"):
        sec, name = key.split(".")
        p = cfg[sec].get(name)
        if p and ((sec == "system" and cfg["system"]["kind"] == "file") or
                  (sec == "seed" and cfg["seed"]["method"] == "file")) and not Path(p).exists():
            errs.append(f"{key}: file not found: {p}")
    names = [s["name"] for s in cfg["explore"]["scenarios"]]
    if len(set(names)) != len(names):
        errs.append(f"explore.scenarios: names must be unique, got {names}")
    if cfg["system"]["kind"] == "slab" and cfg["system"].get("adatom") and "element" not in cfg["system"]["adatom"]:
        cfg["system"]["adatom"]["element"] = cfg["system"]["element"]
    for name, sc in cfg["schemes"].items():
        errs += _drop_null_cutoffs(name, sc.get("model") or {})
    return errs + _binary_validation_errors(cfg)


def _drop_null_cutoffs(name, model):
    """A cutoff set to null drops that body order (config files merge key by
    key, so leaving a key out cannot remove a default)."""
    cut = model.get("cutoffs")
    if not isinstance(cut, dict):
        return []
    for k in [k for k, v in cut.items() if v is None]:
        del cut[k]
    return [] if cut else [f"schemes.{name}.model.cutoffs: every body order is null; keep at least one"]


def _element_errors(cfg, res):
    """Normalise the element symbols in place ('cu' -> 'Cu', recorded);
    errors naming the key for those that are no chemical symbol."""
    from .structures import normalise_element, normalise_system_element
    errs = []
    places = [("system", "element"), ("validate", "element")]
    if cfg["system"]["kind"] == "slab" and cfg["system"].get("adatom"):
        places.append(("system", "adatom", "element"))
    for place in places:
        d = cfg
        for k in place[:-1]:
            d = d[k]
        symbol, key = d.get(place[-1]), ".".join(place)
        if symbol is None:
            continue
        try:
            crystal = cfg["system"].get("crystal")
            fixed = (normalise_system_element(symbol, crystal, key) if place == ("system", "element")
                     else normalise_element(symbol, key))
        except ValueError as err:
            errs.append(str(err))
            continue
        if fixed != symbol:
            d[place[-1]] = fixed
            res.note(key, fixed, "normalised", f"'{symbol}' read as the chemical symbol '{fixed}'")
            res.warn(f"{key}: '{symbol}' read as the chemical symbol '{fixed}'")
    return errs


def _binary_validation_errors(cfg):
    """The validation builds cells of one element: a binary crystal needs
    validate.element (or no validated scheme)."""
    from .defaults import _validation_on
    from .models.registry import is_validated
    s = cfg["system"]
    if s["kind"] == "file" or s.get("crystal") not in BINARY_CRYSTALS or cfg["validate"]["element"]:
        return []
    if not _validation_on(cfg) or not any(is_validated(cfg["schemes"][n]["model"]["kind"])
                                          for n in cfg["learn"]["schemes"] if n in cfg["schemes"]):
        return []
    return [f"validate.element: system.element '{s['element']}' is the formula of a {s['crystal']} crystal, but the "
            "validation (RDF, NEB, diffusion, melting) builds fcc cells of one element: set validate.element or "
            "validate.enabled: false"]


def _labelled_elements(cfg):
    """{element: config key} of every element the oracle labels (the start
    structure's, the adatom's, the validation's); a structure file's are
    read when it exists."""
    from .defaults import _validation_on
    s = cfg["system"]
    out = {}
    if s["kind"] == "file":
        if s.get("path") and Path(s["path"]).exists():
            from .structures import build_structure
            try:
                out.update({el: "system.path" for el in build_structure(s).get_chemical_symbols()})
            except ValueError:
                pass  # named by the structure check
    else:
        from .structures import system_species
        out.update({el: "system.element" for el in system_species(s)})
        if s["kind"] == "slab" and s.get("adatom"):
            out.setdefault(s["adatom"]["element"], "system.adatom.element")
    if _validation_on(cfg) and (cfg["validate"]["element"] or s["kind"] == "file"
                                or s.get("crystal") not in BINARY_CRYSTALS):
        out.setdefault(cfg["validate"]["element"] or s["element"], "validate.element")
    return out


def _build_errors(cfg, res, cache_dir=None):
    """Build the oracle, check it can label the elements, fill the lattice
    constant from it, then build the structure, so errors name the config
    keys now rather than fail a job later."""
    from .defaults import resolve_lattice
    from .oracle import Oracle
    from .oracle_elements import element_errors
    from .structures import build_structure
    try:
        Oracle.from_config(cfg["oracle"])
    except ValueError as err:
        return [str(err) if str(err).startswith("oracle") else f"oracle: {err}"]
    by_key = {}
    for el, key in _labelled_elements(cfg).items():
        by_key.setdefault(key, []).append(el)
    errs = [e for key, els in by_key.items() for e in element_errors(cfg["oracle"], els, key)]
    if errs:
        return errs
    errs = resolve_lattice(cfg, res, cache_dir)
    if errs:
        return errs
    if cfg["system"]["kind"] != "file" or Path(cfg["system"].get("path") or "").exists():
        try:
            build_structure(cfg["system"])
        except ValueError as err:
            errs.append(str(err))
    return errs


def _schema_filled(before, after, prefix=""):
    """Key paths in ``after`` that ``before`` lacks (the schema's defaults)."""
    out = []
    for k, v in after.items():
        path = f"{prefix}.{k}" if prefix else str(k)
        if not isinstance(before, dict) or k not in before:
            out.append(path)
        elif isinstance(v, dict):
            out += _schema_filled(before[k], v, path)
        elif isinstance(v, list) and isinstance(before[k], list):
            out += [p for i, (b, a) in enumerate(zip(before[k], v)) if isinstance(a, dict)
                    for p in _schema_filled(b, a, f"{path}[{i}]")]
    return out


def resolve_config(config, schema_path, cache_dir=None, embedded=None, overlay=None):
    """Validate ``config`` in place, fill in the schema's defaults and those
    that come from the oracle (:mod:`alff.defaults`); temperatures given
    as ``"<factor> Tm"`` become kelvin (:mod:`alff.melting_point`; the
    melting point estimated from the oracle when
    ``system.melting_point_K`` is null).

    Parameters
    ----------
    config : dict
    schema_path : str or Path
        The JSON Schema (YAML).
    cache_dir : str or Path, optional
        Where the oracle's E-V fits and melting-point estimates are cached
        (None - in memory only).
    embedded, overlay : dict, optional
        config/config.yaml and the overlays merged on it (``--configfile``,
        ``--config``): when the overlays change the element or crystal
        without ``system.a``, config.yaml's lattice constant (Al's) is
        dropped and the oracle's taken.

    Returns
    -------
    alff.defaults.Resolution
        What was filled in or corrected and from where, warnings, and the
        keys at their schema defaults.

    Raises
    ------
    ConfigError
        Listing every invalid key by its path (``learn.mode: 'foo' is not
        one of ['otf', 'batch']``).
    """
    from .defaults import Resolution, temperature_warnings, unbind_embedded_lattice
    from .melting_point import resolve_temperatures
    res = Resolution()
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    legacy = _legacy_errors(config)
    if legacy:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(legacy))
    coerced = _coerce(config, schema)
    config.clear()
    config.update(coerced)
    if embedded is not None and overlay is not None:
        unbind_embedded_lattice(config, embedded, overlay, res)
    given = copy.deepcopy(config)
    v = _validator_with_defaults(schema)
    errors = sorted(v.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    msgs = []
    for e in errors:
        path = _key_path(list(e.absolute_path))
        if e.validator == "additionalProperties":
            msgs.append(f"{path}: {e.message} (known keys: {sorted(e.schema.get('properties', {}))})")
        else:
            msgs.append(f"{path}: {e.message}")
    if not msgs:
        msgs = _element_errors(config, res)
    if not msgs:
        msgs = _semantic_errors(config) + _scheme_errors(config, schema)
        msgs += _build_errors(config, res, cache_dir) if not msgs else []
        msgs += resolve_temperatures(config, res, cache_dir) if not msgs else []
    if msgs:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(msgs))
    temperature_warnings(config, res)
    res.from_schema = _schema_filled(given, config)
    return res


def validate_config(config, schema_path, cache_dir=None):
    """Validate ``config`` in place and fill in the defaults (the schema's,
    and the oracle's lattice constant for ``system.a: null``); warnings
    (see :func:`resolve_config`) are logged.

    Parameters
    ----------
    config : dict
    schema_path : str or Path
        The JSON Schema (YAML).
    cache_dir : str or Path, optional
        Where the oracle's E-V fits are cached.

    Returns
    -------
    dict
        The same ``config`` with defaults.

    Raises
    ------
    ConfigError
        Listing every invalid key by its path.
    """
    res = resolve_config(config, schema_path, cache_dir)
    log = logging.getLogger("alff.config")
    for w in res.warnings:
        log.warning("%s", w)
    return config


def load_config(path, schema_path, overrides=None):
    """Read a YAML config, apply ``overrides`` (a nested dict) and validate."""
    with open(path) as fh:
        cfg = yaml.safe_load(fh) or {}
    if overrides:
        _merge(cfg, overrides)
    return validate_config(cfg, schema_path)


def _merge(a, b):
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            _merge(a[k], v)
        else:
            a[k] = v
