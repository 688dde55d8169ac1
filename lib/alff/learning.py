"""The active-learning engine: explore with MD driven by a model, watch the
per-atom uncertainty, label where it is too high.

One engine, two modes:

- on the fly (:func:`learn_on_the_fly`, FLARE): on a trigger the frame is
  labelled at once, its most uncertain environments join the training set,
  the model is updated (hyperparameters re-optimised on a schedule) and the
  MD goes on from the same state with the oracle's forces for that step;
- batch (:func:`explore` + :func:`select_candidates`): the model is fixed,
  triggered frames are collected as candidates, the MD stops at a break
  threshold or after enough candidates, and the caller labels the selection
  and retrains (one Snakemake job per step).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from .dynamics import Integrator, MDState, Schedule, kinetic_temperature, thermalize
from .models import GaussianProcess
from .oracle import is_ok

__all__ = ["Trigger", "Explorer", "LearningLog", "make_model", "initial_training", "training_inputs",
           "learn_on_the_fly", "explore", "select_candidates", "mark_training_atoms"]

log = logging.getLogger("alff.learning")

LOG_COLUMNS = ["step", "time_ps", "phase", "temperature_K", "potential_energy_eV", "max_force_std",
               "threshold", "sigma_n", "n_oracle_calls", "n_failed_labels", "n_training_envs", "event"]


@dataclass
class Trigger:
    """When a frame is uncertain enough to label (the FLARE criterion).

    A frame triggers when any force-component std exceeds the threshold
    ``std_tolerance_factor * sigma_n`` (or ``absolute`` in eV/A when set).

    Attributes
    ----------
    std_tolerance_factor : float
    absolute : float or None
    max_atoms_added : int
        The N most uncertain atomic environments of a labelled frame that
        join the training set.
    break_factor : float or None
        Batch exploration stops when the uncertainty exceeds
        ``break_factor * threshold`` (MLIP's gamma_break).
    """

    std_tolerance_factor: float = 1.0
    absolute: float | None = None
    max_atoms_added: int = 4
    break_factor: float | None = 4.0

    @classmethod
    def from_config(cls, cfg):
        return cls(float(cfg.get("std_tolerance_factor", 1.0)), cfg.get("absolute"),
                   int(cfg.get("max_atoms_added", 4)), cfg.get("break_factor", 4.0))

    def threshold(self, sigma_n):
        """Force-std threshold in eV/A."""
        return float(self.absolute) if self.absolute else self.std_tolerance_factor * float(sigma_n)


def atom_uncertainty(force_std):
    """Per-atom uncertainty: the largest force-component std.

    Parameters
    ----------
    force_std : (N, 3) array

    Returns
    -------
    (N,) array
    """
    return np.asarray(force_std).max(axis=1)


def most_uncertain(force_std, n):
    """Indices of the ``n`` most uncertain atoms, most uncertain first."""
    u = atom_uncertainty(force_std)
    return np.argsort(-u, kind="stable")[:max(int(n), 1)]


def mark_training_atoms(frame, force_std, n):
    """Set ``arrays['train_mask']`` of a labelled frame to its ``n`` most
    uncertain atoms (by ``force_std``, (N, 3))."""
    mask = np.zeros(len(frame), bool)
    mask[most_uncertain(force_std, n)] = True
    frame.arrays["train_mask"] = mask
    return frame


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


def make_model(cfg):
    """A :class:`GaussianProcess` from the ``model`` config section."""
    kw = dict(cutoffs=cfg.get("cutoffs"), hyps=cfg.get("hyps") or None,
              energy_labels=bool(cfg.get("energy_labels", False)),
              stress_labels=bool(cfg.get("stress_labels", False)),
              maxiter=int(cfg.get("maxiter", 20)))
    if cfg.get("species"):
        kw["species"] = cfg["species"]
    return GaussianProcess(**kw)


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


@dataclass
class LearningLog:
    """Rows of the learning log and the wall-time split."""

    rows: list = field(default_factory=list)
    timings: dict = field(default_factory=lambda: {"oracle_s": 0.0, "training_s": 0.0,
                                                   "prediction_s": 0.0, "md_s": 0.0})
    n_calls: int = 0
    n_failed: int = 0

    def add(self, **row):
        self.rows.append({k: row.get(k, "") for k in LOG_COLUMNS})

    def frame(self):
        import pandas as pd
        return pd.DataFrame(self.rows, columns=LOG_COLUMNS)


class Explorer:
    """MD driven by a model, watching its per-atom force uncertainty.

    Parameters
    ----------
    model : GaussianProcess
        Any model with ``predict_all(atoms, return_std=True)`` and
        ``hyps_['sigma_n']``.
    schedule : Schedule
    state : MDState
        Where to start; momenta are drawn at the current segment's
        temperature when the state has none.
    trigger : Trigger
    log_every : int
        Steps between log rows (events are always logged).
    progress_s : float
        Seconds between progress lines in the log file.
    learning_log : LearningLog, optional
        Shared between explorations of one run.
    """

    def __init__(self, model, schedule: Schedule, state: MDState, trigger: Trigger, log_every=10,
                 progress_s=10.0, learning_log=None, label=""):
        self.model = model
        self.schedule = schedule
        self.state = state
        self.trigger = trigger
        self.log_every = max(int(log_every), 1)
        self.progress_s = float(progress_s)
        self.log = learning_log or LearningLog()
        self.label = label
        atoms = state.atoms
        self.masses = atoms.get_masses()
        self.integrator = Integrator(self.masses, schedule.timestep_fs, schedule.friction_per_fs)
        if not atoms.has("momenta") or not np.any(atoms.get_momenta()):
            _, seg, _ = schedule.segment_at(state.step)
            atoms.set_momenta(thermalize(self.masses, seg.temperature_K, state.rng))
        self._last_progress = -np.inf

    # ------------------------------------------------------------- helpers
    def n_envs(self):
        return int(getattr(self.model, "n_envs_", 0))

    def sigma_n(self):
        return float(self.model.hyps_["sigma_n"])

    def evaluate(self, energy=False):
        """Model forces, their std and (optionally) the energy at the current
        positions."""
        t0 = time.perf_counter()
        props = ("forces", "energy") if energy else ("forces",)
        res = self.model.predict_all(self.state.atoms, return_std=True, properties=props)
        self.log.timings["prediction_s"] += time.perf_counter() - t0
        return res

    def _row(self, res, event=""):
        st = self.state
        _, seg, _ = self.schedule.segment_at(st.step)  # past the end: the last segment
        u = float(atom_uncertainty(res["force_std"]).max())
        self.log.add(step=st.step, time_ps=st.time_ps, phase=seg.phase,
                     temperature_K=kinetic_temperature(st.atoms.get_momenta(), self.masses),
                     potential_energy_eV=res.get("energy", np.nan), max_force_std=u,
                     threshold=self.trigger.threshold(self.sigma_n()), sigma_n=self.sigma_n(),
                     n_oracle_calls=self.log.n_calls, n_failed_labels=self.log.n_failed,
                     n_training_envs=self.n_envs(), event=event)

    def _progress(self, res, force=False):
        now = time.perf_counter()
        if not force and now - self._last_progress < self.progress_s:
            return
        self._last_progress = now
        st = self.state
        log.info("%sstep %d/%d  t=%.3f ps  T=%.0f K  max std=%.4f eV/A  sigma_n=%.4f  calls=%d  failed=%d  envs=%d",
                 self.label, st.step, self.schedule.total_steps, st.time_ps,
                 kinetic_temperature(st.atoms.get_momenta(), self.masses),
                 float(atom_uncertainty(res["force_std"]).max()), self.sigma_n(), self.log.n_calls,
                 self.log.n_failed, self.n_envs())

    # ----------------------------------------------------------------- loop
    def run(self, on_trigger, max_steps=None):
        """Integrate until the schedule ends, ``max_steps`` steps were done, or
        ``on_trigger`` says stop.

        Parameters
        ----------
        on_trigger : callable
            ``on_trigger(explorer, res, u)`` with the prediction ``res`` and
            per-atom uncertainty ``u`` (N,), called when the trigger fires
            (before the step from these positions). Returns ``"continue"``,
            ``"stop"`` or a dict of forces ``{"forces": (N, 3)}`` after the
            model changed (the step then uses those forces and the model is
            re-evaluated next step).
        max_steps : int, optional

        Returns
        -------
        str
            Why it stopped: ``"schedule"``, ``"max_steps"``, ``"trigger"`` or
            ``"unphysical"`` (atoms too close; the state is the last good
            one).
        """
        st = self.state
        sched = self.schedule
        done = 0
        try:
            res = self.evaluate(energy=True)
        except ValueError as err:
            log.warning("%sunphysical start structure: %s", self.label, err)
            return "unphysical"
        while st.step < sched.total_steps:
            if max_steps is not None and done >= max_steps:
                return "max_steps"
            _, seg, start = sched.segment_at(st.step)
            if st.step == start and seg.rescale:
                p = st.atoms.get_momenta()
                t = kinetic_temperature(p, self.masses)
                if t > 0:
                    st.atoms.set_momenta(p * np.sqrt(seg.temperature_K / t))
                log.info("%sstep %d: velocities rescaled from %.0f K to %.0f K (phase %s)",
                         self.label, st.step, t, seg.temperature_K, seg.phase)
            u = atom_uncertainty(res["force_std"])
            event = ""
            forces = res["forces"]
            if u.max() > self.trigger.threshold(self.sigma_n()):
                action = on_trigger(self, res, u)
                if action == "stop":
                    self._row(res, "stop")
                    self._progress(res, force=True)
                    return "trigger"
                if isinstance(action, dict):
                    forces = action["forces"]
                    event = action.get("event", "oracle")
                elif isinstance(action, str) and action not in ("continue",):
                    event = action
            if event or st.step % self.log_every == 0:
                if "energy" not in res:
                    res = dict(res, energy=self.evaluate(energy=True)["energy"])
                self._row(res, event)
            self._progress(res)
            # one BAOAB / velocity-Verlet step
            t0 = time.perf_counter()
            ens = seg.ensemble or sched.ensemble
            x0, p0 = st.atoms.get_positions(), st.atoms.get_momenta()
            p = self.integrator.half_kick(p0, forces)
            x, p = self.integrator.drift_thermostat(x0, p, ens, seg.temperature_K, st.rng)
            st.atoms.set_positions(x)
            self.log.timings["md_s"] += time.perf_counter() - t0
            try:
                res = self.evaluate(energy=(st.step + 1) % self.log_every == 0)
            except ValueError as err:  # atoms too close: keep the last good state
                st.atoms.set_positions(x0)
                st.atoms.set_momenta(p0)
                log.warning("%sstep %d: unphysical structure, exploration stops: %s", self.label, st.step, err)
                return "unphysical"
            st.atoms.set_momenta(self.integrator.half_kick(p, res["forces"]))
            st.step += 1
            st.time_ps += sched.timestep_fs / 1000.0
            done += 1
        self._row(res, "end")
        self._progress(res, force=True)
        return "schedule"


def learn_on_the_fly(model, schedule, state, trigger, oracle, learning_cfg, learning_log=None, label=""):
    """FLARE on-the-fly learning: label inline whenever the trigger fires.

    Parameters
    ----------
    model : GaussianProcess
        Already trained on the seed.
    schedule : Schedule
    state : MDState
    trigger : Trigger
    oracle : OracleCache or Oracle
        ``label(atoms)`` returns a label or a failed record.
    learning_cfg : dict
        The ``learn`` config section: ``max_oracle_calls``,
        ``hyps_opt_first`` (optimise after each of the first n updates),
        ``hyps_opt_every`` (then every m updates; 0 never),
        ``failure_cooldown_steps``, ``log_every``, ``progress_s``.

    Returns
    -------
    model, list of labelled frames (with ``train_mask``), LearningLog, calls
    """
    llog = learning_log or LearningLog()
    labelled, calls = [], []
    max_calls = int(learning_cfg.get("max_oracle_calls", 100))
    opt_first = int(learning_cfg.get("hyps_opt_first", 10))
    opt_every = int(learning_cfg.get("hyps_opt_every", 0))
    cooldown = int(learning_cfg.get("failure_cooldown_steps", 10))
    blocked = {"until": -1, "warned": False}
    n_updates = [0]

    def on_trigger(ex, res, u):
        st = ex.state
        if llog.n_calls >= max_calls:
            if not blocked["warned"]:
                log.warning("%sreached learn.max_oracle_calls=%d: MD goes on without labelling", label, max_calls)
                blocked["warned"] = True
            return "continue"
        if st.step < blocked["until"]:
            return "continue"
        t0 = time.perf_counter()
        frame = st.atoms.copy()
        frame.calc = None
        frame.arrays["force_std"] = res["force_std"]
        frame.info["purpose"] = "learn"
        lab = oracle.label(frame)
        llog.timings["oracle_s"] += time.perf_counter() - t0
        llog.n_calls += 1
        _, seg, _ = ex.schedule.segment_at(st.step)
        lab.info.update(md_step=st.step, md_time_ps=st.time_ps, phase=seg.phase)
        call = {"step": st.step, "time_ps": st.time_ps, "phase": seg.phase, "status": lab.info["oracle_status"],
                "reason": lab.info.get("oracle_reason", ""), "walltime_s": lab.info.get("oracle_walltime_s", 0.0),
                "max_force_std": float(u.max()), "n_added": 0, "cached": bool(lab.info.get("oracle_cached", False))}
        if not is_ok(lab):
            llog.n_failed += 1
            blocked["until"] = st.step + cooldown
            log.warning("%sstep %d: oracle failed (%s); going on without this structure",
                        label, st.step, call["reason"])
            calls.append(call)
            return "failed"
        mark_training_atoms(lab, res["force_std"], trigger.max_atoms_added)
        add = np.flatnonzero(lab.arrays["train_mask"])
        t0 = time.perf_counter()
        model.update([lab], [add])
        n_updates[0] += 1
        k = n_updates[0]
        if k <= opt_first or (opt_every and (k - opt_first) % opt_every == 0):
            model.optimize()
        llog.timings["training_s"] += time.perf_counter() - t0
        labelled.append(lab)
        call["n_added"] = len(add)
        calls.append(call)
        log.info("%sstep %d: oracle call %d, max std %.4f > %.4f, added atoms %s; sigma_n=%.4f envs=%d",
                 label, st.step, llog.n_calls, u.max(), ex.trigger.threshold(ex.sigma_n()),
                 add.tolist(), ex.sigma_n(), ex.n_envs())
        return {"forces": np.asarray(lab.get_forces()), "event": "oracle"}

    ex = Explorer(model, schedule, state, trigger, learning_cfg.get("log_every", 10),
                  learning_cfg.get("progress_s", 10.0), llog, label)
    ex.run(on_trigger)
    return model, labelled, llog, calls


def explore(model, schedule, state, trigger, explore_cfg, learning_log=None, label="", resumed=False):
    """Batch exploration with a fixed model: collect uncertain frames.

    Parameters
    ----------
    explore_cfg : dict
        ``max_candidates`` (stop after this many), ``min_separation`` (steps
        between candidates), ``max_steps`` (per exploration; None: the rest
        of the schedule), ``log_every``, ``progress_s``.

    resumed : bool
        The state is where a previous exploration stopped (on a candidate
        that was labelled already): the first candidate must be at least
        ``min_separation`` steps later.

    Returns
    -------
    candidates : list of ase.Atoms
        With ``arrays['force_std']`` and ``info`` md_step, md_time_ps, phase,
        max_force_std.
    reason : str
        Why the exploration stopped (see :meth:`Explorer.run`).
    LearningLog
    """
    llog = learning_log or LearningLog()
    cands = []
    max_c = int(explore_cfg.get("max_candidates", 20))
    sep = int(explore_cfg.get("min_separation", 10))
    last = {"step": state.step if resumed else -10 ** 9}

    def on_trigger(ex, res, u):
        st = ex.state
        thr = ex.trigger.threshold(ex.sigma_n())
        brk = ex.trigger.break_factor
        if st.step - last["step"] >= sep or (brk and u.max() > brk * thr and st.step > last["step"]):
            f = st.atoms.copy()
            f.calc = None
            f.arrays["force_std"] = res["force_std"]
            _, seg, _ = ex.schedule.segment_at(st.step)
            f.info.update(md_step=st.step, md_time_ps=st.time_ps, phase=seg.phase, max_force_std=float(u.max()),
                          purpose="learn")
            cands.append(f)
            last["step"] = st.step
            if len(cands) >= max_c or (brk and u.max() > brk * thr):
                return "stop"
            return "candidate"
        return "continue"

    ex = Explorer(model, schedule, state, trigger, explore_cfg.get("log_every", 10),
                  explore_cfg.get("progress_s", 10.0), llog, label)
    reason = ex.run(on_trigger, max_steps=explore_cfg.get("max_steps"))
    return cands, reason, llog


def select_candidates(candidates, n):
    """The ``n`` most uncertain candidates (by ``info['max_force_std']``),
    most uncertain first."""
    order = sorted(range(len(candidates)), key=lambda i: -float(candidates[i].info.get("max_force_std", 0.0)))
    return [candidates[i] for i in order[:int(n)]]


def start_state(seed_state_atoms, schedule, strain=0.0, seed=0):
    """The MD state an exploration starts from: the seed's last frame (its
    momenta when present), strained, at step 0 with a seeded RNG."""
    from .structures import apply_strain
    a = apply_strain(seed_state_atoms, strain)
    a.calc = None
    for k in ("md_step", "md_time_ps", "md_rng"):
        a.info.pop(k, None)
    return MDState(a, 0, 0.0, np.random.default_rng(seed))
