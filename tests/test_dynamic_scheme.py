"""The dynamic-training scheme in alff's on-the-fly driver: the force-constant
model with the trajectory-average criterion, its config checks, and an exact
resume after a kill."""

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from alff.config import ConfigError, scheme_sections, validate_config
from alff.dynamics import Schedule
from alff.learning import OnTheFly, Scenario, start_state, training_inputs
from alff.learning.checkpoint import fingerprint
from alff.models import build_model
from alff.oracle import Oracle
from alff.selection import build_selector
from test_checkpoint import CountingOracle, Killed

FC = {"kind": "force_constants", "cutoffs": [4.0, 3.0]}
SEL = {"kind": "trajectory_average", "gamma": 3.0, "k": 1000, "min_steps": 20}
SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
SETTINGS = {"max_oracle_calls": 5, "log_every": 10, "progress_s": 100}


def _reference():
    return bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)


def _run(oracle, ckpt=None, selector=SEL):
    ref = _reference()
    seed = []
    for k in range(2):
        a = ref.copy()
        a.rattle(0.03, seed=k)
        seed.append(Oracle("emt").label(a))
    model = build_model(dict(FC, reference=ref)).fit(*training_inputs(seed))
    scenarios = []
    for k, (temp, steps) in enumerate(((300.0, 100), (1000.0, 150))):
        sched = Schedule.from_config({"timestep_fs": 2.0,
                                      "schedule": [{"temperature_K": temp, "steps": steps, "phase": "solid"}]})
        scenarios.append(Scenario(f"T{int(temp)}", sched, start_state(seed[-1], 0.0, 5 + k)))
    driver = OnTheFly(model, build_selector(selector), oracle, SETTINGS, ckpt, fingerprint(FC, selector, SETTINGS))
    return driver.run(scenarios)


@pytest.fixture(scope="module")
def reference_run():
    return _run(CountingOracle())


def test_the_criterion_labels_whole_structures_where_the_dynamics_changes(reference_run):
    res = reference_run
    calls = res.log.calls
    assert 1 <= len(calls) <= SETTINGS["max_oracle_calls"]
    # 300 K from the seed's 0.03 A rattle is a slow drift the running mean follows; the jump to 1000 K is not
    assert {c["trajectory"] for c in calls} == {"T1000"}
    assert all(c["n_added"] == 32 for c in calls)
    assert res.model.n_train_ == 32 * (2 + len(calls))
    # beta^-1/2 rises once anharmonic 1000 K forces enter a 2nd + 3rd order expansion with 4 A / 3 A cutoffs
    seed_noise = res.log.rows[0]["noise"]
    assert res.model.noise_ > 3 * seed_noise


def test_a_killed_dynamic_run_resumes_bitwise(tmp_path, reference_run):
    ref = reference_run
    if ref.log.n_calls < 2:
        pytest.skip("one call only: no kill between calls to test")
    orc = CountingOracle(die_at=2)
    with pytest.raises(Killed):
        _run(orc, tmp_path / "ck")
    orc.die_at = None
    res = _run(orc, tmp_path / "ck")
    assert len(orc.done) == ref.log.n_calls and len(set(orc.done)) == len(orc.done)
    np.testing.assert_array_equal(res.model.coef_, ref.model.coef_)
    for a, b in zip(res.log.rows, ref.log.rows, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]), (k, a, b)  # NaN thresholds are equal too


