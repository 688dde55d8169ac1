"""Exact resume: a run killed with SIGKILL at random moments (the whole
process group, as a node dies), restarted each time with the numba cache
cleared (kernels compiled afresh, as after a new version or on another
node) by the README's restart command (``alff-run``, no ``--unlock``),
never repeats a finished oracle call and ends with the same training set,
bit for bit, as a run that was never interrupted. Both learning modes.

The model is the GP with its 2-body term only, whose kernels compile in a
few seconds: compile modes are covered for every kernel by
tests/test_compile_modes.py; here it is the resume machinery (checkpoints,
oracle cache, Snakemake's incomplete-job handling, the lock) under test.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from alff.structure_io import read_frames
from test_pipeline import calls, tiny_config

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
KILLS = int(os.environ.get("ALFF_TEST_KILLS", "10"))


# Every scheme runs through this test: add its tiny section here when it lands.
SCHEMES = {
    "flare": {"model": {"kind": "gp", "cutoffs": {"twobody": 4.5}, "maxiter": 8, "optimize_first": 3,
                        "optimize_every": 5},
              "selector": {"kind": "threshold", "max_atoms_added": 2}},
}


def config(tmp_path, mode, scheme):
    path, cfg = tiny_config(tmp_path, mode)
    cfg["schemes"] = {scheme: SCHEMES[scheme]}
    cfg["learn"]["schemes"] = [scheme]
    cfg["learn"].update(max_oracle_calls=24, max_iterations=5, max_selected=3, max_candidates=3)
    cfg["explore"]["schedule"] = [{"temperature_K": 300.0, "steps": 100, "phase": "solid"},
                                  {"temperature_K": 1500.0, "steps": 100, "phase": "hot", "rescale": True}]
    path.write_text(yaml.safe_dump(cfg))
    return path, cfg


def command(workdir, cfg_path, run):
    targets = [f"results/{run}/learn/train.extxyz", f"results/{run}/learn/calls.csv"]
    return [sys.executable, "-m", "alff.launch", *targets, "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(workdir), "--configfile", str(cfg_path), "--cores", "2", "--rerun-incomplete",
            "--quiet", "rules"]


def environment(cache):
    shutil.rmtree(cache, ignore_errors=True)  # cleared: every attempt compiles afresh
    e = dict(os.environ, NUMBA_CACHE_DIR=str(cache), OMP_NUM_THREADS="1")
    e["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(REPO / "lib"), e.get("PYTHONPATH", "")])
    return e


def run_to_end(workdir, cfg_path, run, cache):
    p = subprocess.run(command(workdir, cfg_path, run), env=environment(cache), capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]


def log_key(atoms):
    """The key tests/oracles.py's CountingEMT logs for a structure."""
    return hashlib.sha1(np.round(atoms.positions, 8).tobytes()).hexdigest()[:16]


def persisted(workdir):
    """Keys of every structure whose label is in an oracle cache on disk
    (not the hidden temporary files a kill leaves behind mid-write)."""
    files = (workdir / "results").glob("**/oracle_cache/*/*.extxyz")
    return {log_key(a) for p in files if not p.name.startswith(".") for a in read_frames(p)}


def log_lines(workdir):
    f = workdir / "oracle_calls.txt"
    return f.read_text().splitlines() if f.exists() else []


def in_flight(workdir, n_before):
    """Log lines (indices) written since line ``n_before`` whose label never
    reached the cache: the kill came after the calculator returned and before
    the label was written (alff loses at most the call in progress, by
    design), so the resumed run must redo exactly these."""
    keep = persisted(workdir)
    lines = log_lines(workdir)
    return [i for i in range(n_before, len(lines)) if lines[i].split()[1] not in keep]


def finished_calls(workdir, purpose, lost):
    """``calls(workdir, purpose)`` without the lines of the calls in ``lost``."""
    return [ln.split()[1] for i, ln in enumerate(log_lines(workdir)) if ln.startswith(purpose + " ") and i not in lost]


def killed_attempt(workdir, cfg_path, run, cache, rng):
    """Start the run, kill its process group at a random moment.

    Returns
    -------
    killed : bool
        False when the run finished before the kill.
    locked : bool
        The kill left Snakemake's lock behind.
    lost : list of int
        Log lines of calls the kill caught before their label was cached.
    """
    n_lines = len(log_lines(workdir))
    n0 = len(calls(workdir))
    by_time = rng.random() < 0.4
    t_kill = rng.uniform(0.5, 8.0) if by_time else None
    proc = subprocess.Popen(command(workdir, cfg_path, run), env=environment(cache), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < 600:
        if by_time and time.monotonic() - t0 > t_kill:
            break
        if not by_time and len(calls(workdir)) > n0:
            time.sleep(rng.uniform(0.0, 0.3))
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        assert proc.returncode == 0, f"the run failed on its own (exit {proc.returncode})"
        return False, False, []
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    locks = workdir / ".snakemake" / "locks"
    return True, locks.is_dir() and any(locks.iterdir()), in_flight(workdir, n_lines)


@pytest.mark.long
@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@pytest.mark.parametrize("mode", ["otf", "batch"])
def test_random_kills_with_fresh_compiles_repeat_no_oracle_call(tmp_path, mode, scheme):
    rng = np.random.default_rng({"otf": 1, "batch": 2}[mode])
    ref, work = tmp_path / "ref", tmp_path / "work"
    ref.mkdir()
    work.mkdir()
    ref_cfg, cfg = config(ref, mode, scheme)
    run_to_end(ref, ref_cfg, cfg["run"], tmp_path / "numba_ref")
    work_cfg, _ = config(work, mode, scheme)
    kills = stale_locks = 0
    lost = set()
    while kills < KILLS:
        killed, locked, caught = killed_attempt(work, work_cfg, cfg["run"], tmp_path / "numba_work", rng)
        if not killed:
            break
        kills += 1
        stale_locks += locked
        # at most one call in progress per job, and at most --cores jobs
        assert len(caught) <= 2, f"a kill lost {len(caught)} calls: labels are not cached as they finish"
        lost.update(caught)
    assert kills >= KILLS, f"the run finished after {kills} kills: make it longer"
    assert stale_locks >= 1  # restarted without --unlock
    run_to_end(work, work_cfg, cfg["run"], tmp_path / "numba_work")
    assert persisted(ref) >= {ln.split()[1] for ln in log_lines(ref)}  # the keys match the cache's
    for purpose in ("seed", "learn"):
        done, expected = finished_calls(work, purpose, lost), calls(ref, purpose)
        assert len(done) == len(set(done)), f"a finished {purpose} oracle call was repeated"
        # the same calls; in batch mode the label jobs of an iteration run in any order
        assert (done if mode == "otf" else sorted(done)) == (expected if mode == "otf" else sorted(expected))
    learn = Path("results") / cfg["run"] / "learn"
    a, b = read_frames(work / learn / "train.extxyz"), read_frames(ref / learn / "train.extxyz")
    assert len(a) == len(b) > 2
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions, y.positions)
        np.testing.assert_array_equal(x.get_forces(), y.get_forces())
        np.testing.assert_array_equal(x.arrays["train_mask"], y.arrays["train_mask"])
    pd.testing.assert_frame_equal(pd.read_csv(work / learn / "calls.csv").drop(columns=["walltime_s", "cached"]),
                                  pd.read_csv(ref / learn / "calls.csv").drop(columns=["walltime_s", "cached"]))
