"""Atomic file writes: a temporary file in the target's directory, renamed
over the target (``os.replace``) only once it is completely written.

A reader (or a run restarted after a kill) sees either the old file or the
new one, never a half-written one, and a write that fails leaves the old
file as it was and no temporary file behind. JSON has
:func:`alff.jobs.write_json`; everything else (npz, CSV, text, figures)
goes through :func:`atomic_path`::

    with atomic_path("results/x/model.npz") as tmp:
        np.savez_compressed(tmp, **arrays)
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text", "temporary_name"]


def temporary_name(path):
    """A fresh hidden name next to ``path`` that keeps its suffix
    (``.model.tmp-<pid>-<random>.npz``: numpy and pandas choose the format
    by the suffix)."""
    p = Path(path)
    return p.with_name(f".{p.stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}{p.suffix}")


def _fsync(path, directory=False):
    """Flush ``path`` (a file, or a directory's entries) to disk; best effort."""
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path, fsync=True):
    """A temporary path to write ``path``'s new content to.

    The body of the ``with`` block writes the temporary file (which does not
    exist yet); when the block ends normally the file is flushed to disk
    and renamed over ``path``. When the block raises (or the writer did not
    create the file), the temporary file is removed, ``path`` is untouched
    and the exception propagates.

    Parameters
    ----------
    path : str or Path
        The target; its directory is created when missing.
    fsync : bool
        Flush the new file (and the directory entry) to disk, so a crash of
        the machine cannot leave an empty file under the final name.

    Yields
    ------
    Path
        The temporary file, in the same directory (same filesystem: the
        rename is atomic) with the same suffix.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(p)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{p}: the writer did not create the temporary file {tmp.name}")
        if fsync:
            _fsync(tmp)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if fsync:
        _fsync(p.parent, directory=True)


def atomic_write_text(path, text, fsync=True):
    """Write ``text`` to ``path`` atomically; returns ``Path(path)``."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_text(text)
    return Path(path)
