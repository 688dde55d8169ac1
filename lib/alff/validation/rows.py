"""Summary rows: one per observable and condition, model against reference."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path

__all__ = ["COLUMNS", "row", "write_rows", "read_rows"]

COLUMNS = ["observable", "condition", "model_value", "oracle_value", "abs_error", "unit"]


def row(observable, condition, model_value, oracle_value, unit):
    """A summary row; ``abs_error`` is |model - oracle| (NaN without a
    reference)."""
    m = float(model_value)
    o = float("nan") if oracle_value is None else float(oracle_value)
    return {"observable": observable, "condition": condition, "model_value": m, "oracle_value": o,
            "abs_error": abs(m - o) if math.isfinite(o) else float("nan"), "unit": unit}


def write_rows(rows, path):
    """Write rows as CSV (the columns of ``COLUMNS``) atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(p) as tmp:
        pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp, index=False, float_format="%.10g")


def read_rows(paths):
    """Concatenate row files (in order)."""
    frames = [pd.read_csv(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
