"""The pipeline's steps as functions of paths and config sections.

Each Snakemake rule's script calls one of these (scripts stay glue); tests
can call them directly. Every output is written atomically, oracle calls go
through an :class:`~alff.oracle.OracleCache` so a resumed run never repeats
a finished call.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import learning as L
from .dynamics import MDState, Schedule
from .jobs import read_json, write_json
from .models import GaussianProcess
from .oracle import Oracle, OracleCache, is_ok
from .seeding import oracle_md, phase_test_set, rattled_copies
from .structure_io import read_frames, write_frames
from .structures import build_structure

log = logging.getLogger("alff.pipeline")

__all__ = ["seed_step", "testset_step", "otf_step", "train_step", "explore_step", "select_step",
           "label_step", "merge_step", "finalize_step", "evaluate_step", "report_step", "scenario_schedule",
           "map_step"]


def _oracle(cfg, cache_dir):
    return OracleCache(cache_dir, Oracle.from_config(cfg["oracle"]))


def scenario_schedule(cfg, scenario):
    """The exploration schedule of one scenario (temperatures scaled)."""
    sc = next(s for s in cfg["explore"]["scenarios"] if s["name"] == scenario)
    return Schedule.from_config(cfg["explore"]).scaled(float(sc.get("temperature_scale", 1.0))), sc


def _save_model(model, json_path):
    model.save(Path(json_path).with_suffix(""))


# ------------------------------------------------------------------ seed
def seed_step(cfg, train_out, state_out, cache_dir):
    """Seed training data: oracle MD, rattled copies or a labelled file.

    Writes the labelled frames with ``train_mask`` (``init_atoms`` random
    atoms each) and the state the exploration starts from.
    """
    s = cfg["seed"]
    rng = np.random.default_rng(cfg["random_seed"])
    atoms = build_structure(cfg["system"])
    t0 = time.perf_counter()
    if s["method"] == "file":
        from .models.training_set import labelled_frame
        frames = read_frames(s["path"])
        if not frames:
            raise ValueError(f"seed.path: no structures in {s['path']}")
        for k, f in enumerate(frames):
            try:
                labelled_frame(f, k)
            except ValueError as err:
                raise ValueError(f"seed.path {s['path']}: {err}") from err
        state_atoms = frames[-1].copy()
        n_calls = 0
    else:
        oracle = _oracle(cfg, cache_dir)
        if s["method"] == "md":
            log.info("seed: %d oracle MD steps at %.0f K, keeping every %d-th frame", s["steps"],
                     s["temperature_K"], s["keep_every"])
            frames, state, n_failed = oracle_md(atoms, oracle, s["temperature_K"], s["steps"],
                                                timestep_fs=s["timestep_fs"], ensemble=s["ensemble"],
                                                keep_every=s["keep_every"], rng=rng, label="seed: ")
            state_atoms = state.atoms
        else:
            frames = rattled_copies(atoms, oracle, s["copies"], s["amplitude"], rng)
            state_atoms = atoms
        n_calls = oracle.calls + oracle.hits
    frames = L.initial_training(frames, s["init_atoms"], rng)
    if not frames:
        raise RuntimeError("seed: every seed structure failed labelling; check the oracle settings and the log")
    for f in frames:
        f.info["source"] = "seed"
    write_frames(train_out, frames)
    st = MDState(state_atoms.copy(), 0, 0.0, np.random.default_rng(cfg["random_seed"] + 1))
    write_frames(state_out, [st.to_atoms()])
    log.info("seed: %d training frames, %d oracle calls, %.1f s", len(frames), n_calls, time.perf_counter() - t0)


def testset_step(cfg, phase, out, cache_dir):
    """Independent oracle MD at the phase's temperature (first segment of
    that phase), from the start structure, with its own random seed."""
    sched = Schedule.from_config(cfg["explore"])
    seg = next(s for s in sched.segments if s.phase == phase)
    t = cfg["testset"]
    k = sched.phases().index(phase)
    rng = np.random.default_rng(cfg["random_seed"] + 1000 + k)
    oracle = _oracle(cfg, cache_dir)
    frames = phase_test_set(build_structure(cfg["system"]), oracle, seg.temperature_K, t["frames"], t["every"],
                            t["equilibrate_steps"], sched.timestep_fs, sched.friction_per_fs, rng,
                            label=f"test set {phase}: ")
    for f in frames:
        f.info["phase"] = phase
    write_frames(out, frames)
    log.info("test set %s: %d frames at %.0f K (%d oracle calls, %d from cache)", phase, len(frames),
             seg.temperature_K, oracle.calls, oracle.hits)


# ------------------------------------------------------------- on the fly
def otf_step(cfg, seed_train, seed_state, out, cache_dir):
    """On-the-fly learning of every scenario in turn (one job).

    ``out`` holds paths: model (json), log, calls (CSV), train (extxyz),
    timings (json).
    """
    frames = read_frames(seed_train)
    model = L.make_model(cfg["model"])
    fr, idx = L.training_inputs(frames)
    t0 = time.perf_counter()
    model.fit(fr, idx, optimize=True)
    t_fit = time.perf_counter() - t0
    log.info("initial model: %d environments, hyperparameters %s", model.n_envs_, model.hyps_)
    oracle = _oracle(cfg, cache_dir)
    trigger = L.Trigger.from_config(cfg["learn"])
    start = read_frames(seed_state)[0]
    logs, calls, train = [], [], list(frames)
    llog = L.LearningLog()
    llog.timings["training_s"] += t_fit
    for k, sc in enumerate(cfg["explore"]["scenarios"]):
        sched, _ = scenario_schedule(cfg, sc["name"])
        st = L.start_state(start, sched, sc.get("strain", 0.0), cfg["random_seed"] + 10 + k)
        n0 = len(llog.rows)
        model, labelled, llog, c = L.learn_on_the_fly(model, sched, st, trigger, oracle, cfg["learn"], llog,
                                                      label=f"[{sc['name']}] ")
        df = pd.DataFrame(llog.rows[n0:], columns=L.LOG_COLUMNS)
        df.insert(0, "trajectory", sc["name"])
        logs.append(df)
        cdf = pd.DataFrame(c)
        cdf.insert(0, "trajectory", sc["name"])
        calls.append(cdf)
        train += labelled
    _write_learning_outputs(out, model, pd.concat(logs, ignore_index=True),
                            pd.concat(calls, ignore_index=True), train,
                            dict(llog.timings, n_oracle_calls=llog.n_calls, n_failed_labels=llog.n_failed,
                                 oracle_cache_hits=oracle.hits))


def _write_learning_outputs(out, model, log_df, calls_df, train, timings):
    _save_model(model, out["model"])
    log_df.to_csv(out["log"], index=False)
    if calls_df.empty:
        calls_df = pd.DataFrame(columns=["trajectory", "step", "time_ps", "phase", "status", "reason",
                                         "walltime_s", "max_force_std", "n_added", "cached"])
    calls_df.to_csv(out["calls"], index=False)
    write_frames(out["train"], train)
    write_json(out["timings"], timings)


# ------------------------------------------------------------------ batch
def _stopped(status_path):
    return bool(status_path) and read_json(status_path).get("stopped", False)


def train_step(cfg, train_in, out_model, prev_model=None, prev_status=None, timing_out=None):
    """Fit the model of an iteration on its training set (hyperparameters
    optimised, started from the previous iteration's). After learning
    stopped, the previous model is carried over unchanged."""
    t0 = time.perf_counter()
    if prev_model and _stopped(prev_status):
        for suf in (".json", ".npz"):
            shutil.copyfile(Path(prev_model).with_suffix(suf), Path(out_model).with_suffix(suf))
        log.info("learning stopped earlier: model carried over from %s", prev_model)
    else:
        frames, idx = L.training_inputs(read_frames(train_in))
        model = L.make_model(cfg["model"])
        if prev_model:
            model.hyps = dict(GaussianProcess.load(prev_model).hyps_)
        model.fit(frames, idx, optimize=True)
        _save_model(model, out_model)
        log.info("trained on %d frames, %d environments; hyperparameters %s", len(frames), model.n_envs_,
                 model.hyps_)
    if timing_out:
        write_json(timing_out, {"training_s": time.perf_counter() - t0})


def explore_step(cfg, iteration, scenario, model_path, start_path, prev_status, out):
    """Batch exploration of one scenario with the iteration's model.

    ``out``: candidates (extxyz), state (extxyz), log (CSV), timings (json).
    """
    sched, sc = scenario_schedule(cfg, scenario)
    k = [s["name"] for s in cfg["explore"]["scenarios"]].index(scenario)
    start = read_frames(start_path)[0]
    if iteration == 0:
        st = L.start_state(start, sched, sc.get("strain", 0.0), cfg["random_seed"] + 10 + k)
    else:
        st = MDState.from_atoms(start)
    llog = L.LearningLog()
    if _stopped(prev_status) or st.step >= sched.total_steps:
        why = "learning stopped" if _stopped(prev_status) else "schedule finished"
        log.info("iteration %d, scenario %s: %s, nothing to explore", iteration, scenario, why)
        cands, reason = [], why
    else:
        model = GaussianProcess.load(model_path)
        ecfg = dict(cfg["learn"])
        cands, reason, llog = L.explore(model, sched, st, L.Trigger.from_config(cfg["learn"]), ecfg, llog,
                                        label=f"[iter {iteration} {scenario}] ", resumed=iteration > 0)
        log.info("iteration %d, scenario %s: %d candidates, stopped by %s at step %d", iteration, scenario,
                 len(cands), reason, st.step)
    for c in cands:
        c.info.update(scenario=scenario, iteration=iteration)
    write_frames(out["candidates"], cands)
    write_frames(out["state"], [st.to_atoms()])
    df = llog.frame()
    df.insert(0, "iteration", iteration)
    df.insert(0, "trajectory", scenario)
    df.to_csv(out["log"], index=False)
    write_json(out["timings"], dict(llog.timings, stop_reason=reason))


def select_step(cfg, iteration, candidate_paths, prev_status, slot_paths, status_out):
    """Merge the scenarios' candidates and pick the most uncertain ones into
    fixed slots (an empty file for an unused slot)."""
    cands = []
    for p in candidate_paths:
        cands += read_frames(p)
    sel = [] if _stopped(prev_status) else L.select_candidates(cands, len(slot_paths))
    for k, p in enumerate(slot_paths):
        write_frames(p, sel[k:k + 1])
    stopped = _stopped(prev_status) or not sel
    write_json(status_out, {"iteration": iteration, "n_candidates": len(cands), "n_selected": len(sel),
                            "stopped": stopped,
                            "reason": ("nothing selected" if not sel else "") if not _stopped(prev_status)
                            else "stopped earlier"})
    log.info("iteration %d: %d candidates, %d selected%s", iteration, len(cands), len(sel),
             "; learning stops" if stopped else "")


def label_step(cfg, slot_path, out, cache_dir):
    """Label the structure of one slot (one oracle call; nothing for an
    empty slot). A failed call leaves a failed record."""
    frames = read_frames(slot_path)
    oracle = _oracle(cfg, cache_dir)
    labels = []
    for f in frames:
        lab = oracle.label(f)
        lab.arrays["force_std"] = f.arrays["force_std"]
        if is_ok(lab):
            log.info("labelled %s step %s in %.2f s%s", f.info.get("scenario"), f.info.get("md_step"),
                     lab.info["oracle_walltime_s"], " (from cache)" if lab.info.get("oracle_cached") else "")
        else:
            log.warning("oracle failed on %s step %s: %s", f.info.get("scenario"), f.info.get("md_step"),
                        lab.info["oracle_reason"])
        labels.append(lab)
    write_frames(out, labels)


def merge_step(cfg, train_in, label_paths, out):
    """Next iteration's training set: this one's plus the successful labels,
    each with its ``max_atoms_added`` most uncertain atoms marked."""
    frames = read_frames(train_in)
    n = cfg["learn"]["max_atoms_added"]
    new = 0
    for p in label_paths:
        for lab in read_frames(p):
            if is_ok(lab):
                L.mark_training_atoms(lab, lab.arrays["force_std"], n)
                frames.append(lab)
                new += 1
    write_frames(out, frames)
    log.info("training set: %d frames (%d new)", len(frames), new)


def finalize_step(cfg, last_model, explore_logs, label_paths, train_path, timing_paths, out):
    """Collect a batch run into the same outputs as an on-the-fly run."""
    for suf in (".json", ".npz"):
        shutil.copyfile(Path(last_model).with_suffix(suf), Path(out["model"]).with_suffix(suf))
    logs = [pd.read_csv(p) for p in explore_logs]
    logs = [d for d in logs if len(d)]
    log_df = pd.concat(logs, ignore_index=True) if logs else pd.DataFrame(columns=L.LOG_COLUMNS)
    rows, n_ok, n_fail = [], 0, 0
    timings = {"oracle_s": 0.0, "training_s": 0.0, "prediction_s": 0.0, "md_s": 0.0}
    for p in label_paths:
        for lab in read_frames(p):
            ok = is_ok(lab)
            n_ok += ok
            n_fail += not ok
            timings["oracle_s"] += float(lab.info.get("oracle_walltime_s", 0.0))
            rows.append({"trajectory": lab.info.get("scenario", ""), "iteration": lab.info.get("iteration", 0),
                         "step": lab.info.get("md_step"), "time_ps": lab.info.get("md_time_ps"),
                         "phase": lab.info.get("phase", ""), "status": lab.info.get("oracle_status"),
                         "reason": lab.info.get("oracle_reason", ""),
                         "walltime_s": lab.info.get("oracle_walltime_s"),
                         "max_force_std": lab.info.get("max_force_std"),
                         "n_added": cfg["learn"]["max_atoms_added"] if ok else 0,
                         "cached": bool(lab.info.get("oracle_cached", False))})
    for p in timing_paths:
        t = read_json(p)
        for k in timings:
            timings[k] += float(t.get(k, 0.0))
    calls = pd.DataFrame(rows)
    # cumulative counters in the log: calls happen between iterations
    if len(log_df) and len(calls):
        done = calls.groupby("iteration").size().cumsum()
        it = log_df["iteration"].to_numpy()
        log_df["n_oracle_calls"] = [int(done[done.index < i].iloc[-1]) if (done.index < i).any() else 0 for i in it]
    train = read_frames(train_path)
    _write_learning_outputs(out, GaussianProcess.load(last_model), log_df, calls, train,
                            dict(timings, n_oracle_calls=n_ok + n_fail, n_failed_labels=n_fail))


# ---------------------------------------------------------------- report
def evaluate_step(model_path, test_path, out):
    """Predictions of the final model on one phase's test set (npz)."""
    from .evaluation import predict_frames
    model = GaussianProcess.load(model_path)
    frames = read_frames(test_path)
    t0 = time.perf_counter()
    d = predict_frames(model, frames)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **d, sigma_n=model.hyps_["sigma_n"], predict_s=time.perf_counter() - t0)
    log.info("evaluated %d frames (%d atoms) in %.1f s", len(frames), len(d["ref"]), time.perf_counter() - t0)


