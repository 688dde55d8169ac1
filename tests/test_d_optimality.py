"""The MLIP package's D-optimality selector (kind maxvol): verdicts from the
extrapolation grade, the graded prediction, select-add within the budget,
a trajectory stopped at gamma_break, on-the-fly learning that labels whole
configurations."""

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from alff.config import ConfigError, validate_config
from alff.dynamics import Schedule
from alff.learning import OnTheFly, Scenario, explore, start_state
from alff.models.linear.mtp_model import MTPModel
from alff.oracle import Oracle
from alff.selection import CONTINUE, LABEL, STOP, MaxvolSelector, build_selector
from conftest import label_emt


def emt_cells(n, seed, rattle=(0.02, 0.06), a=3.61):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        at = bulk("Cu", "fcc", a=a * rng.uniform(0.99, 1.01), cubic=True).repeat(2)
        at.rattle(rng.uniform(*rattle), seed=int(rng.integers(1 << 30)))
        out.append(label_emt(at))
    return out


@pytest.fixture(scope="module")
def cold_model():
    """A level-8 MTP that has seen only nearly perfect crystals."""
    return MTPModel(level=8, r_max=4.5, r_min=1.8).fit(emt_cells(8, 0))


def test_verdicts_and_settings():
    sel = build_selector({"kind": "maxvol", "gamma_select": 2.0, "gamma_break": 5.0})
    assert isinstance(sel, MaxvolSelector) and sel.threshold_ == 2.0
    assert sel.verdict(0, np.array([0.5, 2.0])) == CONTINUE
    assert sel.verdict(0, np.array([0.5, 2.1])) == LABEL
    assert sel.verdict(0, np.array([5.0, 0.1])) == STOP
    assert list(sel.training_atoms(bulk("Cu", cubic=True), None)) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="gamma_select <= gamma_break"):
        MaxvolSelector(gamma_select=5.0, gamma_break=2.0)
    with pytest.raises(ValueError, match="needs a model with an active set"):
        sel.drive(object())


def test_config_checks_the_selector_and_its_model():
    schema = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
    schemes = {"mlip": {"model": {"kind": "mtp"}, "selector": {"kind": "maxvol", "gamma_select": 3}}}
    cfg = validate_config({"schemes": schemes, "learn": {"schemes": ["mlip"]}}, schema)
    assert cfg["schemes"]["mlip"]["selector"] == {"kind": "maxvol", "gamma_select": 3, "gamma_break": 10.0,
                                                  "max_selected": None}
    bad = {"mlip": {"model": {"kind": "gp"}, "selector": {"kind": "maxvol"}}}
    with pytest.raises(ConfigError, match="schemes.mlip.model.kind must be mtp"):
        validate_config({"schemes": bad, "learn": {"schemes": ["mlip"]}}, schema)
    typo = {"mlip": {"model": {"kind": "mtp"}, "selector": {"kind": "maxvol", "gamma_brake": 3}}}
    with pytest.raises(ConfigError, match="gamma_brake"):
        validate_config({"schemes": typo, "learn": {"schemes": ["mlip"]}}, schema)


def test_graded_prediction_is_the_models_prediction_and_grade(cold_model):
    m = cold_model
    a = emt_cells(1, 5, rattle=(0.15, 0.2))[0]
    out = MaxvolSelector().drive(m).predict(a, ("forces", "energy"), return_std=True)
    ref = m.predict(a, ("energy", "forces"))
    assert out["energy"] == pytest.approx(ref["energy"], abs=1e-10)
    np.testing.assert_allclose(out["forces"], ref["forces"], atol=1e-10)
    np.testing.assert_allclose(out["grade"], m.grade(a), rtol=1e-10)
    assert out["grade"].max() > 1.5  # far outside the cold training set


def test_select_add_stays_within_max_selected_and_prefers_the_unknown(cold_model):
    m = cold_model
    known = emt_cells(3, 1)  # like the training set
    unknown = emt_cells(4, 2, rattle=(0.12, 0.18))
    cands = known + unknown
    for c in cands:
        c.info["max_uncertainty"] = float(m.grade(c).max())
    sel = MaxvolSelector(max_selected=2)
    picked = sel.pick(cands, 10, m)
    assert 1 <= len(picked) <= 2 and len(set(picked)) == len(picked)
    assert all(k >= 3 for k in picked)  # hot frames, not the cold ones
    assert len(MaxvolSelector().pick(cands, 3, m)) <= 3
    assert MaxvolSelector().pick([], 3, m) == []
    unlimited = MaxvolSelector().pick(cands, 100, m)
    assert set(picked) <= set(unlimited)
    before = m.active_set().log_abs_det
    assert m.active_set().log_abs_det == before  # pick works on a copy of the active set


def test_a_trajectory_stops_at_gamma_break(cold_model):
    sched = Schedule.from_config({"schedule": [{"temperature_K": 2500.0, "steps": 400}], "timestep_fs": 2.0})
    st = start_state(emt_cells(1, 3)[0], 0.0, 4)
    sel = MaxvolSelector(gamma_select=1.2, gamma_break=3.0)
    cands, reason, llog = explore(cold_model, sel, sched, st, {"max_candidates": 1000, "min_separation": 1})
    assert reason == "stopped" and st.step < 400
    assert cands[-1].info["max_uncertainty"] >= 3.0
    assert all(1.2 < c.info["max_uncertainty"] for c in cands)
    df = llog.frame()
    assert df["threshold"].eq(1.2).all() and df["max_uncertainty"].iloc[-1] >= 3.0


def test_on_the_fly_labels_whole_configurations_into_the_training_set(tmp_path):
    model = MTPModel(level=8, r_max=4.5, r_min=1.8).fit(emt_cells(8, 0))
    n0 = model.n_train_
    sched = Schedule.from_config({"schedule": [{"temperature_K": 1200.0, "steps": 60}], "timestep_fs": 2.0})
    st = start_state(emt_cells(1, 6)[0], 0.0, 5)
    sel = MaxvolSelector(gamma_select=1.5, gamma_break=4.0)
    driver = OnTheFly(model, sel, Oracle("emt"), {"max_oracle_calls": 3, "log_every": 5, "progress_s": 100})
    driver.run([Scenario("hot", sched, st)])
    assert 1 <= driver.log.n_calls <= 3
    assert model.n_train_ == n0 + sum(len(f) for f in driver.labelled)
    tol = model.active_set().tol
    for f in driver.labelled:  # now training configurations: inside the active set's span
        assert f.arrays["train_mask"].all()
        assert model.grade(f).max() <= 1 + tol + 1e-9
