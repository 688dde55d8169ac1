"""Summary rows: one per observable and condition, model against reference,
each valid or flagged with the reason.

A value whose protocol failed (no transition inside the ramp's window, a
coexistence in which one phase vanished, too few vacancy jumps, a NEB band
that did not converge, a "liquid" that stayed crystalline) is not a
number to compare: its row is ``valid = False``, the failed side's value is
NaN, ``abs_error`` is NaN and ``note`` says why and what to change.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path

__all__ = ["COLUMNS", "row", "write_rows", "read_rows", "invalid_rows"]

COLUMNS = ["observable", "condition", "model_value", "oracle_value", "abs_error", "unit", "valid", "note"]


def _side(value, reason):
    """(value, reason) of one side: NaN with a reason when the protocol
    failed or the value is not finite."""
    v = float(value)
    if reason is None and not math.isfinite(v):
        reason = "no value (the run failed; see the log)"
    return (float("nan"), reason) if reason else (v, None)


def row(observable, condition, model_value, oracle_value, unit, model_invalid=None, oracle_invalid=None, note=None):
    """A summary row.

    Parameters
    ----------
    observable, condition, unit : str
    model_value : float
    oracle_value : float or None
        None when there is no reference.
    model_invalid, oracle_invalid : str or None
        Why that side's value is not valid (its protocol failed); None when
        it is valid. A non-finite value is invalid without a reason given.
    note : str or None
        A remark that does not invalidate the row (appended to ``note``).

    Returns
    -------
    dict
        The ``COLUMNS``: the invalid side's value is NaN; ``abs_error`` is
        |model - oracle| when both are valid, else NaN; ``valid`` is True
        when the model's value and the reference's (if any) are valid;
        ``note`` joins the reasons ("model: ...; oracle: ...").
    """
    m, m_why = _side(model_value, model_invalid)
    notes = [f"model: {m_why}"] if m_why else []
    if oracle_value is None and oracle_invalid is None:
        o = float("nan")
    else:
        o, o_why = _side(float("nan") if oracle_value is None else oracle_value, oracle_invalid)
        if o_why:
            notes.append(f"oracle: {o_why}")
    valid = not notes
    if note:
        notes.append(note)
    return {"observable": observable, "condition": condition, "model_value": m, "oracle_value": o,
            "abs_error": abs(m - o) if valid and math.isfinite(o) else float("nan"), "unit": unit,
            "valid": valid, "note": "; ".join(notes)}


def write_rows(rows, path):
    """Write rows as CSV (the columns of ``COLUMNS``) atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(p) as tmp:
        pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp, index=False, float_format="%.10g")


def read_rows(paths):
    """Concatenate row files (in order); ``valid`` as bool, ``note`` as str."""
    frames = [pd.read_csv(p, keep_default_na=False, na_values={c: ["", "nan", "NaN"] for c in COLUMNS[2:5]})
              for p in paths]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    missing = [c for c in COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"validation rows {list(map(str, paths))}: columns {missing} missing (written by an "
                         "older alff: rerun the validation rules)")
    rows["valid"] = rows["valid"].map(lambda v: v if isinstance(v, bool) else str(v).strip().lower() == "true")
    rows["note"] = rows["note"].astype(str)
    return rows


def invalid_rows(rows):
    """The rows with ``valid == False`` (a DataFrame)."""
    return rows[~rows["valid"].astype(bool)]
