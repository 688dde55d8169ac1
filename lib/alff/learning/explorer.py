"""One MD loop for every model and selector.

The :class:`Explorer` integrates the dynamics on the selector's drive
potential, asks the selector for a per-atom score and a verdict at every
step (or every ``selector.score_every``-th step and the step after each
event, for selectors whose score costs far more than the forces; the other
steps are driven by the forces alone and logged with a NaN score), and
hands every verdict other than ``continue`` to a *handler*: the
on-the-fly driver (label now) or the batch collector (keep candidates). The
handler answers with an :class:`Action`. The explorer keeps no learning
state of its own beyond the MD state and the log it writes to.

A :class:`PhaseMonitor` checks the phase of each segment whose label claims
one (:mod:`alff.analysis.phase`): the solid fraction of a few frames at the
segment's end; a contradicted label is a warning in the learning log.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ..analysis.phase import MISMATCH, classify_atoms, expected_phase, segment_checks
from ..dynamics import Integrator, MDState, Schedule, kinetic_temperature, thermalize
from ..selection import CONTINUE
from .records import LearningLog

__all__ = ["Action", "Explorer", "PhaseMonitor"]

log = logging.getLogger("alff.learning")
progress_log = logging.getLogger("alff.progress.learning")


@dataclass
class Action:
    """A handler's answer to a verdict.

    Attributes
    ----------
    event : str
        Logged in the event column ('' for none).
    forces : (N, 3) array or None
        Forces of the coming step instead of the prediction's (the oracle's,
        after a label; the model is re-evaluated at the next step).
    stop : bool
        End the exploration here.
    checkpoint : bool
        Call ``handler.checkpoint(explorer, forces)`` once the step's log
        row is written, before the step (the state a restart continues from).
    """

    event: str = ""
    forces: object = None
    stop: bool = False
    checkpoint: bool = False


class PhaseMonitor:
    """Phase checks of explored segments.

    At ``frames`` steps spaced ``max(steps // 20, 1)`` apart and ending on a
    segment's last step, the structure's solid fraction is recorded (only
    for segments whose label claims a phase); on the last one, the
    segment's verdict, and a warning when it contradicts the label.

    Parameters
    ----------
    reference : PhaseReference
        The crystal the exploration started from.
    trajectory : str
        Name of the exploration (scenario) in the rows.
    rows : list, optional
        Rows of earlier frames (shared with a driver, checkpointed by it).
    frames : int

    Attributes
    ----------
    rows : list of dict
        One per checked frame (:func:`alff.analysis.phase.segment_checks`).
    """

    def __init__(self, reference, trajectory="", rows=None, frames=3):
        self.reference = reference
        self.trajectory = str(trajectory)
        self.rows = rows if rows is not None else []
        self.frames = max(int(frames), 1)

    def check_steps(self, start, steps):
        """The steps of a segment (first step ``start``) that are checked."""
        stride = max(int(steps) // 20, 1)
        last = start + int(steps) - 1
        return [s for s in (last - j * stride for j in range(self.frames)) if s >= start]

    def observe(self, schedule, step, atoms, label=""):
        """Record the structure at ``step`` when it is a check step; at a
        segment's last step, return its check (None otherwise)."""
        k, seg, start = schedule.segment_at(step)
        if expected_phase(seg.phase) is None or step not in self.check_steps(start, seg.steps):
            return None
        f, why = classify_atoms(atoms, self.reference)
        ref = self.reference
        self.rows.append({"trajectory": self.trajectory, "segment": k, "phase": seg.phase, "step": int(step),
                          "temperature_K": seg.temperature_K, "solid_fraction": None if why else float(f),
                          "reason": why, "crystal": ref.crystal,
                          "cutoff": None if np.isnan(ref.cutoff) else float(ref.cutoff)})
        if step != start + seg.steps - 1:
            return None
        check = segment_checks([r for r in self.rows if r["trajectory"] == self.trajectory
                                and r["segment"] == k])[0]
        if check["status"] == MISMATCH:
            log.warning("%s%s", label, segment_warning(check))
        else:
            log.info("%sphase check of explore.schedule[%d] (%s): %s%s", label, k, seg.phase, check["status"],
                     f", mean q6 solid fraction {check['mean_solid_fraction']:.2f}"
                     if check["mean_solid_fraction"] is not None else f" ({check['reason']})")
        return check


def segment_warning(check):
    """The warning of an explored segment whose structure contradicts its label."""
    per = ", ".join(f"{x:.2f}" for x in check["solid_fraction"])
    k, T = check["segment"], check["temperature_K"]
    fix = (f"raise explore.schedule[{k}].temperature_K (now {T:.0f} K), use a larger cell (system.repeat) or a "
           "lower density (system.a)" if check["expected"] == "liquid"
           else f"lower explore.schedule[{k}].temperature_K (now {T:.0f} K)")
    return (f"PHASE CHECK: explored segment explore.schedule[{k}] labelled '{check['phase']}' is not "
            f"{check['expected']}: mean q6 solid fraction {check['mean_solid_fraction']:.2f} over its last "
            f"frames (steps {check['steps']}: {per}), verdict {check['verdict']}: what was explored and labelled "
            f"under that label is {check['verdict']}; fix: {fix}, or relabel the segment")


class Explorer:
    """MD driven by a model through a selector.

    Parameters
    ----------
    model : Model
    selector : Selector
    schedule : Schedule
    state : MDState
        Where to start; momenta are drawn at the current segment's
        temperature when the state has none.
    learning_log : LearningLog, optional
        Shared between explorations of one run.
    label : str
        Prefix of log messages.
    log_every : int
        Steps between log rows (events are always logged).
    progress_s : float
        Seconds between progress lines (logger ``alff.progress``: the log
        file, and the terminal at its own rate).
    guard : StructureGuard, optional
        Limits of the trajectory (:mod:`alff.learning.limits`): temperature
        every step, closest pair every ``log_every`` steps and before every
        frame the handler keeps (:meth:`check_structure`); crossing one raises
        :class:`RunLimitError`.
    phase_monitor : PhaseMonitor, optional
        Checks the phase at each labelled segment's end (before the verdict
        of the step; the trajectory does not depend on it).

    Attributes
    ----------
    phase_checks : list of dict
        The checks of the segments that ended during :meth:`run`.
    """

    def __init__(self, model, selector, schedule: Schedule, state: MDState, learning_log=None, label="",
                 log_every=10, progress_s=10.0, guard=None, phase_monitor=None):
        self.model = model
        self.selector = selector
        self.schedule = schedule
        self.state = state
        self.log = learning_log if learning_log is not None else LearningLog()
        self.label = label
        self.log_every = max(int(log_every), 1)
        self.progress_s = float(progress_s)
        self.guard = guard
        self.phase_monitor = phase_monitor
        self.phase_checks = []
        self.score_every = max(int(getattr(selector, "score_every", 1)), 1)
        self._score_next = False
        self._last_score = np.nan
        self.masses = state.atoms.get_masses()
        self.integrator = Integrator(self.masses, schedule.timestep_fs, schedule.friction_per_fs)
        atoms = state.atoms
        if not atoms.has("momenta") or not np.any(atoms.get_momenta()):
            _, seg, _ = schedule.segment_at(state.step)
            atoms.set_momenta(thermalize(self.masses, seg.temperature_K, state.rng))
        self._last_progress = -np.inf

    # ------------------------------------------------------------- helpers
    def evaluate(self, energy=False, scored=True):
        """The drive potential's prediction at the current positions and the
        selector's per-atom score; with ``scored`` False the prediction
        without std and no score (None)."""
        t0 = time.perf_counter()
        props = ("forces", "energy") if energy else ("forces",)
        atoms = self.state.atoms
        res = self.selector.drive(self.model).predict(atoms, properties=props, return_std=scored)
        score = self.selector.score(self.model, atoms, res) if scored else None
        if scored:
            self._last_score = float(np.max(score))
        self.log.timings["prediction_s"] += time.perf_counter() - t0
        return res, score

    def _scored(self, step):
        """Whether the selector scores ``step`` (every ``score_every``-th
        step, and the first step after an event)."""
        return self._score_next or step % self.score_every == 0

    def check_structure(self):
        """Raise :class:`RunLimitError` when the current structure has
        collapsed (the handler calls it before it keeps or labels a frame)."""
        if self.guard is not None:
            self.guard.check_distances(self.state.atoms, self.state.step, self.label)

    def temperature(self):
        return kinetic_temperature(self.state.atoms.get_momenta(), self.masses)

    def phase(self):
        return self.schedule.segment_at(self.state.step)[1].phase

    def _row(self, res, score, event=""):
        st = self.state
        self.log.add(step=st.step, time_ps=st.time_ps, phase=self.phase(), temperature_K=self.temperature(),
                     potential_energy_eV=res.get("energy", np.nan),
                     max_uncertainty=np.nan if score is None else float(np.max(score)),
                     threshold=self.selector.threshold_, noise=self.model.noise_,
                     n_oracle_calls=self.log.n_calls, n_failed_labels=self.log.n_failed,
                     n_train=self.model.n_train_, event=event)

    def _progress(self, force=False):
        now = time.perf_counter()
        if not force and now - self._last_progress < self.progress_s:
            return
        self._last_progress = now
        st = self.state
        progress_log.info("%sstep %d/%d  t=%.3f ps  T=%.0f K  max uncertainty=%.4f  noise=%.4f  calls=%d  failed=%d  "
                 "train=%d", self.label, st.step, self.schedule.total_steps, st.time_ps, self.temperature(),
                 self._last_score, self.model.noise_, self.log.n_calls, self.log.n_failed,
                 self.model.n_train_)

    def _rescale(self):
        """Velocities to the segment's temperature where a rescaling segment starts."""
        st = self.state
        _, seg, start = self.schedule.segment_at(st.step)
        if st.step == start and seg.rescale:
            p = st.atoms.get_momenta()
            t = kinetic_temperature(p, self.masses)
            if t > 0:
                st.atoms.set_momenta(p * np.sqrt(seg.temperature_K / t))
            log.info("%sstep %d: velocities rescaled from %.0f K to %.0f K (phase %s)",
                     self.label, st.step, t, seg.temperature_K, seg.phase)

    def _check_phase(self):
        if self.phase_monitor is not None:
            check = self.phase_monitor.observe(self.schedule, self.state.step, self.state.atoms, self.label)
            if check is not None:
                self.phase_checks.append(check)

    def _advance(self, forces):
        """One MD step with ``forces``; the prediction at the new positions,
        or None when the structure is unphysical (the state is kept)."""
        st = self.state
        sched = self.schedule
        seg = sched.segment_at(st.step)[1]
        t0 = time.perf_counter()
        x0, p0 = st.atoms.get_positions(), st.atoms.get_momenta()
        energy = (st.step + 1) % self.log_every == 0
        out = {}

        scored = self._scored(st.step + 1)

        def evaluate(x, p):
            self.log.timings["md_s"] += time.perf_counter() - t0
            st.atoms.set_positions(x)
            out["res"], out["score"] = self.evaluate(energy=energy, scored=scored)
            return out["res"]

        try:
            _, p, _ = self.integrator.step(x0, p0, forces, evaluate, seg.ensemble or sched.ensemble,
                                           seg.temperature_K, st.rng)
        except ValueError as err:  # atoms too close: keep the last good state
            st.atoms.set_positions(x0)
            st.atoms.set_momenta(p0)
            log.warning("%sstep %d: unphysical structure, exploration stops: %s", self.label, st.step, err)
            return None
        st.atoms.set_momenta(p)
        self._score_next = False
        st.step += 1
        st.time_ps += sched.timestep_fs / 1000.0
        if self.guard is not None:
            self.guard.check_temperature(self.temperature(), st.step, self.label)
            if st.step % self.log_every == 0:
                self.guard.check_distances(st.atoms, st.step, self.label)
        return out["res"], out["score"]

    # ----------------------------------------------------------------- loop
    def run(self, handler, max_steps=None, resume_forces=None):
        """Integrate until the schedule ends, ``max_steps`` steps were done,
        or the handler stops.

        Parameters
        ----------
        handler : object
            ``handler.handle(explorer, verdict, prediction, score) ->
            Action`` for every verdict other than ``continue``, and
            ``handler.checkpoint(explorer, forces)`` when an action asks.
        max_steps : int, optional
        resume_forces : (N, 3) array, optional
            Continue a checkpointed exploration: its state was saved after
            the decision of its current step, to be integrated with these
            forces.

        Returns
        -------
        str
            Why it stopped: ``"schedule"``, ``"max_steps"``, ``"stopped"``
            (by the handler) or ``"unphysical"`` (atoms too close; the state
            is the last good one).
        """
        st = self.state
        done = 0
        if resume_forces is not None:
            self._score_next = True  # checkpoints are taken at events, whose next step is scored
            nxt = self._advance(np.asarray(resume_forces, float))
            if nxt is None:
                return "unphysical"
            res, score = nxt
            done = 1
        else:
            try:
                res, score = self.evaluate(energy=True, scored=self._scored(st.step))
            except ValueError as err:
                log.warning("%sunphysical start structure: %s", self.label, err)
                return "unphysical"
        while st.step < self.schedule.total_steps:
            if max_steps is not None and done >= max_steps:
                return "max_steps"
            self._rescale()
            self._check_phase()
            verdict = CONTINUE if score is None else self.selector.verdict(st.step, score)
            action = Action() if verdict == CONTINUE else handler.handle(self, verdict, res, score)
            if action.event:
                self._score_next = True  # the first step of a refitted model is scored
            if action.stop:
                self._row(res, score, action.event or "stop")
                self._progress(force=True)
                return "stopped"
            forces = res["forces"] if action.forces is None else action.forces
            if action.event or st.step % self.log_every == 0:
                if "energy" not in res:
                    res = dict(res, energy=self.evaluate(energy=True, scored=False)[0]["energy"])
                self._row(res, score, action.event)
            self._progress()
            if action.checkpoint:
                handler.checkpoint(self, forces)
            nxt = self._advance(forces)
            if nxt is None:
                return "unphysical"
            res, score = nxt
            done += 1
        self._row(res, score, "end")
        self._progress(force=True)
        return "schedule"
