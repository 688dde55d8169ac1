"""Helpers shared by the pipeline steps."""

from __future__ import annotations

import pandas as pd

from ..atomic import atomic_path
from ..dynamics import Schedule
from ..jobs import read_json, write_json
from ..learning import CALL_COLUMNS
from ..oracle import Oracle, OracleCache
from ..structure_io import write_frames

__all__ = ["oracle_cache", "scenario_schedule", "stopped", "write_learning_outputs"]


def oracle_cache(oracle_cfg, cache_dir):
    """The oracle of an ``oracle`` section behind its on-disk cache."""
    return OracleCache(cache_dir, Oracle.from_config(oracle_cfg))


def scenario_schedule(explore_cfg, scenario):
    """The schedule of one scenario of an ``explore`` section (temperatures
    scaled) and the scenario's own settings."""
    sc = next(s for s in explore_cfg["scenarios"] if s["name"] == scenario)
    return Schedule.from_config(explore_cfg).scaled(float(sc.get("temperature_scale", 1.0))), sc


def stopped(status_path):
    """Whether a batch iteration's status says learning stopped."""
    return bool(status_path) and read_json(status_path).get("stopped", False)


def write_learning_outputs(out, model, log_df, calls_df, train, timings):
    """The outputs every learning mode ends with: model, log, calls,
    training set, timings."""
    model.save(out["model"])
    with atomic_path(out["log"]) as tmp:
        log_df.to_csv(tmp, index=False)
    if calls_df.empty:
        calls_df = pd.DataFrame(columns=CALL_COLUMNS)
    with atomic_path(out["calls"]) as tmp:
        calls_df.to_csv(tmp, index=False)
    write_frames(out["train"], train)
    write_json(out["timings"], timings)
