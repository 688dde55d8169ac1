"""Which elements an oracle can label, checked at config time.

Each check returns error messages naming the config key and the supported
list, so a run whose oracle cannot label its elements stops before any job
runs (not in the seed job, with the cause in a log):

- ``emt``: ASE's EMT parameter table;
- ``lj``: any element (one Lennard-Jones pair for all);
- ``gpaw``: a PAW setup file ``<symbol>.<xc>[.<setups>][.gz]`` for every
  element in GPAW's setup paths (``gpaw.setup_paths``, which GPAW fills
  from ``GPAW_SETUP_PATH`` and its rc file), checked only when gpaw is
  importable;
- ``lammps`` (alff's LAMMPS kind): every element must be in the element
  list that ends the ``pair_coeff * * ...`` line(s) (or in
  ``oracle.params.atom_types`` for a pair style whose pair_coeff names no
  species; without either, one element only);
- ``calculator`` with ASE's LAMMPS calculators (``LAMMPSlib``: ``pair_coeff``
  lines in ``lmpcmds`` and ``atom_types``; ``lammpsrun.LAMMPS``:
  ``pair_coeff`` and ``specorder``): the species a ``pair_coeff * * ...``
  line maps must cover the elements. Other calculators cannot be judged.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["element_errors", "emt_errors", "gpaw_errors", "lammps_errors", "lammps_kind_errors", "pair_coeff_species",
           "gpaw_setup_paths"]

# GPAW setups that are not files in the setup paths (built in or generated)
_GPAW_BUILTIN_SETUPS = ("ae", "hgh", "hgh.sc", "ghost", "sg15")


def element_errors(oracle_cfg, elements, where="system.element"):
    """Errors for the ``elements`` the oracle cannot label.

    Parameters
    ----------
    oracle_cfg : dict
        The ``oracle`` config section (``kind``, ``params``, ``calculator``).
    elements : iterable of str
        Chemical symbols (already normalised).
    where : str
        The config key(s) the elements come from, for the message.

    Returns
    -------
    list of str
        Empty when every element is supported or the oracle cannot be judged.
    """
    elements = sorted(set(elements))
    kind = oracle_cfg.get("kind", "emt")
    params = oracle_cfg.get("params") or {}
    if kind == "emt":
        return emt_errors(elements, where)
    if kind == "gpaw":
        try:
            import gpaw  # noqa: F401
        except ImportError:
            return []  # the oracle's first call names the missing package
        return gpaw_errors(elements, params, gpaw_setup_paths(), where)
    if kind == "lammps":
        return lammps_kind_errors(elements, params, where)
    if kind == "calculator" and _lammps_kind(oracle_cfg.get("calculator") or ""):
        return lammps_errors(elements, params, _lammps_kind(oracle_cfg["calculator"]), where)
    return []


def emt_errors(elements, where="system.element"):
    """ASE's EMT covers the elements of its parameter table only."""
    from ase.calculators.emt import parameters
    missing = sorted(set(elements) - set(parameters))
    if not missing:
        return []
    return [f"oracle.kind: ASE's EMT has no parameters for {missing} ({where}); it covers "
            f"{sorted(parameters)}. Choose another oracle (oracle.kind: calculator, gpaw)"]


# ------------------------------------------------------------------ GPAW
def gpaw_setup_paths():
    """The directories GPAW searches for setups: ``gpaw.setup_paths``, then
    ``GPAW_SETUP_PATH`` (in case this GPAW reads it lazily), in order."""
    import gpaw
    paths = list(getattr(gpaw, "setup_paths", []) or [])
    paths += [p for p in os.environ.get("GPAW_SETUP_PATH", "").split(os.pathsep) if p]
    return list(dict.fromkeys(str(p) for p in paths))


def _setup_name(params, symbol):
    """The setup type of ``symbol`` from ``params['setups']`` (str or dict)."""
    setups = params.get("setups", "paw")
    if isinstance(setups, dict):
        setups = setups.get(symbol, setups.get("default", "paw"))
    return str(setups)


def gpaw_errors(elements, params, setup_paths, where="system.element"):
    """Elements without a PAW setup file in ``setup_paths``.

    GPAW looks for ``<symbol>.<xc>`` (``.<setups>`` appended for a setup
    type other than ``paw``), plain or gzipped, in each setup path. Setup
    types that are not files (``ae``, ``hgh``, ``sg15``, ``ghost``) and
    numbers of a dict entry that select a charge state are not checked.
    """
    xc = str(params.get("xc", "PBE"))
    missing, found_other = [], {}
    for el in elements:
        name = _setup_name(params, el)
        if name in _GPAW_BUILTIN_SETUPS:
            continue
        fname = f"{el}.{xc}" + ("" if name == "paw" else f".{name}")
        if any((Path(p) / f).is_file() for p in setup_paths for f in (fname, fname + ".gz")):
            continue
        missing.append(fname)
        other = sorted({f.name for p in setup_paths if Path(p).is_dir() for f in Path(p).glob(f"{el}.*")})
        if other:
            found_other[el] = other[:6]
    if not missing:
        return []
    have = sorted({f.name.split(".")[0] for p in setup_paths if Path(p).is_dir()
                   for f in Path(p).glob(f"*.{xc}*")})
    hint = f"; setups for other functionals or types: {found_other}" if found_other else ""
    return [f"oracle: GPAW has no PAW setup {missing} for {where} (oracle.params.xc={xc}) in its setup paths "
            f"{setup_paths or '(none: set GPAW_SETUP_PATH or run gpaw install-data)'}; {xc} setups there cover "
            f"{have}{hint}"]


