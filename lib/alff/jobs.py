"""Plumbing shared by the pipeline's scripts: logging to the rule's log file,
progress lines on the terminal and thread settings."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path

__all__ = ["job", "write_json", "read_json", "PROGRESS_LOGGER", "ProgressToTerminal"]

# Long loops (oracle MD, on-the-fly learning, validation MD) log their
# progress lines to this logger or its children (alff.progress.seeding, ...):
# every record goes to the job's log file, and inside job() at most one per
# ALFF_PROGRESS_S seconds (default 30, 0: none) also to the terminal.
PROGRESS_LOGGER = "alff.progress"
PROGRESS_ENV = "ALFF_PROGRESS_S"
DEFAULT_PROGRESS_S = 30.0
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_DATEFMT = "%Y-%m-%d %H:%M:%S"


def _clock():
    return time.monotonic()


class ProgressToTerminal(logging.Handler):
    """Progress records to ``stream`` (the terminal), each line prefixed
    with ``[prefix]``, at most one per ``interval_s`` seconds (records in
    between are dropped here; the log file still has them)."""

    def __init__(self, stream, prefix, interval_s):
        super().__init__(logging.INFO)
        self.stream = stream
        self.prefix = prefix
        self.interval_s = float(interval_s)
        self._last = None
        self.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))

    def emit(self, record):
        now = _clock()
        if self._last is not None and now - self._last < self.interval_s:
            return
        self._last = now
        try:
            self.stream.write(f"[{self.prefix}] {self.format(record)}\n")
            self.stream.flush()
        except Exception:  # noqa: BLE001 - the terminal is a convenience
            self.handleError(record)


def progress_interval():
    """Seconds between progress lines on the terminal (``ALFF_PROGRESS_S``;
    0 or less: none)."""
    raw = os.environ.get(PROGRESS_ENV, "").strip()
    if not raw:
        return DEFAULT_PROGRESS_S
    try:
        return float(raw)
    except ValueError:
        logging.getLogger("alff.jobs").warning("%s=%r is not a number of seconds; using %g", PROGRESS_ENV, raw,
                                               DEFAULT_PROGRESS_S)
        return DEFAULT_PROGRESS_S


def job_label(name):
    """The rule and wildcards of the Snakemake job running this script
    (``explore i=000 scenario=main``), else ``name``."""
    smk = getattr(sys.modules.get("__main__"), "snakemake", None)
    rule = getattr(smk, "rule", None)
    if not rule:
        return name
    try:
        wildcards = " ".join(f"{k}={v}" for k, v in dict(smk.wildcards.items()).items())
    except Exception:  # noqa: BLE001 - the label is cosmetic
        wildcards = ""
    return f"{rule} {wildcards}".strip()


@contextlib.contextmanager
def job(log_path, threads=1, name="alff", label=None):
    """Run a pipeline step: log (and stderr) to ``log_path``, numba on
    ``threads`` threads, BLAS single-threaded; exceptions are logged with
    their traceback before they propagate (the job fails).

    Records of the ``alff.progress`` logger (and its children) also go to
    the original stderr (the terminal Snakemake runs in, or the cluster
    job's output), prefixed with ``label`` (default: the Snakemake rule and
    wildcards, else ``name``), at most one line per ``ALFF_PROGRESS_S``
    seconds (default 30; 0 turns it off)."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    fh = open(log_path, "a", buffering=1)
    old_err = sys.stderr
    sys.stderr = fh
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    handler = logging.StreamHandler(fh)
    handler.setFormatter(logging.Formatter(_FORMAT, _DATEFMT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    progress = logging.getLogger(PROGRESS_LOGGER)
    interval = progress_interval()
    terminal = ProgressToTerminal(old_err, label or job_label(name), interval) if interval > 0 else None
    if terminal is not None:
        progress.addHandler(terminal)
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
        if terminal is not None:
            progress.removeHandler(terminal)
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

    from .atomic import atomic_write_text
    atomic_write_text(path, json.dumps(obj, indent=2, default=conv) + "\n")


def read_json(path):
    with open(path) as fh:
        return json.load(fh)
