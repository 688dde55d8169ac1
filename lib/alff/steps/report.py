"""The final model on the test sets: predictions, metrics.json, figures."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path
from ..jobs import read_json, write_json
from ..models import load_model
from ..selection import build_selector
from ..structure_io import read_frames

__all__ = ["evaluate_step", "report_step", "phase_check_summary"]

log = logging.getLogger("alff.pipeline")


def evaluate_step(model_path, test_path, out):
    """Predictions of the final model on one phase's test set (npz)."""
    from ..evaluation import predict_frames
    model = load_model(model_path)
    frames = read_frames(test_path)
    t0 = time.perf_counter()
    d = predict_frames(model, frames)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        np.savez_compressed(tmp, **d, noise=model.noise_, predict_s=time.perf_counter() - t0)
    log.info("evaluated %d frames (%d atoms) in %.1f s", len(frames), len(d["ref"]), time.perf_counter() - t0)


def _oracle_budget(seed, testset, n_phases):
    n_seed = seed["steps"] + 1 if seed["method"] == "md" else (seed["copies"] if seed["method"] == "rattle" else 0)
    n_test = n_phases * (testset["equilibrate_steps"] + testset["frames"] * testset["every"] + 1)
    return n_seed, n_test


def _read_phase_check(path):
    """A test set's phase check (:func:`alff.steps.seed.testset_step`), or a
    'not checked' record when it was not written (a run from before)."""
    if path is None or not Path(path).exists():
        return {"status": "not checked", "verdict": None, "mean_solid_fraction": None, "solid_fraction": [],
                "reason": "no phase check recorded for this test set"}
    return read_json(path)


def phase_check_summary(test_checks, explore_checks):
    """The phase checks of a run for metrics.json.

    Parameters
    ----------
    test_checks : dict
        Phase -> the test set's check.
    explore_checks : list of dict
        The explored segments' checks (timings.json ``phase_checks``).

    Returns
    -------
    dict
        ``test`` (phase -> status, verdict, mean and per-frame solid
        fraction, reason), ``explore`` (one per segment), ``warnings``
        (a sentence per contradicted label).
    """
    keys = ("status", "expected", "verdict", "mean_solid_fraction", "solid_fraction", "reason", "crystal", "cutoff")
    test = {ph: {k: c.get(k) for k in keys} for ph, c in test_checks.items()}
    explore = [{k: c.get(k) for k in ("trajectory", "segment", "phase", "temperature_K", "steps") + keys}
               for c in explore_checks]
    warnings = [f"test set '{ph}' is {c['verdict']}, not {c['expected']} (mean q6 solid fraction "
                f"{c['mean_solid_fraction']:.2f})" for ph, c in test.items() if c["status"] == "mismatch"]
    warnings += [f"explored segment explore.schedule[{c['segment']}] ('{c['phase']}', {c['trajectory']}) is "
                 f"{c['verdict']}, not {c['expected']} (mean q6 solid fraction {c['mean_solid_fraction']:.2f})"
                 for c in explore if c["status"] == "mismatch"]
    return {"test": test, "explore": explore, "warnings": warnings}


def _log_phase_checks(summary):
    for ph, c in summary["test"].items():
        if c["mean_solid_fraction"] is None:
            log.info("phase check, test set %s: %s (%s)", ph, c["status"], c["reason"])
        else:
            log.info("phase check, test set %s: %s, %s (mean q6 solid fraction %.2f)", ph, c["status"], c["verdict"],
                     c["mean_solid_fraction"])
    for w in summary["warnings"]:
        log.warning("PHASE CHECK: %s", w)


