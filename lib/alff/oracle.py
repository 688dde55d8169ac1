"""The reference method (the *oracle*): build it from config and label structures.

A label is the structure itself with the oracle's energy, forces and stress
(a ``SinglePointCalculator``, so it round-trips through extended XYZ) and
``info`` entries

- ``oracle_status``: ``"ok"`` or ``"failed"``,
- ``oracle_reason``: why it failed (absent when ok),
- ``oracle_walltime_s``: wall time of the call,
- ``oracle``: the oracle settings as a JSON string.

A failure (exception, non-finite result, SCF not converged, timeout) never
raises out of :meth:`Oracle.label`: it returns a *failed record* (the
structure without labels and the reason), so an active-learning iteration
goes on without that structure and reports it.

Finished calls are kept in an :class:`OracleCache` keyed by the structure and
the oracle settings, so a resumed run never repeats an oracle call.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import signal
import threading
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

__all__ = ["Oracle", "OracleCache", "OracleTimeout", "is_ok", "count_calls"]

KINDS = ("emt", "lj", "gpaw", "calculator")


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


class Oracle:
    """Reference calculator built from the ``oracle`` config section.

    Parameters
    ----------
    kind : {'emt', 'lj', 'gpaw', 'calculator'}
        ``emt``: ASE's EMT (Al, Cu, Ag, Au, Ni, Pd, Pt); ``lj``: ASE's
        Lennard-Jones (``params``: sigma, epsilon, rc); ``gpaw``: plane-wave
        DFT (``params``: mode, ecut, kpts, xc, smearing, any GPAW keyword);
        ``calculator``: any ASE calculator by import path ``calculator`` with
        keyword arguments ``params`` (e.g. ``ase.calculators.vasp.Vasp``).
    params : dict
        Keyword arguments of the calculator.
    calculator : str, optional
        Import path of the calculator class (kind ``calculator``).
    timeout_s : float, optional
        Wall-time limit of one call (0 or None: none).
    """

    def __init__(self, kind="emt", params=None, calculator=None, timeout_s=None):
        if kind not in KINDS:
            raise ValueError(f"oracle.kind must be one of {KINDS}, got '{kind}'")
        if kind == "calculator" and not calculator:
            raise ValueError("oracle.kind 'calculator' needs oracle.calculator (an import path)")
        if kind == "calculator":
            _import(calculator)  # fail now, not on every label
        self.kind = kind
        self.params = dict(params or {})
        self.calculator_path = calculator
        self.timeout_s = float(timeout_s) if timeout_s else None
        self._calc = None

    @classmethod
    def from_config(cls, cfg):
        """Build from the ``oracle`` config section (a dict)."""
        return cls(kind=cfg.get("kind", "emt"), params=cfg.get("params"),
                   calculator=cfg.get("calculator"), timeout_s=cfg.get("timeout_s"))

    @property
    def settings(self):
        """The settings as a dict (stored with every label)."""
        return {"kind": self.kind, "params": self.params, "calculator": self.calculator_path}

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
        work = out.copy()
        t0 = time.perf_counter()
        try:
            with _time_limit(self.timeout_s):
                work.calc = self.calculator()
                energy = float(work.get_potential_energy())
                forces = np.array(work.get_forces(), dtype=float)
                s = None
                if stress and all(work.pbc):
                    try:
                        s = np.array(work.get_stress(), dtype=float)
                    except Exception:  # noqa: BLE001 - stress is optional
                        s = None
            if not np.isfinite(energy) or not np.isfinite(forces).all():
                raise FloatingPointError("non-finite energy or forces")
            if s is not None and not np.isfinite(s).all():
                s = None
        except Exception as err:  # noqa: BLE001 - any oracle failure becomes a record
            self._calc = None  # a failed calculator may hold a broken state
            reason = f"{type(err).__name__}: {err}".strip()
            out.info.update(oracle_status="failed", oracle_reason=reason[:500],
                            oracle_walltime_s=time.perf_counter() - t0, oracle=self.settings_json())
            return out
        results = {"energy": energy, "forces": forces}
        if s is not None:
            results["stress"] = s
        out.calc = SinglePointCalculator(out, **results)
        out.info.update(oracle_status="ok", oracle_walltime_s=time.perf_counter() - t0,
                        oracle=self.settings_json())
        return out


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
                return out
        out = self.oracle.label(atoms)
        self.calls += 1
        write_frames(p, [out])
        # Return the stored copy (extended XYZ keeps 8 decimals), so a fresh
        # call and a later cache hit give bitwise the same label and a
        # replayed on-the-fly trajectory stays identical.
        out = read_frames(p)[0]
        out.info["oracle_cached"] = False
        return out


def count_calls(directory):
    """Number of finished oracle calls cached in ``directory``."""
    d = Path(directory)
    return len(list(d.glob("*.extxyz"))) if d.exists() else 0
