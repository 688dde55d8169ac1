"""Models on disk: ``<stem>.json`` (settings) + ``<stem>.npz`` (arrays), no pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["model_stem", "write_model", "read_model"]


def model_stem(path):
    """``path`` without a ``.json``/``.npz`` suffix."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".json", ".npz") else p


def write_model(path, meta, arrays):
    """Write ``stem.json`` and ``stem.npz``; returns the JSON path."""
    stem = model_stem(path)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    np.savez_compressed(stem.with_suffix(".npz"), **arrays)
    return stem.with_suffix(".json")


def read_model(path, fmt, version):
    """(meta, arrays) of a model written by :func:`write_model`.

    Raises
    ------
    ValueError
        The file is not of format ``fmt`` or newer than ``version``.
    """
    stem = model_stem(path)
    meta = json.loads(stem.with_suffix(".json").read_text())
    if meta.get("format") != fmt:
        raise ValueError(f"{stem.with_suffix('.json')} is not an {fmt} file")
    if meta.get("version", 0) > version:
        raise ValueError(f"{stem.with_suffix('.json')} has format version {meta['version']}, "
                         f"newer than this alff ({version})")
    with np.load(stem.with_suffix(".npz"), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return meta, arrays
