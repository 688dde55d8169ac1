"""The pipeline on a real Slurm cluster, and numba's cache in Slurm jobs.

``test_batch_run_through_slurm_killed_and_restarted`` starts a single-node
Slurm cluster from Debian's packages (tests/slurm/start_cluster.sh: munge,
slurmctld, slurmd, no accounting; skipped with the script's reason where it
cannot start, e.g. not root or packages missing - .ci/run installs them),
runs the tiny batch pipeline through ``alff-run --profile profiles/slurm``,
kills Snakemake's whole process group with SIGKILL once a label job has
finished its oracle call (a lost login session), cancels the run's orphaned
Slurm jobs, restarts with the same command and checks a complete result,
zero repeated oracle calls and that the jobs went through Slurm.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import alff
from alff.launch import running_snakemake
from test_kill_resume import finished_calls, in_flight
from test_pipeline import calls, check_outputs, tiny_config

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
START = TESTS / "slurm" / "start_cluster.sh"
STOP = TESTS / "slurm" / "stop_cluster.sh"
# the rules of the tiny batch DAG (each gets a small memory request)
BATCH_RULES = ("seed", "testset", "train", "explore", "select", "label", "merge", "finalize", "evaluate",
               "report", "map")
TIMEOUT_S = 900


# ----- numba's cache directory (no Slurm needed)
def test_numba_cache_dir_outside_slurm_is_left_alone(tmp_path):
    f = alff.numba_cache_dir
    assert f({}, tmp_path) is None
    assert f({"NUMBA_CACHE_DIR": str(tmp_path / ".numba_cache")}, tmp_path) is None
    assert f({"TMPDIR": "/scratch"}, tmp_path) is None


def test_numba_cache_dir_in_a_slurm_job_goes_to_node_local_storage(tmp_path):
    f = alff.numba_cache_dir
    uid = os.getuid()
    job = {"SLURM_JOB_ID": "42"}
    # unset, or inside the checkout (a shared filesystem): node-local
    assert f(job, tmp_path) == f"/tmp/alff-numba-{uid}"
    assert f(dict(job, NUMBA_CACHE_DIR=str(tmp_path / ".numba_cache")), tmp_path) == f"/tmp/alff-numba-{uid}"
    assert f(dict(job, NUMBA_CACHE_DIR=str(tmp_path / "a" / ".." / ".numba_cache")), tmp_path) \
        == f"/tmp/alff-numba-{uid}"
    # $SLURM_TMPDIR first, then $TMPDIR, then /tmp
    assert f(dict(job, TMPDIR="/local/t"), tmp_path) == f"/local/t/alff-numba-{uid}"
    assert f(dict(job, TMPDIR="/local/t", SLURM_TMPDIR="/local/s"), tmp_path) == f"/local/s/alff-numba-{uid}"
    assert f(dict(job, TMPDIR=""), tmp_path) == f"/tmp/alff-numba-{uid}"
    # a cache chosen outside the checkout stays
    assert f(dict(job, NUMBA_CACHE_DIR="/scratch/me/numba"), tmp_path) is None
    assert f(dict(job, NUMBA_CACHE_DIR=str(tmp_path) + "-other/c"), tmp_path) is None  # a sibling, not inside
    # an installed alff (no checkout): only an unset cache is moved
    assert f(dict(job, NUMBA_CACHE_DIR=str(tmp_path / "c")), None) is None
    assert f(job, None) == f"/tmp/alff-numba-{uid}"
    assert f(dict(job, SLURM_JOB_ID=""), tmp_path) is None


def test_explicit_alff_numba_cache_dir_wins(tmp_path):
    f = alff.numba_cache_dir
    for env in ({}, {"SLURM_JOB_ID": "42"}, {"SLURM_JOB_ID": "42", "NUMBA_CACHE_DIR": "/scratch/x"},
                {"NUMBA_CACHE_DIR": str(tmp_path / ".numba_cache")}):
        assert f(dict(env, ALFF_NUMBA_CACHE_DIR="/mine/cache"), tmp_path) == "/mine/cache"


def test_numba_cache_dir_is_set_before_numba_compiles(tmp_path):
    """In a (fake) Slurm job with the checkout's cache, importing alff moves
    numba's cache to node-local storage, keyed on alff's source, and exports
    the base to child processes."""
    code = ("import os, numba, alff\n"
            "@numba.njit(cache=True)\n"
            "def f(x):\n    return x + 1\n"
            "f(1)\n"
            "print(os.environ['NUMBA_CACHE_DIR']); print(numba.config.CACHE_DIR)\n")
    env = dict(os.environ, SLURM_JOB_ID="42", TMPDIR=str(tmp_path), NUMBA_CACHE_DIR=str(REPO / ".numba_cache"))
    env.pop("SLURM_TMPDIR", None)
    env.pop("ALFF_NUMBA_CACHE_DIR", None)
    (tmp_path / "kernel.py").write_text(code)  # numba caches functions of files only
    p = subprocess.run([sys.executable, "kernel.py"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = p.stdout.split()
    base = str(tmp_path / f"alff-numba-{os.getuid()}")
    assert out[0] == base
    assert Path(out[1]).parent == Path(base) and len(Path(out[1]).name) == 12
    assert list(Path(out[1]).rglob("*.nbi"))  # the kernel was cached there


# ----- the Slurm cluster
def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running single-node cluster; stopped afterwards when this fixture
    started it. Skips with the start script's reason where it cannot run."""
    if sys.platform != "linux":
        pytest.skip("Slurm test cluster: Linux only")
    if not START.exists():
        pytest.skip(f"{START} missing")
    was_up = shutil.which("scontrol") is not None and "UP" in _run(["scontrol", "ping"], timeout=20).stdout
    p = _run(["bash", str(START)], timeout=180)
    if p.returncode in (2, 3):
        pytest.skip((p.stderr.strip().splitlines() or ["Slurm cannot start here"])[-1])
    assert p.returncode == 0, f"start_cluster.sh failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    # a second start is a no-op on the running cluster
    again = _run(["bash", str(START)], timeout=180)
    assert again.returncode == 0, again.stderr
    node = _run(["sinfo", "-h", "-N", "-o", "%N %c %m"], check=True).stdout.split()
    yield {"node": node[0], "cpus": int(node[1]), "mem_mb": int(node[2])}
    if not was_up:
        _run(["bash", str(STOP)], timeout=120)