# ---------------------------------------------------------------- LAMMPS
def _lammps_kind(path):
    """'lammpslib', 'lammpsrun' or '' for the calculator import path."""
    name = path.rsplit(".", 1)[-1]
    return {"LAMMPSlib": "lammpslib", "LAMMPS": "lammpsrun"}.get(name, "")


def pair_coeff_species(line):
    """The species a ``pair_coeff * * [style] file(s) El1 El2 ...`` line maps
    to LAMMPS types 1, 2, ... (``NULL`` kept), or None when the line maps no
    species by name (explicit type pairs ``pair_coeff 1 1 ...``, or a
    potential file that carries one species, as ``eam``'s)."""
    from ase.data import atomic_numbers
    tokens = line.split("#", 1)[0].split()
    if tokens and tokens[0] == "pair_coeff":
        tokens = tokens[1:]
    if tokens[:2] != ["*", "*"]:
        return None
    species = []
    for tok in reversed(tokens[2:]):
        if tok != "NULL" and (tok not in atomic_numbers or tok == "X"):
            break
        species.insert(0, tok)
    # the file names come first: all-symbol lines name no file
    return species if species and len(species) < len(tokens) - 2 else None


def _pair_coeff_lines(params, kind):
    if kind == "lammpslib":
        return [c for c in params.get("lmpcmds") or [] if str(c).split()[:1] == ["pair_coeff"]]
    return [str(c) for c in params.get("pair_coeff") or []]


def lammps_errors(elements, params, kind="lammpslib", where="system.element"):
    """The elements that the ``pair_coeff`` lines (and ``atom_types``) do not
    map to a species of the potential.

    Parameters
    ----------
    elements : list of str
    params : dict
        ``oracle.params`` of ASE's ``LAMMPSlib`` (``lmpcmds``, ``atom_types``)
        or ``lammpsrun.LAMMPS`` (``pair_coeff``, ``specorder``).
    kind : {'lammpslib', 'lammpsrun'}
    """
    key = "lmpcmds" if kind == "lammpslib" else "pair_coeff"
    maps = [s for s in (pair_coeff_species(c) for c in _pair_coeff_lines(params, kind)) if s]
    types = params.get("atom_types") if kind == "lammpslib" else params.get("specorder")
    if isinstance(types, (list, tuple)):
        types = {el: i + 1 for i, el in enumerate(types)}
    errs = []
    if types:
        lacking = sorted(set(elements) - set(types))
        if lacking:
            name = "atom_types" if kind == "lammpslib" else "specorder"
            errs.append(f"oracle.params.{name}: no LAMMPS type for {lacking} ({where}); it maps {dict(types)}")
    if not types and len(elements) == 1:
        types = None  # LAMMPSlib numbers the types in order of appearance: the one element is type 1
        check = {elements[0]: 1}
    else:
        check = types or {}
    for species in maps:
        covered = sorted(set(species) - {"NULL"})
        missing = sorted(set(elements) - set(covered))
        if missing:
            errs.append(f"oracle.params.{key}: the potential's pair_coeff maps species {species}, not {missing} "
                        f"({where}); it supports {covered}")
            continue
        for el, t in sorted(check.items()):
            if el in elements and not (1 <= int(t) <= len(species) and species[int(t) - 1] == el):
                got = species[int(t) - 1] if 1 <= int(t) <= len(species) else "no species"
                errs.append(f"oracle.params: {el} is LAMMPS type {t}, which pair_coeff maps to {got} "
                            f"(species by type: {species})")
    return errs


def lammps_kind_errors(elements, params, where="system.element"):
    """The elements that ``oracle.kind: lammps`` cannot label: those not in
    the species list of its ``pair_coeff`` lines (``oracle.params.atom_types``
    when given); with neither, more than one element (LAMMPSlib would number
    the types in order of appearance, which a pair_coeff without species
    names cannot be checked against)."""
    from .oracle_lammps import lammps_type_species
    coeffs = params.get("pair_coeff")
    lines = [coeffs] if isinstance(coeffs, str) else [str(c) for c in coeffs or []]
    try:
        species = lammps_type_species(lines)
    except ValueError as err:
        return [str(err)]
    given = params.get("atom_types")
    if given:
        have = list(given) if not isinstance(given, dict) else sorted(given)
        source = "oracle.params.atom_types"
    elif species:
        have = [s for s in species if s]
        source = f"oracle.params.pair_coeff (species by LAMMPS type: {species})"
    else:
        if len(set(elements)) > 1:
            return [f"oracle.params.pair_coeff: the lines {lines} name no species ('pair_coeff * * <files> El1 "
                    f"El2 ...'), so the LAMMPS types of {sorted(set(elements))} ({where}) are unknown; give "
                    "oracle.params.atom_types (elements by type 1, 2, ...)"]
        return []
    missing = sorted(set(elements) - set(have))
    if not missing:
        return []
    return [f"oracle.kind lammps: the potential has no species {missing} ({where}); {source} covers "
            f"{sorted(set(have))}. Choose a potential for these elements or change the system"]
