"""``alff-run``: start or restart the pipeline, clearing a stale lock safely.

A Snakemake run that was killed (``kill -9``, a lost login node, a wall-time
limit) leaves its lock in ``.snakemake/locks``, and plain ``snakemake``
refuses to start until ``--unlock``. ``alff-run ARGS`` runs ``snakemake
ARGS`` and first removes the lock only when it is stale:

- a Snakemake process on this host still working in the directory, or a
  job it started that outlived it, keeps it (``alff-run`` stops with its
  pid), and so does a Slurm job of this user whose working directory it is
  (``squeue``; the jobs of a Snakemake that died keep running on their
  nodes);
- the lock of a run started by ``alff-run`` on another host is kept unless
  ``--force-unlock`` is given (that host's processes cannot be seen);
- otherwise the lock is stale and ``snakemake ARGS --unlock`` clears it.

The process then becomes Snakemake (``exec``), after recording its host and
pid in ``.snakemake/alff_owner.json`` for the next restart to check.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

__all__ = ["main", "workdir_of", "running_snakemake", "slurm_jobs", "lock_owner", "stale_lock"]

OWNER = "alff_owner.json"


def workdir_of(args):
    """The working directory of ``snakemake args`` (``--directory``/``-d``)."""
    for k, a in enumerate(args):
        if a in ("--directory", "-d") and k + 1 < len(args):
            return Path(args[k + 1]).resolve()
        if a.startswith("--directory="):
            return Path(a.split("=", 1)[1]).resolve()
    return Path.cwd().resolve()


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _is_snakemake(cmd):
    """Snakemake itself, or one of its jobs (a rule's script runs from
    ``.snakemake/scripts``): either may still write the run's outputs."""
    return (any(Path(part.decode(errors="replace")).name in ("snakemake", "alff-run") for part in cmd[:3])
            or any(b".snakemake/scripts/" in part for part in cmd[:4]))


def running_snakemake(workdir, exclude=()):
    """Pids of Snakemake processes (and of their jobs) on this host working
    in ``workdir`` (their cwd, or their ``--directory``)."""
    workdir = Path(workdir).resolve()
    out = []
    for d in Path("/proc").glob("[0-9]*"):
        pid = int(d.name)
        if pid in exclude or pid == os.getpid():
            continue
        cmd = _cmdline(pid)
        if not cmd or not _is_snakemake(cmd):
            continue
        args = [c.decode(errors="replace") for c in cmd if c]
        try:
            cwd = Path(os.readlink(d / "cwd")).resolve()
        except OSError:
            continue
        where = workdir_of(args) if any(a in ("--directory", "-d") or a.startswith("--directory=")
                                        for a in args) else cwd
        if not where.is_absolute():
            where = (cwd / where).resolve()
        if where == workdir:
            out.append(pid)
    return out


def slurm_jobs(workdir, timeout=20):
    """Ids of this user's Slurm jobs working in ``workdir`` (``[]`` where
    there is no Slurm): a job of a Snakemake that died keeps running on its
    node, where no process check of this host can see it."""
    import shutil
    if not shutil.which("squeue"):
        return []
    try:
        p = subprocess.run(["squeue", "--me", "-h", "-o", "%i %Z"], capture_output=True, text=True,
                           timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return []
    if p.returncode != 0:
        return []
    out = []
    for line in p.stdout.splitlines():
        job, _, where = line.strip().partition(" ")
        try:
            if where and Path(where).resolve() == Path(workdir).resolve():
                out.append(job)
        except OSError:
            continue
    return out


def lock_owner(workdir):
    """The ``{"host", "pid"}`` record of the run that took the lock, or None."""
    p = Path(workdir) / ".snakemake" / OWNER
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def stale_lock(workdir, force=False, slurm=False):
    """Whether ``workdir`` holds a lock that no running Snakemake owns.

    Returns
    -------
    bool
        True: locked and stale (safe to unlock); False: not locked.

    Parameters
    ----------
    slurm : bool
        The run submits Slurm jobs: ask ``squeue`` for jobs still working
        in ``workdir``.

    Raises
    ------
    RuntimeError
        The lock is held by a live Snakemake here, a Slurm job of the run, or was taken on another
        host (without ``force``); the message says which.
    """
    locks = Path(workdir) / ".snakemake" / "locks"
    if not locks.is_dir() or not any(locks.iterdir()):
        return False
    live = running_snakemake(workdir)
    jobs = slurm_jobs(workdir) if slurm else []
    if jobs:
        raise RuntimeError(f"alff-run: Slurm jobs {', '.join(jobs)} of this run are still queued or running "
                           f"(their working directory is {workdir}); let them end or scancel them, then run the "
                           "same command again")
    if live:
        raise RuntimeError(f"alff-run: a Snakemake process (pid {', '.join(map(str, live))}) is running in "
                           f"{workdir}; wait for it or stop it, then run the same command again")
    owner = lock_owner(workdir)
    if owner and owner.get("host") != socket.gethostname() and not force:
        raise RuntimeError(f"alff-run: the lock in {workdir} was taken on host {owner.get('host')} "
                           f"(pid {owner.get('pid')}), whose processes cannot be seen from here; if no Snakemake "
                           "runs there any more, add --force-unlock")
    return True


def main(argv=None):
    """Entry point of ``alff-run``: ``alff-run [--force-unlock] SNAKEMAKE-ARGS``."""
    args = list(sys.argv[1:] if argv is None else argv)
    force = "--force-unlock" in args
    args = [a for a in args if a != "--force-unlock"]
    workdir = workdir_of(args)
    snakemake = [sys.executable, "-m", "snakemake"]
    try:
        # a Slurm run names it (profiles/slurm, --executor slurm); squeue can
        # take seconds where no controller answers, so only then is it asked
        stale = stale_lock(workdir, force, slurm=any("slurm" in a for a in args))
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1
    if stale:
        print(f"alff-run: clearing the stale lock of an interrupted run in {workdir}", file=sys.stderr)
        p = subprocess.run(snakemake + args + ["--unlock"], capture_output=True, text=True)
        if p.returncode != 0:
            print(p.stdout + p.stderr, file=sys.stderr)
            return p.returncode
    owner = workdir / ".snakemake" / OWNER
    owner.parent.mkdir(parents=True, exist_ok=True)
    tmp = owner.with_name(f".{OWNER}.{os.getpid()}")
    tmp.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    os.replace(tmp, owner)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, snakemake + args)  # same pid: the owner record names Snakemake itself


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
