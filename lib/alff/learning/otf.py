"""On-the-fly learning (FLARE's mode, for any model and selector): the
explorer runs on the current model; when the selector says ``label`` (or
``stop``) the frame is labelled at once, the selector's training atoms join
the model (:meth:`Model.update`, which refits on its own schedule) and the
MD goes on from the same state with the oracle's forces for that step.

The driver checkpoints its whole state after every oracle call
(:mod:`alff.learning.checkpoint`); a restarted run continues from the last
checkpoint instead of replaying the trajectory, so it never depends on
bitwise-reproducible floating point and never repeats a finished call.

Each scenario's segments are phase-checked against the scenario's start
structure (:class:`~alff.learning.explorer.PhaseMonitor`); the checked frames
are part of the checkpoint and :attr:`OnTheFly.phase_checks` holds the
verdicts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ..analysis.phase import PhaseReference, segment_checks
from ..oracle import is_ok
from ..selection import LABEL, STOP
from .checkpoint import read_checkpoint, restore_state, write_checkpoint
from .explorer import Action, Explorer, PhaseMonitor
from .limits import Limits, RunLimitError
from .records import LearningLog, mark_training_atoms, unlabelled_copy

__all__ = ["Scenario", "OnTheFly"]

log = logging.getLogger("alff.learning")


@dataclass
class Scenario:
    """One exploration of an on-the-fly run.

    Attributes
    ----------
    name : str
    schedule : Schedule
    start : MDState
        Where it starts (also the template a checkpoint is restored on).
    """

    name: str
    schedule: object
    start: object


class OnTheFly:
    """On-the-fly learning over scenarios run one after another.

    Parameters
    ----------
    model : Model
        Already trained on the seed.
    selector : Selector
    oracle : OracleCache or Oracle
        ``label(atoms)`` returns a label or a failed record.
    settings : dict
        The ``learn`` config section: ``max_oracle_calls``,
        ``failure_cooldown_steps``, ``log_every``, ``progress_s``,
        ``limits`` (:class:`~alff.learning.limits.Limits`; crossing one
        raises :class:`RunLimitError` after the checkpoint).
    checkpoint_dir : str or Path, optional
        Where checkpoints go (none without).
    fingerprint : str
        Identifies the settings; a checkpoint of other settings is ignored.

    Attributes
    ----------
    labelled : list of ase.Atoms
        Labelled frames (with ``train_mask``) in call order.
    log : LearningLog
    row_starts : list of int
        First log row of each scenario.
    phase_rows : list of dict
        The phase-checked frames of every scenario (see :attr:`phase_checks`).
    """

    def __init__(self, model, selector, oracle, settings, checkpoint_dir=None, fingerprint=""):
        self.model = model
        self.selector = selector
        self.oracle = oracle
        self.max_calls = int(settings.get("max_oracle_calls", 100))
        self.cooldown = int(settings.get("failure_cooldown_steps", 10))
        self.log_every = int(settings.get("log_every", 10))
        self.progress_s = float(settings.get("progress_s", 10.0))
        self.limits = Limits.from_config(settings)
        self.checkpoint_dir = checkpoint_dir
        self.fingerprint = fingerprint
        self.labelled = []
        self.log = LearningLog()
        self.row_starts = []
        self.phase_rows = []
        self.scenario = 0
        self.blocked_until = -1
        self.warned = False
        self._name = ""

    # ------------------------------------------------------------ handler
    def handle(self, ex, verdict, res, score):
        """Label the current frame (verdicts ``label`` and ``stop``)."""
        if verdict not in (LABEL, STOP):
            return Action()
        st = ex.state
        if self.log.n_calls >= self.max_calls:
            if not self.warned:
                log.warning("%sreached learn.max_oracle_calls=%d: MD goes on without labelling", ex.label,
                            self.max_calls)
                self.warned = True
            return Action()
        if st.step < self.blocked_until:
            return Action()
        phase = ex.phase()
        frame = unlabelled_copy(st.atoms, score, purpose="learn")
        t0 = time.perf_counter()
        ex.check_structure()  # no oracle call on a collapsed structure
        lab = self.oracle.label(frame)
        self.log.timings["oracle_s"] += time.perf_counter() - t0
        self.log.n_calls += 1
        lab.info.update(md_step=st.step, md_time_ps=st.time_ps, phase=phase)
        call = {"trajectory": self._name, "step": st.step, "time_ps": st.time_ps, "phase": phase,
                "status": lab.info["oracle_status"], "reason": lab.info.get("oracle_reason", ""),
                "walltime_s": lab.info.get("oracle_walltime_s", 0.0), "max_uncertainty": float(np.max(score)),
                "n_added": 0, "cached": bool(lab.info.get("oracle_cached", False))}
        if not is_ok(lab):
            self.log.n_failed += 1
            self.blocked_until = st.step + self.cooldown
            log.warning("%sstep %d: oracle failed (%s); going on without this structure", ex.label, st.step,
                        call["reason"])
            self.log.calls.append(call)
            try:
                self.limits.check_failures(self.log.n_calls, self.log.n_failed, ex.label)
            except RunLimitError:
                self.checkpoint(ex, res["forces"])  # the call is kept; a fixed run resumes here
                raise
            return Action(event="failed", checkpoint=True)
        mark_training_atoms(lab, self.selector.training_atoms(lab, score))
        add = np.flatnonzero(lab.arrays["train_mask"])
        t0 = time.perf_counter()
        self.model.update([lab], [add])
        self.log.timings["training_s"] += time.perf_counter() - t0
        self.labelled.append(lab)
        call["n_added"] = len(add)
        self.log.calls.append(call)
        log.info("%sstep %d: oracle call %d, max uncertainty %.4f > %.4f, added atoms %s; noise=%.4f train=%d",
                 ex.label, st.step, self.log.n_calls, float(np.max(score)), self.selector.threshold_,
                 add.tolist(), self.model.noise_, self.model.n_train_)
        return Action(event="oracle", forces=np.asarray(lab.get_forces()), checkpoint=True)

    def checkpoint(self, ex, forces):
        """Write the whole state (after an oracle call, before the step)."""
        if self.checkpoint_dir is None:
            return
        write_checkpoint(self.checkpoint_dir, self.log.n_calls, self.model, self.labelled, ex.state, forces,
                         self.state())

    def state(self):
        """The driver's JSON-able state (without model, frames, MD state)."""
        return {"fingerprint": self.fingerprint, "scenario": self.scenario, "row_starts": self.row_starts,
                "blocked_until": self.blocked_until, "warned": self.warned, "log": self.log.state(),
                "selector": self.selector.get_state(), "phase_rows": self.phase_rows}

    # ---------------------------------------------------------------- run
    def _resume(self):
        """Load the latest checkpoint: (scenario index, state, forces) or None."""
        if self.checkpoint_dir is None:
            return None
        ck = read_checkpoint(self.checkpoint_dir, self.fingerprint)
        if ck is None:
            return None
        d = ck["driver"]
        self.model, self.labelled = ck["model"], ck["labelled"]
        self.scenario, self.row_starts = int(d["scenario"]), list(d["row_starts"])
        self.blocked_until, self.warned = int(d["blocked_until"]), bool(d["warned"])
        self.log = LearningLog.from_state(d["log"])
        self.phase_rows = list(d.get("phase_rows", []))
        self.selector.set_state(d["selector"])
        log.info("resuming from %s: scenario %d, step %d, %d oracle calls done", ck["path"], self.scenario,
                 d["md_step"], self.log.n_calls)
        return ck

    def run(self, scenarios):
        """Learn along every scenario; returns ``self`` (``model``,
        ``labelled``, ``log``, ``row_starts`` hold the results)."""
        ck = self._resume()
        first = self.scenario if ck else 0
        for k in range(first, len(scenarios)):
            sc = scenarios[k]
            self.scenario, self._name = k, sc.name
            resume_forces = None
            if ck is not None and k == first:
                state, resume_forces = restore_state(sc.start.atoms, ck["arrays"], ck["driver"])
            else:
                state = sc.start
                self.row_starts.append(len(self.log.rows))
            guard = self.limits.structure_guard(sc.start.atoms, sc.schedule)
            monitor = PhaseMonitor(PhaseReference.from_structure(sc.start.atoms), sc.name, self.phase_rows)
            ex = Explorer(self.model, self.selector, sc.schedule, state, self.log, f"[{sc.name}] ",
                          self.log_every, self.progress_s, guard, monitor)
            why = ex.run(self, resume_forces=resume_forces)
            if why == "unphysical":
                raise RunLimitError(f"[{sc.name}] step {ex.state.step}: the model cannot evaluate the structure "
                                    "(atoms too close): the trajectory blew up; see the log")
        self.limits.check_failures(self.log.n_calls, self.log.n_failed, final=True)
        return self

    @property
    def phase_checks(self):
        """Verdicts of the explored segments
        (:func:`alff.analysis.phase.segment_checks` of :attr:`phase_rows`)."""
        return segment_checks(self.phase_rows)
