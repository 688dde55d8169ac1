"""End-to-end runs of the Snakemake pipeline on tiny configs (EMT oracle)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def tiny_config(tmp_path, mode, **learn):
    cfg = {
        "run": f"tiny_{mode}",
        "system": {"kind": "bulk", "element": "Al", "a": 4.05, "repeat": [1, 1, 2]},
        "oracle": {"kind": "calculator", "calculator": "oracles.CountingEMT",
                   "params": {"log_path": str(tmp_path / "oracle_calls.txt")}},
        "seed": {"method": "md", "steps": 4, "keep_every": 2, "init_atoms": 4},
        "schemes": {"flare": {
            "model": {"kind": "gp", "cutoffs": {"twobody": 5.0, "threebody": 4.0}, "maxiter": 8,
                      "optimize_first": 3, "optimize_every": 5},
            "selector": {"kind": "threshold", "max_atoms_added": 2}}},
        "learn": dict({"mode": mode, "max_oracle_calls": 20, "log_every": 5, "progress_s": 1.0,
                       "max_iterations": 2, "max_selected": 2, "max_candidates": 3, "min_separation": 5},
                      **learn),
        "explore": {"timestep_fs": 5.0, "schedule": [
            {"temperature_K": 300.0, "steps": 40, "phase": "solid"},
            {"temperature_K": 2000.0, "steps": 30, "phase": "hot", "rescale": True}]},
        "testset": {"frames": 2, "every": 5, "equilibrate_steps": 10},
        "map": {"twobody": 0.1, "threebody": 0.25},
        "validate": {"enabled": False},  # tests/test_validation.py runs it
    }
    path = tmp_path / f"{mode}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, cfg


def snakemake(tmp_path, configfile, *extra, env=None, check=True):
    e = dict(os.environ)
    e["PYTHONPATH"] = str(TESTS) + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env or {})
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
           str(tmp_path), "--configfile", str(configfile), "--cores", "2", *extra, "--quiet", "rules"]
    p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"snakemake failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-6000:]}")
    return p


def calls(tmp_path, purpose="learn"):
    f = tmp_path / "oracle_calls.txt"
    if not f.exists():
        return []
    return [line.split()[1] for line in f.read_text().splitlines() if line.startswith(purpose + " ")]


def check_outputs(run_dir, phases=("solid", "hot")):
    m = json.loads((run_dir / "metrics.json").read_text())
    for p in phases:
        assert m["test"][p]["n_frames"] == 2 and m["test"][p]["rmse"] > 0
    for name in ("learning", "parity", "calibration"):
        for ext in ("png", "pdf"):
            assert (run_dir / "figures" / f"{name}.{ext}").stat().st_size > 1000
    log = pd.read_csv(run_dir / "learn" / "log.csv")
    for col in ("step", "time_ps", "temperature_K", "potential_energy_eV", "max_uncertainty", "threshold",
                "noise", "n_oracle_calls", "n_train"):
        assert col in log.columns
    assert log["noise"].gt(0).all()
    mapping = json.loads((run_dir / "potential" / "mapping.json").read_text())
    assert mapping["n_frames"] + mapping["n_out_of_range"] == 2 * len(phases)
    assert mapping["n_frames"] == 0 or mapping["force_rmse"] < 5e-3
    assert "pair_style uf3" in (run_dir / "potential" / "in.alff.lmp").read_text()
    return m, log


def test_otf_end_to_end_with_failing_oracle(tmp_path):
    """On-the-fly run; every 3rd learning call of the oracle raises."""
    cfg_path, cfg = tiny_config(tmp_path, "otf")
    cfg["oracle"]["params"]["fail_every"] = 3
    cfg_path.write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, cfg_path)
    run = tmp_path / "results" / "tiny_otf"
    m, log = check_outputs(run)
    c = pd.read_csv(run / "learn" / "calls.csv")
    assert m["n_oracle_calls"] == len(c) >= 3
    assert m["n_failed_labels"] == (c["status"] == "failed").sum() >= 1
    assert c.loc[c["status"] == "failed", "reason"].str.contains("SCF did not converge").all()
    assert set(log["event"].dropna()) >= {"oracle", "failed"}
    # the model learned: more environments than the seed gave it
    assert m["n_training_envs"] > 3 * cfg["seed"]["init_atoms"]
    assert m["n_training_envs"] == 3 * 4 + 2 * (c["status"] == "ok").sum()
    # every finished call is in the call log once
    assert len(calls(tmp_path)) == (c["status"] == "ok").sum()


def test_batch_end_to_end_resumes_without_repeating_oracle_calls(tmp_path):
    """Batch run killed inside a label job; the rerun finishes the run and
    no finished oracle call is made twice."""
    cfg_path, cfg = tiny_config(tmp_path, "batch")
    first = snakemake(tmp_path, cfg_path, env={"ALFF_TEST_CRASH_AFTER": "1"}, check=False)
    assert first.returncode != 0, "the crashing oracle should have stopped the first run"
    done_before = calls(tmp_path)
    assert len(done_before) >= 1
    snakemake(tmp_path, cfg_path, "--rerun-incomplete")
    run = tmp_path / "results" / "tiny_batch"
    m, log = check_outputs(run)
    done = calls(tmp_path)
    assert len(done) == len(set(done)), "a finished oracle call was repeated"
    assert done[:len(done_before)] == done_before
    assert m["n_oracle_calls"] == len(done) >= 2
    # seed and test-set oracle MD ran once each
    seed = calls(tmp_path, "seed")
    assert len(seed) == len(set(seed)) == cfg["seed"]["steps"] + 1
    statuses = [json.loads((run / f"iter_{i:03d}" / "status.json").read_text()) for i in range(2)]
    assert statuses[0]["n_selected"] >= 1
    assert set(log["iteration"]) <= {0, 1}


def test_dry_run_shows_full_dag_for_both_profiles(tmp_path):
    cfg_path, _ = tiny_config(tmp_path, "batch")
    for profile in ("local", "slurm"):
        p = snakemake(tmp_path, cfg_path, "-n", "--profile", str(REPO / "profiles" / profile))
        out = p.stdout + p.stderr
        for rule, count in (("seed", 1), ("testset", 2), ("train", 3), ("explore", 2), ("select", 2),
                            ("label", 4), ("merge", 2), ("finalize", 1), ("evaluate", 2), ("report", 1),
                            ("map", 1)):
            assert any(line.split() == [rule, str(count)] for line in out.splitlines()), (rule, out[-2000:])


def test_dry_run_of_the_default_config_includes_the_validation(tmp_path):
    p = snakemake(tmp_path, REPO / "config" / "config.yaml", "-n")
    out = p.stdout + p.stderr
    for rule in ("rdf", "neb", "diffusion", "melting", "validation_summary", "map", "learn_otf"):
        assert any(line.split() == [rule, "1"] for line in out.splitlines()), (rule, out[-2000:])


@pytest.mark.parametrize("override, key", [
    ({"learn": {"mode": "sometimes"}}, "learn.mode"),
    ({"explore": {"schedule": [{"temperature_K": -5, "steps": 10}]}}, "explore.schedule[0].temperature_K"),
    ({"schemes": {"flare": {"model": {"cutoffs": {"twobody": "five"}}}}}, "schemes.flare.model.cutoffs.twobody"),
    ({"model": {"cutoffs": {"twobody": 4.0}}}, "model: moved to schemes.<name>.model"),
    ({"oracle": {"kind": "calculator"}}, "oracle.calculator"),
    ({"learn": {"max_oracle_call": 3}}, "learn"),
    ({"learn": {"schemes": ["flare", "nope"]}}, "learn.schemes: 'nope' is not a section of schemes"),
])
def test_broken_config_is_rejected_with_key_path(tmp_path, override, key):
    cfg_path = tmp_path / "bad.yaml"
    cfg_path.write_text(yaml.safe_dump(override))
    p = snakemake(tmp_path, cfg_path, "-n", check=False)
    assert p.returncode != 0
    assert key in (p.stdout + p.stderr)
    assert not (tmp_path / "results").exists()


def test_otf_resumes_after_crash_without_repeating_oracle_calls(tmp_path, tiny_otf_run):
    """The on-the-fly job dies during its third oracle call; the rerun
    continues from the checkpoint written after the second: no replay, no
    repeated call, and the same result as a run that was never killed."""
    cfg_path, _ = tiny_config(tmp_path, "otf")
    first = snakemake(tmp_path, cfg_path, env={"ALFF_TEST_CRASH_AFTER": "2"}, check=False)
    assert first.returncode != 0
    assert len(calls(tmp_path)) == 2
    run = tmp_path / "results" / "tiny_otf"
    assert (run / "learn" / "checkpoint" / "latest.json").exists()
    snakemake(tmp_path, cfg_path, "--rerun-incomplete")
    m, log = check_outputs(run)
    done = calls(tmp_path)
    assert len(done) == len(set(done)), "a finished oracle call was repeated"
    c = pd.read_csv(run / "learn" / "calls.csv")
    assert not c["cached"].any()  # resumed, not replayed through the cache
    assert m["n_oracle_calls"] == len(c) == len(done) > 2
    assert not (run / "learn" / "checkpoint").exists()  # removed once the outputs are written
    # the same run without the kill
    ref = tiny_otf_run[0]
    ref_calls = pd.read_csv(ref / "results" / "tiny_otf" / "learn" / "calls.csv")
    assert ref_calls["step"].tolist() == c["step"].tolist()
    ref_log = pd.read_csv(ref / "results" / "tiny_otf" / "learn" / "log.csv")
    pd.testing.assert_frame_equal(ref_log.drop(columns="threshold"), log.drop(columns="threshold"))


def test_editing_a_section_reruns_only_what_depends_on_it(tmp_path, tiny_otf_run):
    """Each rule's params are exactly its config sections: after a finished
    run, a changed selector reruns the learning and what follows it, not the
    seed or the test sets; a changed map section reruns only the map."""
    from conftest import copy_run
    copy_run(tiny_otf_run[0], tmp_path)
    cfg = tiny_otf_run[2]

    def planned(change):
        c = json.loads(json.dumps(cfg))
        change(c)
        p = tmp_path / "edited.yaml"
        p.write_text(yaml.safe_dump(c))
        out = snakemake(tmp_path, p, "-n")
        text = out.stdout + out.stderr
        return {line.split()[0] for line in text.splitlines()
                if len(line.split()) == 2 and line.split()[1].isdigit() and line.split()[0] != "total"}

    assert planned(lambda c: None) == set()
    jobs = planned(lambda c: c["schemes"]["flare"]["selector"].update(max_atoms_added=3))
    assert "learn_otf" in jobs and "report" in jobs and not jobs & {"seed", "testset"}
    jobs = planned(lambda c: c["map"].update(twobody=0.12))
    assert jobs == {"map", "all"}
    jobs = planned(lambda c: c["learn"].update(max_iterations=5))  # a batch-only key: nothing to redo
    assert jobs == set()
