"""Reading and writing structures as extended XYZ (ASE), empty files allowed."""

from __future__ import annotations

from pathlib import Path

from ase.io import read, write

from .atomic import atomic_path

__all__ = ["read_frames", "write_frames"]


def read_frames(path):
    """All frames of an extended-XYZ file (an empty file gives ``[]``).

    Raises
    ------
    ValueError
        The file is missing or cannot be parsed (the path is named).
    """
    p = Path(path)
    if not p.exists():
        raise ValueError(f"structure file not found: {p}")
    if p.stat().st_size == 0:
        return []
    try:
        return list(read(str(p), index=":"))
    except Exception as err:  # noqa: BLE001 - name the file
        raise ValueError(f"cannot read structures from {p}: {err}") from err


def write_frames(path, frames):
    """Write frames atomically (temporary file, then rename); ``[]`` writes an
    empty file.

    Empty-string ``info`` values are left out: extended XYZ cannot represent
    them (``key= next=1`` reads back as ``key="next=1"``).
    """
    frames = list(frames)
    for f in frames:
        for k in [k for k, v in f.info.items() if isinstance(v, str) and v == ""]:
            del f.info[k]
    with atomic_path(path) as tmp:
        if frames:
            write(str(tmp), frames, format="extxyz")
        else:
            tmp.write_text("")