def report_step(run, scheme, mode, seed, testset, phases, eval_paths, learn, seed_train, out,
                phase_check_paths=None, title=None, selector=None):
    """metrics.json and the figures of a learning run.

    Parameters
    ----------
    run, scheme, mode : str
        Run name, scheme name, learning mode.
    seed, testset : dict
        Config sections (for the oracle budget of seed and test sets).
    phases : list of str
    eval_paths : list of str
        :func:`evaluate_step` outputs, one per phase.
    learn : dict
        Paths: log, calls, timings, model.
    out : dict
        metrics and the figure stems (learning, parity, calibration).
    phase_check_paths : list of str, optional
        The test sets' phase checks, one per phase (``testset/<phase>.phase.json``).
        metrics.json ``phase_checks`` holds them with the explored segments'
        checks (timings.json) and a warning per contradicted label.
    title : str, optional
        The figures' title (element, crystal, oracle, scheme).
    selector : dict, optional
        The scheme's selector section: the learning figure's score panel
        takes the selector's ``score_label`` (and ``score_log``).
    """
    from ..evaluation import calibration, force_metrics
    from ..plotting import calibration_figure, learning_figure, parity_figure
    log_df = pd.read_csv(learn["log"])
    calls = pd.read_csv(learn["calls"])
    timings = read_json(learn["timings"])
    per_phase, metrics_phase = {}, {}
    for phase, p in zip(phases, eval_paths):
        d = dict(np.load(p))
        noise = float(d["noise"])
        m = force_metrics(d["ref"], d["pred"])
        c = calibration(d["ref"], d["pred"], d["std"], noise=noise)
        per_phase[phase] = {"ref": d["ref"], "pred": d["pred"], "std": d["std"], "metrics": m, "calibration": c,
                            "noise": noise}
        metrics_phase[phase] = dict(m, z_std=c["z_std"], frac_within_2sigma=c["frac_within_2sigma"],
                                    n_frames=int(len(np.unique(d["frame"]))) if len(d["frame"]) else 0)
    n_seed, n_test = _oracle_budget(seed, testset, len(phases))
    paths = list(phase_check_paths) if phase_check_paths is not None else [None] * len(phases)
    checks = phase_check_summary({ph: _read_phase_check(p) for ph, p in zip(phases, paths)},
                                 timings.get("phase_checks", []))
    for ph, c in checks["test"].items():
        metrics_phase[ph]["phase_check"] = c["status"]
    model = load_model(learn["model"]).describe()
    metrics = {
        "run": run, "scheme": scheme, "mode": mode,
        "n_oracle_calls": int(timings["n_oracle_calls"]),
        "n_failed_labels": int(timings["n_failed_labels"]),
        "n_seed_oracle_calls": int(n_seed), "n_seed_frames": len(read_frames(seed_train)),
        "n_test_oracle_calls": int(n_test),
        "n_training_envs": model["n_train"], "model": model,
        "test": metrics_phase,
        "wall_time_s": {k: float(timings.get(k, 0.0)) for k in ("oracle_s", "training_s", "prediction_s", "md_s")},
        "phase_checks": checks,
    }
    write_json(out["metrics"], metrics)
    figs = []
    score = None
    if selector is not None:
        sel = build_selector(selector)
        score = (getattr(sel, "score_label", "selector score"), bool(getattr(sel, "score_log", False)))
    figs += learning_figure(log_df, calls, out["learning"], title=title, score=score)
    figs += parity_figure(per_phase, out["parity"], title=title)
    figs += calibration_figure(per_phase, out["calibration"], title=title)
    for phase, m in metrics_phase.items():
        if m["rmse"] is not None:
            log.info("test %s: force RMSE %.4f eV/A, MAE %.4f, RMSE/P95|F| %.2f%%, z std %.2f", phase, m["rmse"],
                     m["mae"], 100 * m["rmse_over_p95"], m["z_std"])
    _log_phase_checks(checks)
    log.info("oracle calls: %d learning (%d failed), %d seed, %d test set", metrics["n_oracle_calls"],
             metrics["n_failed_labels"], n_seed, n_test)
    for f in figs:
        log.info("figure: %s", f)