def report_step(cfg, phases, eval_paths, learn, seed_train, out):
    """metrics.json and the figures of a learning run.

    ``learn``: dict of log, calls, timings, model paths; ``out``: metrics
    and the figure stems (learning, parity, calibration).
    """
    from .evaluation import calibration, force_metrics
    from .plotting import calibration_figure, learning_figure, parity_figure
    log_df = pd.read_csv(learn["log"])
    calls = pd.read_csv(learn["calls"])
    timings = read_json(learn["timings"])
    per_phase, metrics_phase = {}, {}
    for phase, p in zip(phases, eval_paths):
        d = dict(np.load(p))
        m = force_metrics(d["ref"], d["pred"])
        c = calibration(d["ref"], d["pred"], d["std"], noise=float(d["sigma_n"]))
        per_phase[phase] = {"ref": d["ref"], "pred": d["pred"], "std": d["std"], "metrics": m,
                            "calibration": c, "noise": float(d["sigma_n"])}
        metrics_phase[phase] = dict(m, z_std=c["z_std"], frac_within_2sigma=c["frac_within_2sigma"],
                                    n_frames=int(len(np.unique(d["frame"]))) if len(d["frame"]) else 0)
    seed_frames = read_frames(seed_train)
    n_seed = cfg["seed"]["steps"] + 1 if cfg["seed"]["method"] == "md" else (
        cfg["seed"]["copies"] if cfg["seed"]["method"] == "rattle" else 0)
    n_test = sum(cfg["testset"]["equilibrate_steps"] + cfg["testset"]["frames"] * cfg["testset"]["every"] + 1
                 for _ in phases)
    model = read_json(learn["model"])
    metrics = {
        "run": cfg["run"], "mode": cfg["learn"]["mode"],
        "n_oracle_calls": int(timings["n_oracle_calls"]),
        "n_failed_labels": int(timings["n_failed_labels"]),
        "n_seed_oracle_calls": int(n_seed), "n_seed_frames": len(seed_frames),
        "n_test_oracle_calls": int(n_test),
        "n_training_envs": model["n_envs"], "final_hyperparameters": model["hyps"],
        "test": metrics_phase,
        "wall_time_s": {k: float(timings.get(k, 0.0)) for k in ("oracle_s", "training_s", "prediction_s", "md_s")},
    }
    write_json(out["metrics"], metrics)
    figs = []
    figs += learning_figure(log_df, calls, out["learning"])
    figs += parity_figure(per_phase, out["parity"])
    figs += calibration_figure(per_phase, out["calibration"])
    for phase, m in metrics_phase.items():
        if m["rmse"] is not None:
            log.info("test %s: force RMSE %.4f eV/A, MAE %.4f, RMSE/P95|F| %.2f%%, z std %.2f", phase, m["rmse"],
                     m["mae"], 100 * m["rmse_over_p95"], m["z_std"])
    log.info("oracle calls: %d learning (%d failed), %d seed, %d test set", metrics["n_oracle_calls"],
             metrics["n_failed_labels"], n_seed, n_test)
    for f in figs:
        log.info("figure: %s", f)


