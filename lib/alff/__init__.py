"""alff: active-learning force fields."""

__version__ = "0.1.0"

# An explicit base directory of numba's cache that wins over everything.
NUMBA_CACHE_ENV = "ALFF_NUMBA_CACHE_DIR"


def _checkout():
    """The source checkout alff is imported from (the directory holding
    lib/ and the Snakefile), or None for an installed copy."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return root if (root / "Snakefile").exists() and (root / "lib" / "alff").is_dir() else None


def numba_cache_dir(env, checkout=None):
    """The base of numba's cache that alff should use, or None to leave
    ``NUMBA_CACHE_DIR`` as it is.

    - ``ALFF_NUMBA_CACHE_DIR`` set: that directory, always;
    - inside a Slurm job (``SLURM_JOB_ID``) with ``NUMBA_CACHE_DIR`` unset or
      inside ``checkout`` (usually a shared filesystem, where jobs on many
      nodes would write the same cache files): a node-local directory,
      ``$SLURM_TMPDIR``, else ``$TMPDIR``, else ``/tmp``, plus
      ``/alff-numba-<uid>``;
    - otherwise None.

    ``env`` is a mapping like ``os.environ``; ``checkout`` a path or None.
    """
    import os

    explicit = env.get(NUMBA_CACHE_ENV, "").strip()
    if explicit:
        return explicit
    if not env.get("SLURM_JOB_ID", "").strip():
        return None
    current = env.get("NUMBA_CACHE_DIR", "").strip()
    if current:
        if checkout is None:
            return None
        here = os.path.realpath(os.path.abspath(current))
        root = os.path.realpath(os.path.abspath(str(checkout)))
        if os.path.commonpath([here, root]) != root:
            return None
    local = next((env[k] for k in ("SLURM_TMPDIR", "TMPDIR") if env.get(k, "").strip()), "/tmp")
    uid = os.getuid() if hasattr(os, "getuid") else env.get("USER", "user")
    return os.path.join(local, f"alff-numba-{uid}")


def _isolate_numba_cache():
    """Give numba's on-disk cache a directory per version of alff's source.

    numba invalidates a cached function only when its own file changes, not
    when a compiled function it calls (in another module) does; a stale
    cache would then run old code. Keying the directory on a hash of all
    alff sources rules that out. The base is ``numba_cache_dir`` (node-local
    storage in Slurm jobs, ``ALFF_NUMBA_CACHE_DIR``), else
    ``NUMBA_CACHE_DIR``, else ``~/.cache/alff/numba``. The base is chosen
    and exported to ``NUMBA_CACHE_DIR`` (for the job's child processes)
    before numba is imported.
    """
    import hashlib
    import os
    from pathlib import Path

    chosen = numba_cache_dir(os.environ, _checkout())
    if chosen is not None:
        os.environ["NUMBA_CACHE_DIR"] = chosen

    import numba

    if chosen is not None and numba.config.CACHE_DIR != chosen:
        # numba was imported before alff: take the new variable in now, or
        # the compiler's own reload would later reset CACHE_DIR to it
        numba.core.config.reload_config()
    base = chosen or numba.config.CACHE_DIR or os.path.join(os.path.expanduser("~"), ".cache", "alff", "numba")
    h = hashlib.sha1()
    for p in sorted(Path(__file__).parent.rglob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    numba.config.CACHE_DIR = os.path.join(base, h.hexdigest()[:12])


_isolate_numba_cache()
