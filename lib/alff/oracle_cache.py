"""Finished oracle calls on disk: one extended-XYZ file per structure, keyed
by the structure and the oracle settings, written atomically."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

__all__ = ["OracleCache", "structure_key", "count_calls", "is_ok"]


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
