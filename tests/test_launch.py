"""alff-run clears a stale Snakemake lock, and only a stale one (a killed
run restarts with the same command, no --unlock; a live run is never
unlocked under its feet)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alff.launch import main, running_snakemake, stale_lock, workdir_of


def locked(tmp_path, owner=None):
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text(str(tmp_path / "x"))
    if owner:
        (tmp_path / ".snakemake" / "alff_owner.json").write_text(json.dumps(owner))
    return tmp_path


def test_workdir_of_reads_directory_arguments(tmp_path):
    assert workdir_of(["--directory", str(tmp_path), "-n"]) == tmp_path.resolve()
    assert workdir_of([f"--directory={tmp_path}"]) == tmp_path.resolve()
    assert workdir_of(["-d", str(tmp_path)]) == tmp_path.resolve()
    assert workdir_of(["--cores", "2"]) == Path.cwd().resolve()


def test_no_lock_and_stale_lock(tmp_path):
    assert stale_lock(tmp_path) is False
    assert stale_lock(locked(tmp_path)) is True


def test_a_live_snakemake_keeps_its_lock(tmp_path):
    locked(tmp_path)
    proc = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 30"], cwd=tmp_path)
    try:
        for _ in range(100):
            if proc.pid in running_snakemake(tmp_path):
                break
            time.sleep(0.02)
        with pytest.raises(RuntimeError, match=f"pid {proc.pid}"):
            stale_lock(tmp_path)
        # a job that outlived its Snakemake counts too
        assert main(["--directory", str(tmp_path), "-n"]) == 1
    finally:
        proc.kill()
        proc.wait()


def test_a_lock_taken_on_another_host_needs_force(tmp_path):
    locked(tmp_path, {"host": socket.gethostname() + "-other", "pid": 1})
    with pytest.raises(RuntimeError, match="--force-unlock"):
        stale_lock(tmp_path)
    assert stale_lock(tmp_path, force=True) is True


def test_alff_run_restarts_a_killed_run_without_unlock(tmp_path):
    """A real Snakemake lock left by SIGKILL; plain snakemake refuses, and
    alff-run clears it and runs."""
    (tmp_path / "Snakefile").write_text("rule all:\n    output: 'done.txt'\n"
                                        "    shell: 'sleep $(cat delay); echo ok > done.txt'\n")
    (tmp_path / "delay").write_text("60")
    cmd = ["--cores", "1", "-d", str(tmp_path), "-s", str(tmp_path / "Snakefile")]
    first = subprocess.Popen([sys.executable, "-m", "alff.launch", *cmd], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    locks = tmp_path / ".snakemake" / "locks"
    for _ in range(300):
        if locks.is_dir() and any(locks.iterdir()):
            break
        time.sleep(0.05)
    time.sleep(0.5)
    # while it runs, a second start is refused (its Snakemake and its job are alive)
    assert main(cmd) == 1
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert any(locks.iterdir())
    (tmp_path / "delay").write_text("0")
    plain = subprocess.run([sys.executable, "-m", "snakemake", *cmd], capture_output=True, text=True)
    assert plain.returncode != 0 and "locked" in (plain.stdout + plain.stderr).lower()
    p = subprocess.run([sys.executable, "-m", "alff.launch", *cmd, "--rerun-incomplete"], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    assert "stale lock" in p.stderr and (tmp_path / "done.txt").read_text() == "ok\n"
    owner = json.loads((tmp_path / ".snakemake" / "alff_owner.json").read_text())
    assert owner["host"] == socket.gethostname()


def test_slurm_jobs_of_the_run_keep_its_lock(tmp_path, monkeypatch):
    """A label job of a Snakemake that died still runs on its node."""
    import alff.launch as launch
    locked(tmp_path)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "squeue").write_text(f"#!/bin/sh\necho '4711 {tmp_path}'\necho '4712 /elsewhere'\n")
    (fake / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    assert launch.slurm_jobs(tmp_path) == ["4711"]
    with pytest.raises(RuntimeError, match="Slurm jobs 4711 of this run"):
        stale_lock(tmp_path, slurm=True)
    assert stale_lock(tmp_path) is True  # not a Slurm run: squeue is not asked
