"""What a learning run records: the learning log, the oracle calls, and the
training-set bookkeeping of labelled frames (``arrays['train_mask']``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..dynamics import MDState
from ..oracle import is_ok

__all__ = ["LOG_COLUMNS", "CALL_COLUMNS", "LearningLog", "training_inputs", "initial_training",
           "mark_training_atoms", "start_state", "unlabelled_copy"]

#: columns of the learning log (one row every ``log_every`` MD steps and at
#: every event): ``max_uncertainty`` is the largest per-atom score of the
#: scheme's selector, ``threshold`` what it was compared with, ``noise`` the
#: model's fitted label noise, ``n_train`` its training environments
LOG_COLUMNS = ["step", "time_ps", "phase", "temperature_K", "potential_energy_eV", "max_uncertainty",
               "threshold", "noise", "n_oracle_calls", "n_failed_labels", "n_train", "event"]
#: columns of the table of oracle calls
CALL_COLUMNS = ["trajectory", "step", "time_ps", "phase", "status", "reason", "walltime_s", "max_uncertainty",
                "n_added", "cached"]


@dataclass
class LearningLog:
    """Rows of the learning log, the oracle calls and the wall-time split."""

    rows: list = field(default_factory=list)
    calls: list = field(default_factory=list)
    timings: dict = field(default_factory=lambda: {"oracle_s": 0.0, "training_s": 0.0,
                                                   "prediction_s": 0.0, "md_s": 0.0})
    n_calls: int = 0
    n_failed: int = 0

    def add(self, **row):
        self.rows.append({k: row.get(k, "") for k in LOG_COLUMNS})

    def frame(self):
        import pandas as pd
        return pd.DataFrame(self.rows, columns=LOG_COLUMNS)

    def state(self):
        """JSON-able copy (checkpoints)."""
        return {"rows": self.rows, "calls": self.calls, "timings": self.timings, "n_calls": self.n_calls,
                "n_failed": self.n_failed}

    @classmethod
    def from_state(cls, d):
        return cls(list(d["rows"]), list(d["calls"]), dict(d["timings"]), int(d["n_calls"]), int(d["n_failed"]))


def training_inputs(frames):
    """Frames and atom indices for a model from a training-set file.

    Frames that failed labelling are skipped; ``arrays['train_mask']`` selects
    the force-labelled atoms (all atoms when absent).

    Returns
    -------
    frames : list of ase.Atoms
    atom_indices : list of (M,) int arrays
    """
    out, idx = [], []
    for f in frames:
        if not is_ok(f):
            continue
        mask = f.arrays.get("train_mask")
        out.append(f)
        idx.append(np.arange(len(f)) if mask is None else np.flatnonzero(mask))
    return out, idx


def mark_training_atoms(frame, indices):
    """Set ``arrays['train_mask']`` of a labelled frame to ``indices``."""
    mask = np.zeros(len(frame), bool)
    mask[np.asarray(indices, int)] = True
    frame.arrays["train_mask"] = mask
    return frame


def initial_training(seed_frames, n_atoms, rng):
    """Mark ``n_atoms`` random atoms of every seed frame for training
    (``0`` or more than the frame: all atoms)."""
    out = []
    for f in seed_frames:
        if not is_ok(f):
            continue
        mask = np.zeros(len(f), bool)
        if n_atoms and n_atoms < len(f):
            mask[rng.choice(len(f), int(n_atoms), replace=False)] = True
        else:
            mask[:] = True
        f.arrays["train_mask"] = mask
        out.append(f)
    return out


def start_state(seed_state_atoms, strain=0.0, seed=0):
    """The MD state an exploration starts from: the seed's last frame (its
    momenta when present), strained, at step 0 with a seeded RNG."""
    from ..structures import apply_strain
    a = apply_strain(seed_state_atoms, strain)
    a.calc = None
    for k in ("md_step", "md_time_ps", "md_rng"):
        a.info.pop(k, None)
    return MDState(a, 0, 0.0, np.random.default_rng(seed))


def unlabelled_copy(atoms, score, **info):
    """A copy of an explored structure to label: no calculator, the
    selector's per-atom ``arrays['uncertainty']`` and ``info`` (with
    ``max_uncertainty``)."""
    f = atoms.copy()
    f.calc = None
    f.arrays["uncertainty"] = np.asarray(score, float)
    f.info.update(info, max_uncertainty=float(np.max(score)))
    return f