def _jobs(workdir):
    """Slurm jobs (finished ones too, for MinJobAge) run in ``workdir``:
    dicts with id, state, comment (rule_<rule>...), cpus."""
    out = _run(["squeue", "-h", "--states=all", "-o", "%i|%T|%k|%C|%Z"], check=True).stdout
    rows = [line.split("|") for line in out.splitlines() if line.count("|") == 4]
    return [{"id": r[0], "state": r[1], "comment": r[2], "cpus": int(r[3])}
            for r in rows if Path(r[4]).resolve() == Path(workdir).resolve()]


def _command(tmp_path, cfg_path, mem_mb):
    # alff-run (README "Running it yourself"): snakemake, after clearing a
    # stale lock; the same command starts and restarts a run
    cmd = [sys.executable, "-m", "alff.launch", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(cfg_path), "--profile", str(REPO / "profiles" / "slurm"),
           # the profile's memory is sized for DFT; the test node may be small
           "--default-resources", f"mem_mb={mem_mb}", "runtime=30",
           "--set-resources", *[f"{r}:mem_mb={mem_mb}" for r in BATCH_RULES],
           # second-long test jobs: poll soon (the profile's 10 s suits real jobs)
           "--slurm-init-seconds-before-status-checks", "6"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(TESTS) + os.pathsep + env.get("PYTHONPATH", "")
    # one node that is this machine: the jobs reuse the tests' warm numba
    # cache instead of compiling into /tmp (the default, checked above)
    env["ALFF_NUMBA_CACHE_DIR"] = env.get("NUMBA_CACHE_DIR") or str(REPO / ".numba_cache")
    env.pop("SLURM_JOB_ID", None)
    return cmd, env


def _finish(proc, log, timeout):
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"snakemake did not finish in {timeout} s:\n{log.read_text()[-6000:]}")
    return rc


