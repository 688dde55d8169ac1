"""Batch learning of one scheme: one Snakemake job per step and per oracle
call (train -> explore per scenario -> select -> label per slot -> merge)."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.phase import MISMATCH, PhaseReference, segment_checks
from ..atomic import atomic_path
from ..dynamics import MDState
from ..jobs import read_json, write_json
from ..learning import LOG_COLUMNS, Limits, explore, mark_training_atoms, select_candidates, start_state, training_inputs
from ..learning.explorer import PhaseMonitor, segment_warning
from ..models import build_model, load_model
from ..oracle import is_ok
from ..selection import build_selector
from ..structure_io import read_frames, write_frames
from .common import oracle_cache, scenario_schedule, stopped, write_learning_outputs

__all__ = ["train_step", "explore_step", "select_step", "label_step", "merge_step", "finalize_step"]

log = logging.getLogger("alff.pipeline")


def _copy_model(src, dst):
    for suf in (".json", ".npz"):
        shutil.copyfile(Path(src).with_suffix(suf), Path(dst).with_suffix(suf))


def train_step(model_cfg, train_in, out_model, prev_model=None, prev_status=None, timing_out=None):
    """Fit the model of an iteration on its training set (warm-started from
    the previous iteration's model). After learning stopped, the previous
    model is carried over unchanged.

    Parameters
    ----------
    model_cfg : dict
        The scheme's ``model`` section.
    """
    t0 = time.perf_counter()
    if prev_model and stopped(prev_status):
        _copy_model(prev_model, out_model)
        log.info("learning stopped earlier: model carried over from %s", prev_model)
    else:
        frames, idx = training_inputs(read_frames(train_in))
        model = build_model(model_cfg, load_model(prev_model) if prev_model else None)
        model.fit(frames, idx)
        model.save(out_model)
        log.info("trained on %d frames: %s", len(frames), model.describe())
    if timing_out:
        write_json(timing_out, {"training_s": time.perf_counter() - t0})


def explore_step(scheme, learn, random_seed, iteration, scenario, model_path, start_path, prev_status, out):
    """Batch exploration of one scenario with the iteration's model.

    Parameters
    ----------
    scheme : dict
        ``selector`` and ``explore`` sections of the scheme.
    learn : dict
        Batch settings: ``max_candidates``, ``min_separation``, ``max_steps``,
        ``log_every``, ``progress_s``.
    out : dict
        Paths: candidates (extxyz), state (extxyz), log (CSV), timings (json,
        with ``phase_frames``: the phase-checked frames, see
        :class:`~alff.learning.explorer.PhaseMonitor`).
    """
    explore_cfg = scheme["explore"]
    sched, sc = scenario_schedule(explore_cfg, scenario)
    k = [s["name"] for s in explore_cfg["scenarios"]].index(scenario)
    start = read_frames(start_path)[0]
    if iteration == 0:
        st = start_state(start, sc.get("strain", 0.0), random_seed + 10 + k)
    else:
        st = MDState.from_atoms(start)
    reference = _phase_reference(st, iteration)
    monitor = PhaseMonitor(reference, scenario)
    if stopped(prev_status) or st.step >= sched.total_steps:
        why = "learning stopped" if stopped(prev_status) else "schedule finished"
        log.info("iteration %d, scenario %s: %s, nothing to explore", iteration, scenario, why)
        cands, reason, df = [], why, pd.DataFrame(columns=LOG_COLUMNS)
        timings = {}
    else:
        model = load_model(model_path)
        cands, reason, llog = explore(model, build_selector(scheme["selector"]), sched, st, learn,
                                      label=f"[iter {iteration} {scenario}] ", resumed=iteration > 0,
                                      phase_monitor=monitor)
        log.info("iteration %d, scenario %s: %d candidates, stopped by %s at step %d", iteration, scenario,
                 len(cands), reason, st.step)
        df, timings = llog.frame(), llog.timings
    for c in cands:
        c.info.update(scenario=scenario, iteration=iteration)
    write_frames(out["candidates"], cands)
    state_atoms = st.to_atoms()
    state_atoms.info[PHASE_REFERENCE_KEY] = json.dumps(reference.to_dict())
    write_frames(out["state"], [state_atoms])
    df.insert(0, "iteration", iteration)
    df.insert(0, "trajectory", scenario)
    with atomic_path(out["log"]) as tmp:
        df.to_csv(tmp, index=False)
    write_json(out["timings"], dict(timings, stop_reason=reason, phase_frames=monitor.rows))


#: ``info`` key of a batch exploration's state that carries the scenario's
#: phase reference (the crystal it started from) to the next iteration
PHASE_REFERENCE_KEY = "phase_reference"


def _phase_reference(state, iteration):
    """The crystal a scenario's segments are phase-checked against: its start
    structure at iteration 0, carried in the state's ``info`` after."""
    text = state.atoms.info.pop(PHASE_REFERENCE_KEY, None)
    if text is not None:
        return PhaseReference.from_dict(json.loads(text))
    if iteration > 0:
        return PhaseReference("unknown", 0, np.nan, np.nan, np.nan,
                              "the exploration's state carries no phase reference (written before phase checks)")
    return PhaseReference.from_structure(state.atoms)


def select_step(selector_cfg, iteration, candidate_paths, prev_status, slot_paths, status_out, model_path=None):
    """Merge the scenarios' candidates and let the selector pick those to
    label into fixed slots (an empty file for an unused slot); the
    iteration's model (``model_path``) is loaded for a selector that picks
    against it (``needs_model``: maxvol's select-add)."""
    cands = []
    for p in candidate_paths:
        cands += read_frames(p)
    prev = stopped(prev_status)
    selector = build_selector(selector_cfg)
    model = None
    if not prev and cands and getattr(selector, "needs_model", False):
        if model_path is None:
            raise ValueError(f"selector {selector.kind} picks against the model: select_step needs model_path")
        model = load_model(model_path)
    sel = [] if prev else select_candidates(selector, cands, len(slot_paths), model)
    for k, p in enumerate(slot_paths):
        write_frames(p, sel[k:k + 1])
    done = prev or not sel
    write_json(status_out, {"iteration": iteration, "n_candidates": len(cands), "n_selected": len(sel),
                            "stopped": done,
                            "reason": "stopped earlier" if prev else ("nothing selected" if not sel else "")})
    log.info("iteration %d: %d candidates, %d selected%s", iteration, len(cands), len(sel),
             "; learning stops" if done else "")


def label_step(oracle, slot_path, out, cache_dir):
    """Label the structure of one slot (one oracle call; nothing for an
    empty slot). A failed call leaves a failed record."""
    frames = read_frames(slot_path)
    orc = oracle_cache(oracle, cache_dir)
    labels = []
    for f in frames:
        lab = orc.label(f)
        lab.arrays["uncertainty"] = f.arrays["uncertainty"]
        if is_ok(lab):
            log.info("labelled %s step %s in %.2f s%s", f.info.get("scenario"), f.info.get("md_step"),
                     lab.info["oracle_walltime_s"], " (from cache)" if lab.info.get("oracle_cached") else "")
        else:
            log.warning("oracle failed on %s step %s: %s", f.info.get("scenario"), f.info.get("md_step"),
                        lab.info["oracle_reason"])
        labels.append(lab)
    write_frames(out, labels)


def _label_counts(label_paths):
    """(calls, failed) over label files (an empty slot is no call)."""
    n = failed = 0
    for p in label_paths:
        for lab in read_frames(p):
            n += 1
            failed += not is_ok(lab)
    return n, failed


def _earlier_label_paths(label_paths):
    """Label files of the iterations before the one of ``label_paths``
    (``<scheme>/iter_<i>/labels/<k>.extxyz``; they are ancestors of this
    iteration's jobs, so they exist)."""
    if not label_paths:
        return []
    here = Path(label_paths[0]).parent.parent
    i = int(here.name.split("_")[-1])
    return sorted(p for j in range(i) for p in (here.parent / f"iter_{j}" / "labels").glob("*.extxyz"))


def merge_step(selector_cfg, train_in, label_paths, out, limits=None):
    """Next iteration's training set: this one's plus the successful labels,
    each with the selector's training atoms marked.

    Parameters
    ----------
    limits : dict, optional
        ``learn.limits``: the failed fraction of every learning label so
        far is judged here, before the next iteration spends oracle calls.

    Raises
    ------
    RunLimitError
        Too many labels failed (the labels stay where they are).
    """
    n, failed = _label_counts(list(_earlier_label_paths(label_paths)) + list(label_paths))
    Limits.from_config({"limits": limits}).check_failures(n, failed)
    selector = build_selector(selector_cfg)
    frames = read_frames(train_in)
    new = 0
    for p in label_paths:
        for lab in read_frames(p):
            if is_ok(lab):
                mark_training_atoms(lab, selector.training_atoms(lab, lab.arrays["uncertainty"]))
                frames.append(lab)
                new += 1
    write_frames(out, frames)
    log.info("training set: %d frames (%d new); %d of %d learning labels failed so far", len(frames), new,
             failed, n)


def _call_row(lab):
    ok = is_ok(lab)
    mask = lab.arrays.get("train_mask")
    return {"trajectory": lab.info.get("scenario", ""), "iteration": lab.info.get("iteration", 0),
            "step": lab.info.get("md_step"), "time_ps": lab.info.get("md_time_ps"), "phase": lab.info.get("phase", ""),
            "status": lab.info.get("oracle_status"), "reason": lab.info.get("oracle_reason", ""),
            "walltime_s": lab.info.get("oracle_walltime_s"), "max_uncertainty": lab.info.get("max_uncertainty"),
            "n_added": int(np.sum(mask)) if (ok and mask is not None) else 0,
            "cached": bool(lab.info.get("oracle_cached", False))}


def finalize_step(last_model, explore_logs, label_paths, train_path, timing_paths, out, limits=None):
    """Collect a batch run into the same outputs as an on-the-fly run.

    Raises
    ------
    RunLimitError
        Every learning label failed, or more than ``limits`` allow.
    """
    n, failed = _label_counts(label_paths)
    Limits.from_config({"limits": limits}).check_failures(n, failed, final=True)
    _copy_model(last_model, out["model"])
    logs = [d for d in (pd.read_csv(p) for p in explore_logs) if len(d)]
    log_df = pd.concat(logs, ignore_index=True) if logs else pd.DataFrame(columns=LOG_COLUMNS)
    train = read_frames(train_path)
    # the training set holds the labels with their train_mask; the label
    # files hold every call, failed ones included
    masks = {(f.info.get("iteration"), f.info.get("scenario"), f.info.get("md_step")): f.arrays.get("train_mask")
             for f in train if "md_step" in f.info}
    rows, n_fail = [], 0
    timings = {"oracle_s": 0.0, "training_s": 0.0, "prediction_s": 0.0, "md_s": 0.0}
    for p in label_paths:
        for lab in read_frames(p):
            n_fail += not is_ok(lab)
            timings["oracle_s"] += float(lab.info.get("oracle_walltime_s", 0.0))
            m = masks.get((lab.info.get("iteration"), lab.info.get("scenario"), lab.info.get("md_step")))
            if m is not None:
                lab.arrays["train_mask"] = m
            rows.append(_call_row(lab))
    for p in timing_paths:
        t = read_json(p)
        for k in timings:
            timings[k] += float(t.get(k, 0.0))
    calls = pd.DataFrame(rows)
    checks = _phase_checks(timing_paths)
    # cumulative counters in the log: calls happen between iterations
    if len(log_df) and len(calls):
        done = calls.groupby("iteration").size().cumsum()
        it = log_df["iteration"].to_numpy()
        log_df["n_oracle_calls"] = [int(done[done.index < i].iloc[-1]) if (done.index < i).any() else 0 for i in it]
    write_learning_outputs(out, load_model(last_model), log_df, calls, train,
                           dict(timings, n_oracle_calls=len(rows), n_failed_labels=n_fail, phase_checks=checks))


def _phase_checks(timing_paths):
    """Verdicts of the explored segments over every exploration of the run
    (their timings' ``phase_frames``); a contradicted label is logged."""
    rows = []
    for p in timing_paths:
        rows += read_json(p).get("phase_frames", [])
    checks = segment_checks(rows)
    for c in checks:
        if c["status"] == MISMATCH:
            log.warning("[%s] %s", c["trajectory"], segment_warning(c))
    return checks