def test_score_every_scores_a_subset_of_the_same_trajectory(tmp_path, reference_run):
    """eps_B every 4th step: the dynamics is the same (forces without std are
    the forces with it), the scored steps carry the same eps_B, the others a
    NaN; the step after each call is scored; a kill resumes bitwise."""
    ref = reference_run
    sel = dict(SEL, score_every=4)
    orc = CountingOracle(die_at=2)
    with pytest.raises(Killed):
        _run(orc, tmp_path / "ck", sel)
    orc.die_at = None
    res = _run(orc, tmp_path / "ck", sel)
    assert len(set(orc.done)) == len(orc.done) == res.log.n_calls >= 1
    first = next(i for i, r in enumerate(ref.log.rows) if r["event"] == "oracle")
    n_nan = 0
    for a, b in zip(res.log.rows[:first], ref.log.rows[:first], strict=True):  # the same MD up to the first call
        assert a["step"] == b["step"] and a["temperature_K"] == b["temperature_K"], (a, b)
        if a["step"] % 4 == 0:
            assert a["max_uncertainty"] == b["max_uncertainty"]
        else:
            assert np.isnan(a["max_uncertainty"]) or a["event"]
            n_nan += 1
    assert n_nan > 5
    calls = [r for r in res.log.rows if r["event"] == "oracle"]
    assert calls and all(np.isfinite(r["max_uncertainty"]) for r in calls)  # only scored steps label
    # a reference run of the same settings without the kill
    again = _run(CountingOracle(), None, sel)
    np.testing.assert_array_equal(again.model.coef_, res.model.coef_)
    assert len(again.log.rows) == len(res.log.rows)


def _config(**seed):
    return {"system": {"element": "Al", "a": 4.05, "repeat": [2, 2, 2]}, "seed": dict({"init_atoms": 0}, **seed),
            "schemes": {"dyn": {"model": dict(FC), "selector": dict(SEL)}}, "learn": {"schemes": ["dyn"]}}


def test_config_gives_the_system_cell_and_refuses_atom_subsets():
    cfg = validate_config(_config(), SCHEMA)
    model = scheme_sections(cfg, "dyn")["model"]
    assert model["reference"] == {"system": cfg["system"]} and model["symprec"] == 1e-5
    fc = build_model(model)
    assert len(fc.reference) == 32 and np.allclose(fc.reference.cell.lengths(), 8.1)
    with pytest.raises(ConfigError, match="seed.init_atoms: 8, but schemes.dyn.model.kind force_constants"):
        validate_config(_config(init_atoms=8), SCHEMA)
    bad = _config()
    bad["schemes"]["dyn"]["selector"] = {"kind": "threshold"}
    with pytest.raises(ConfigError, match="schemes.dyn.selector.kind: 'threshold' labels single atoms"):
        validate_config(bad, SCHEMA)
    bad = _config()
    bad["schemes"]["dyn"]["model"]["cutoff"] = 4.0
    with pytest.raises(ConfigError, match="schemes.dyn.model"):
        validate_config(bad, SCHEMA)
    with pytest.raises(ValueError, match=r"model.cutoffs \[5.0\]: a cutoff must be below half"):
        build_model({"kind": "force_constants", "reference": _reference(), "cutoffs": [5.0]}).fit([])


def test_config_names_bad_selector_settings_reserved_names_and_binary_validation():
    bad = _config()
    bad["schemes"]["dyn"]["selector"] = dict(SEL, score_every=200, min_steps=100)
    with pytest.raises(ConfigError, match=r"schemes.dyn.selector: trajectory_average needs score_every <= min_steps"):
        validate_config(bad, SCHEMA)
    bad = _config()
    bad["schemes"]["dyn"]["selector"] = dict(SEL, score_every=4)  # learn.log_every 10
    with pytest.raises(ConfigError, match=r"learn.log_every: 10 is not a multiple of schemes.dyn.selector.score_every"):
        validate_config(bad, SCHEMA)
    two = _config()
    two["schemes"] = {"dynamic": two["schemes"]["dyn"], "other": two["schemes"]["dyn"]}
    two["learn"]["schemes"] = ["dynamic", "other"]
    with pytest.raises(ConfigError, match="a scheme cannot be named 'dynamic'"):
        validate_config(two, SCHEMA)
    gp = {"system": {"element": "InP", "crystal": "zincblende", "a": 5.83}, "oracle": {"kind": "lj"}}
    with pytest.raises(ConfigError, match="validate.element: system.element 'InP' is the formula of a zincblende"):
        validate_config(gp, SCHEMA)
