"""Atomic checkpoints of an on-the-fly learning run.

A checkpoint is a directory ``ckpt_<n>/`` holding the model (its own
``save``), the labelled frames, the MD state (positions, momenta, cell and
the forces of the pending step, bit for bit in ``.npz``; step, time and RNG
state in JSON), the learning log and the driver's and selector's state. It
is written completely, then ``latest.json`` is replaced atomically to point
at it, then older checkpoints are removed: a run killed at any moment finds
either the previous or the new checkpoint intact.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..dynamics import MDState
from ..jobs import read_json, write_json
from ..models import load_model
from ..structure_io import read_frames, write_frames

__all__ = ["write_checkpoint", "read_checkpoint", "write_loop_checkpoint", "read_loop_checkpoint", "restore_state",
           "clear_checkpoints", "fingerprint"]

log = logging.getLogger("alff.learning")

POINTER = "latest.json"


def fingerprint(*sections):
    """A stable string of the config sections a checkpoint belongs to: a
    checkpoint of other settings is not resumed."""
    return json.dumps(sections, sort_keys=True, default=str)


def _state_arrays(state, forces):
    a = state.atoms
    return {"numbers": a.numbers, "positions": a.positions, "momenta": a.get_momenta(), "cell": a.cell[:],
            "pbc": a.pbc, "forces": np.asarray(forces, float)}


def write_checkpoint(directory, n, model, labelled, state, forces, driver_state):
    """Write checkpoint ``n`` and point ``latest.json`` at it.

    Parameters
    ----------
    directory : str or Path
    n : int
        Increasing checkpoint number (the oracle calls so far).
    model : Model
    labelled : list of ase.Atoms
        Frames labelled so far in this run.
    state : MDState
    forces : (N, 3) array
        Forces of the pending step.
    driver_state : dict
        JSON-able: the driver's counters, the learning log, the selector's
        state, the config fingerprint.
    """
    d = _fresh(directory, n)
    model.save(d / "model")
    write_frames(d / "labelled.extxyz", labelled)
    with atomic_path(d / "state.npz") as tmp:
        np.savez(tmp, **_state_arrays(state, forces))
    write_json(d / "driver.json", dict(driver_state, md_step=int(state.step), md_time_ps=float(state.time_ps),
                                       md_rng=state.rng.bit_generator.state))
    _publish(d)


def _fresh(directory, n):
    d = Path(directory) / f"ckpt_{int(n):05d}"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def _publish(d):
    """Point ``latest.json`` at the complete checkpoint ``d``, then remove the older ones."""
    root = d.parent
    write_json(root / POINTER, {"checkpoint": d.name})
    for old in root.glob("ckpt_*"):
        if old.name != d.name:
            shutil.rmtree(old, ignore_errors=True)


def _latest(directory, expected_fingerprint, state_file):
    root = Path(directory)
    if not (root / POINTER).exists():
        return None, None
    d = root / read_json(root / POINTER)["checkpoint"]
    state = read_json(d / state_file)
    if state.get("fingerprint") != expected_fingerprint:
        log.warning("checkpoint %s belongs to other settings: starting afresh", d)
        return None, None
    return d, state


def write_loop_checkpoint(directory, n, model, frames, state):
    """Checkpoint ``n`` of a loop of whole iterations (no MD state in
    flight, e.g. relaxation-driven learning): the model, the labelled
    ``frames`` and the JSON-able ``state`` (with its ``fingerprint``),
    published as :func:`write_checkpoint` does."""
    d = _fresh(directory, n)
    model.save(d / "model")
    write_frames(d / "labelled.extxyz", frames)
    write_json(d / "loop.json", state)
    _publish(d)


def read_loop_checkpoint(directory, expected_fingerprint):
    """The latest :func:`write_loop_checkpoint`, or None (none, or one of
    other settings): dict with ``model``, ``frames``, ``state``, ``path``."""
    d, state = _latest(directory, expected_fingerprint, "loop.json")
    if d is None:
        return None
    return {"model": load_model(d / "model"), "frames": read_frames(d / "labelled.extxyz"), "state": state,
            "path": str(d)}


def read_checkpoint(directory, expected_fingerprint):
    """The latest checkpoint, or None (none, or one of other settings).

    Returns
    -------
    dict or None
        ``model``, ``labelled`` (frames), ``arrays`` (the MD state, for
        :func:`restore_state`), ``driver`` (dict), ``path``.
    """
    d, driver = _latest(directory, expected_fingerprint, "driver.json")
    if d is None:
        return None
    with np.load(d / "state.npz") as z:
        arrays = {k: z[k].copy() for k in z.files}
    return {"model": load_model(d / "model"), "labelled": read_frames(d / "labelled.extxyz"), "arrays": arrays,
            "driver": driver, "path": str(d)}


def restore_state(template, arrays, driver):
    """The checkpointed MD state on a copy of ``template`` (the scenario's
    start structure: species, constraints and info as at the start).

    Returns
    -------
    state : MDState
    forces : (N, 3) array
        Forces of the pending step.
    """
    a = template.copy()
    a.calc = None
    if len(a) != len(arrays["numbers"]) or not np.array_equal(a.numbers, arrays["numbers"]):
        raise ValueError("checkpoint does not match the scenario's start structure (other atoms)")
    a.set_cell(arrays["cell"], scale_atoms=False)
    a.set_positions(arrays["positions"], apply_constraint=False)
    a.set_momenta(arrays["momenta"], apply_constraint=False)
    rng = np.random.default_rng(0)
    rng.bit_generator.state = driver["md_rng"]
    return MDState(a, int(driver["md_step"]), float(driver["md_time_ps"]), rng), arrays["forces"]


def clear_checkpoints(directory):
    """Remove every checkpoint (after the run's outputs are written)."""
    root = Path(directory)
    if root.exists():
        shutil.rmtree(root, ignore_errors=True)
