"""alff: active-learning force fields."""

__version__ = "0.1.0"


def _isolate_numba_cache():
    """Give numba's on-disk cache a directory per version of alff's source.

    numba invalidates a cached function only when its own file changes, not
    when a compiled function it calls (in another module) does; a stale
    cache would then run old code. Keying the directory on a hash of all
    alff sources rules that out. The base is ``NUMBA_CACHE_DIR`` or
    ``~/.cache/alff/numba``.
    """
    import hashlib
    import os
    from pathlib import Path

    import numba

    base = numba.config.CACHE_DIR or os.path.join(os.path.expanduser("~"), ".cache", "alff", "numba")
    h = hashlib.sha1()
    for p in sorted(Path(__file__).parent.rglob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    numba.config.CACHE_DIR = os.path.join(base, h.hexdigest()[:12])


_isolate_numba_cache()