# ------------------------------------------------------------------- map
def map_step(cfg, model_path, test_paths, out):
    """Map the final GP to splines, export LAMMPS files, report the mapping
    error on the test frames.

    ``out``: mapped (json), uf3, table, snippet, report (json).
    """
    from .lammps_export import write_lammps_files
    from .models.mapped import MappedPotential
    m = cfg["map"]
    gp = GaussianProcess.load(model_path)
    t0 = time.perf_counter()
    mp = MappedPotential.from_model(gp, grid={"twobody": m["twobody"], "threebody": m["threebody"]},
                                    margin=m["margin"])
    t_map = time.perf_counter() - t0
    mp.save(Path(out["mapped"]).with_suffix(""))
    d = Path(out["uf3"]).parent
    write_lammps_files(mp, d, name=Path(out["uf3"]).stem)
    frames = [f for p in test_paths for f in read_frames(p)]
    err = mp.mapping_error(gp, frames) if frames else {}
    report = dict(err, map_s=t_map, rmin=mp.rmin, min_training_distance=mp.info["min_training_distance"],
                  grid={"twobody": m["twobody"], "threebody": m["threebody"]})
    write_json(out["report"], report)
    log.info("mapped in %.1f s (rmin %.3f A); force error vs GP on %d test frames: RMS %s eV/A, max %s; "
             "%d frames closer than rmin left out; files in %s", t_map, mp.rmin, err.get("n_frames", 0),
             err.get("force_rmse"), err.get("force_max"), err.get("n_out_of_range", 0), d)
    if err.get("n_out_of_range"):
        log.warning("%d of %d test frames have atoms closer than the smallest training distance minus the "
                    "margin: MD with the mapped potential will stop there (learn longer or hotter)",
                    err["n_out_of_range"], len(frames))
