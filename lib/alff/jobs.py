"""Plumbing shared by the pipeline's scripts: logging to the rule's log file
and thread settings."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path

__all__ = ["job", "write_json", "read_json"]


@contextlib.contextmanager
def job(log_path, threads=1, name="alff"):
    """Run a pipeline step: log (and stderr) to ``log_path``, numba on
    ``threads`` threads, BLAS single-threaded; exceptions are logged with
    their traceback before they propagate (the job fails)."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    fh = open(log_path, "a", buffering=1)
    old_err = sys.stderr
    sys.stderr = fh
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    handler = logging.StreamHandler(fh)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        import numba
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    except Exception:  # noqa: BLE001 - threads are an optimisation
        pass
    log = logging.getLogger(name)
    try:
        yield log
    except Exception:
        log.exception("step failed")
        raise
    finally:
        root.removeHandler(handler)
        sys.stderr = old_err
        fh.close()


def write_json(path, obj):
    """Write JSON atomically (numpy scalars converted)."""
    import numpy as np

    def conv(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(f"not JSON serialisable: {type(o)}")

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, default=conv) + "\n")
    os.replace(tmp, p)


def read_json(path):
    with open(path) as fh:
        return json.load(fh)