@pytest.mark.long
def test_srun_job_puts_numba_cache_on_node_local_storage(slurm_cluster, tmp_path):
    """A real Slurm job with the checkout's NUMBA_CACHE_DIR (as the rules set
    it) compiles into node-local /tmp, not into the checkout."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(REPO / ".numba_cache"), PYTHONPATH=str(REPO / "lib"))
    for k in ("ALFF_NUMBA_CACHE_DIR", "SLURM_TMPDIR", "TMPDIR"):
        env.pop(k, None)
    p = _run(["srun", "-N1", "-n1", "-c1", "--mem=500", "-t", "5", sys.executable, "-c",
              "import numba, alff; print(numba.config.CACHE_DIR)"], env=env, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert Path(p.stdout.split()[-1]).parent == Path(f"/tmp/alff-numba-{os.getuid()}")


@pytest.mark.long
def test_batch_run_through_slurm_killed_and_restarted(slurm_cluster, tmp_path):
    mem_mb = max(200, min(1000, slurm_cluster["mem_mb"] // 4))
    # one iteration of batch learning keeps the Slurm round trips few
    cfg_path, cfg = tiny_config(tmp_path, "batch", max_iterations=1)
    cmd, env = _command(tmp_path, cfg_path, mem_mb)
    t0 = time.monotonic()

    # ----- first run: killed (SIGKILL to the whole session) once a label job
    # has finished its oracle call
    log1 = tmp_path / "snakemake_1.log"
    with open(log1, "w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path,
                                start_new_session=True)
    while not calls(tmp_path):
        if proc.poll() is not None:
            raise AssertionError(f"snakemake ended ({proc.returncode}) before any label:\n{log1.read_text()[-6000:]}")
        if time.monotonic() - t0 > TIMEOUT_S:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"no label job finished in {TIMEOUT_S} s:\n{log1.read_text()[-6000:]}")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    t_kill = time.monotonic() - t0
    before = _jobs(tmp_path)
    assert any(j["comment"].startswith("rule_label") for j in before), before
    # the Slurm jobs of the dead Snakemake keep running: cancel them before
    # the restart (README "Running on a Slurm cluster"), or a label still
    # inside its oracle call would run twice
    live = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED")
    orphans = [j["id"] for j in before if j["state"] in live]
    if orphans:
        _run(["scancel", *orphans], timeout=30)
    # Slurm reports them cancelled at once; their processes end within
    # KillWait (alff-run refuses to start while one still works here)
    deadline = time.monotonic() + 120
    while ([j for j in _jobs(tmp_path) if j["id"] in orphans and j["state"] in live]
           or running_snakemake(tmp_path)):
        assert time.monotonic() < deadline, ("orphaned jobs still running", _jobs(tmp_path),
                                             running_snakemake(tmp_path))
        time.sleep(0.5)
    # a label cancelled after its calculator returned and before its label
    # reached the cache is lost (at most the call in progress, by design) and
    # redone: such calls are not "finished" (tests/test_kill_resume.py)
    lost = in_flight(tmp_path, 0)
    assert len(lost) <= slurm_cluster["cpus"], ("more calls lost than jobs ran", lost)
    done_before = finished_calls(tmp_path, "learn", lost)
    assert len(calls(tmp_path)) >= 1

    # ----- restart with the same command (alff-run clears the stale lock)
    log2 = tmp_path / "snakemake_2.log"
    t1 = time.monotonic()
    with open(log2, "w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path,
                                start_new_session=True)
    rc = _finish(proc, log2, TIMEOUT_S)
    assert rc == 0, f"the restarted run failed ({rc}):\n{log2.read_text()[-8000:]}"
    t_restart = time.monotonic() - t1
    print(f"\nSlurm tiny batch: killed after {t_kill:.0f} s (first label done), restart finished in "
          f"{t_restart:.0f} s, total {time.monotonic() - t0:.0f} s")

    # ----- a complete result, no finished oracle call repeated
    run = tmp_path / "results" / "tiny_batch"
    m, log = check_outputs(run)
    done = finished_calls(tmp_path, "learn", lost)
    assert len(done) == len(set(done)), "a finished oracle call was repeated"
    assert done[:len(done_before)] == done_before
    assert m["n_oracle_calls"] == len(done) >= 2
    seed = finished_calls(tmp_path, "seed", lost)
    assert len(seed) == len(set(seed)) == cfg["seed"]["steps"] + 1

    # ----- the jobs went through Slurm: its queue history and the kept logs
    jobs = _jobs(tmp_path)
    rules = {j["comment"].split("_wildcards_")[0].removeprefix("rule_") for j in jobs}
    assert {"seed", "testset", "train", "explore", "label"} <= rules, rules
    assert all(j["cpus"] <= slurm_cluster["cpus"] for j in jobs), jobs  # threads capped by the profile
    finished = [j for j in jobs if j["state"] == "COMPLETED"]
    assert len(finished) >= 8, jobs
    slurm_logs = tmp_path / ".snakemake" / "slurm_logs"
    assert list(slurm_logs.glob("rule_label/*/*.log")) and list(slurm_logs.glob("rule_train/*/*.log"))
    assert "SLURM jobid" in log2.read_text()
