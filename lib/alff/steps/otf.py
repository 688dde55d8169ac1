"""On-the-fly learning of one scheme (one job, inline oracle calls)."""

from __future__ import annotations

import logging
import time

import pandas as pd

from ..learning import LOG_COLUMNS, OnTheFly, Scenario, start_state, training_inputs
from ..learning.checkpoint import clear_checkpoints, fingerprint
from ..models import build_model
from ..selection import build_selector
from ..structure_io import read_frames
from .common import oracle_cache, scenario_schedule, write_learning_outputs

__all__ = ["otf_step"]

log = logging.getLogger("alff.pipeline")


def otf_step(scheme, learn, oracle, random_seed, seed_train, seed_state, out, cache_dir, checkpoint_dir=None):
    """On-the-fly learning of every scenario in turn.

    Parameters
    ----------
    scheme : dict
        The scheme's sections: ``name``, ``model``, ``selector``, ``explore``.
    learn, oracle : dict
        Config sections.
    random_seed : int
    seed_train, seed_state : str
        The seed's training set and start state.
    out : dict
        Paths: model (json), log, calls (CSV), train (extxyz), timings (json;
        with ``phase_checks``: the verdicts on the explored segments).
    cache_dir : str
        The oracle cache.
    checkpoint_dir : str, optional
        Checkpoints after every oracle call; a restart continues from the
        latest one (of the same settings and seed).
    """
    frames = read_frames(seed_train)
    model = build_model(scheme["model"])
    fr, idx = training_inputs(frames)
    t0 = time.perf_counter()
    model.fit(fr, idx)
    t_fit = time.perf_counter() - t0
    log.info("initial model: %s", model.describe())
    explore = scheme["explore"]
    start = read_frames(seed_state)[0]
    scenarios = []
    for k, sc in enumerate(explore["scenarios"]):
        sched, _ = scenario_schedule(explore, sc["name"])
        scenarios.append(Scenario(sc["name"], sched, start_state(start, sc.get("strain", 0.0), random_seed + 10 + k)))
    orc = oracle_cache(oracle, cache_dir)
    # what the results depend on: limits, the oracle's time limit and
    # retries may change before a restart without invalidating checkpoints
    same = {k: v for k, v in learn.items() if k not in ("limits", "progress_s")}
    key = fingerprint(scheme, same, orc.oracle.settings, random_seed, [f.positions.tolist() for f in frames])
    driver = OnTheFly(model, build_selector(scheme["selector"]), orc, learn, checkpoint_dir, key)
    driver.log.timings["training_s"] += t_fit
    driver.run(scenarios)
    logs, calls = [], pd.DataFrame(driver.log.calls)
    bounds = driver.row_starts + [len(driver.log.rows)]
    for sc, a, b in zip(scenarios, bounds[:-1], bounds[1:]):
        df = pd.DataFrame(driver.log.rows[a:b], columns=LOG_COLUMNS)
        df.insert(0, "trajectory", sc.name)
        logs.append(df)
    lg = driver.log
    write_learning_outputs(out, driver.model, pd.concat(logs, ignore_index=True), calls, list(frames) + driver.labelled,
                           dict(lg.timings, n_oracle_calls=lg.n_calls, n_failed_labels=lg.n_failed,
                                oracle_cache_hits=orc.hits, phase_checks=driver.phase_checks))
    if checkpoint_dir:
        clear_checkpoints(checkpoint_dir)
