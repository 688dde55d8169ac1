"""The active-learning engine: the FLARE selector, training-set bookkeeping,
on-the-fly updates, batch exploration."""

import numpy as np
import pytest
from ase.build import bulk

from alff.dynamics import MDState, Schedule
from alff.learning import (LearningLog, OnTheFly, Scenario, explore, mark_training_atoms, select_candidates,
                           start_state, training_inputs)
from alff.models import build_model
from alff.oracle import Oracle
from alff.selection import CONTINUE, LABEL, STOP, ThresholdSelector, atom_uncertainty, build_selector
from conftest import seed_frames


class _Noise:
    noise_ = 0.01


def test_threshold_selector_verdicts_and_training_atoms():
    sel = ThresholdSelector(std_tolerance_factor=2.0, max_atoms_added=2, break_factor=3.0)
    std = np.array([[0.1, 0.0, 0.0], [0.0, 0.3, 0.0], [0.0, 0.0, 0.2], [0.05, 0.05, 0.05]]) * 0.1
    score = sel.score(_Noise(), None, {"forces_std": std})
    assert sel.threshold_ == pytest.approx(0.02)
    np.testing.assert_array_equal(score, atom_uncertainty(std))
    np.testing.assert_allclose(score, [0.01, 0.03, 0.02, 0.005])
    assert sel.verdict(0, score) == LABEL                 # 0.03 > 0.02, not > 0.06
    assert sel.verdict(0, score * 3) == STOP              # 0.09 > 3 x 0.02
    assert sel.verdict(0, score / 2) == CONTINUE
    np.testing.assert_array_equal(sel.training_atoms(None, score), [1, 2])
    absolute = ThresholdSelector(absolute=0.05)
    absolute.score(_Noise(), None, {"forces_std": std})
    assert absolute.threshold_ == 0.05
    assert isinstance(build_selector({"kind": "threshold", "max_atoms_added": 3}), ThresholdSelector)
    with pytest.raises(ValueError, match="selector.kind 'nope'"):
        build_selector({"kind": "nope"})


def test_select_and_training_inputs_skip_failed():
    frames = []
    for k, u in enumerate([0.1, 0.5, 0.3]):
        a = bulk("Al", cubic=True)
        a.info["max_uncertainty"] = u
        a.info["md_step"] = k
        frames.append(a)
    assert [f.info["md_step"] for f in select_candidates(ThresholdSelector(), frames, 2)] == [1, 2]
    lab = Oracle("emt").label(bulk("Al", cubic=True))
    sel = ThresholdSelector(max_atoms_added=2)
    mark_training_atoms(lab, sel.training_atoms(lab, np.array([0.0, 1.0, 0.0, 2.0])))
    failed = bulk("Al", cubic=True)
    failed.info["oracle_status"] = "failed"
    fr, idx = training_inputs([lab, failed])
    assert len(fr) == 1
    np.testing.assert_array_equal(idx[0], [1, 3])


GP = {"kind": "gp", "cutoffs": {"twobody": 5.0, "threebody": 4.0}, "maxiter": 5}


@pytest.fixture(scope="module")
def seeded_model():
    frames = seed_frames()
    model = build_model(GP)
    fr, idx = training_inputs(frames)
    return model.fit(fr, idx), frames


def test_on_the_fly_labels_updates_and_logs(seeded_model):
    _, frames = seeded_model
    model = build_model(dict(GP, optimize_first=1)).fit(*training_inputs(frames))
    sched = Schedule.from_config({"schedule": [{"temperature_K": 600.0, "steps": 30, "phase": "hot"}]})
    st = start_state(frames[-1], 0.0, 1)
    n0 = model.n_train_
    driver = OnTheFly(model, ThresholdSelector(max_atoms_added=2), Oracle("emt"),
                      {"max_oracle_calls": 4, "log_every": 5, "progress_s": 100})
    driver.run([Scenario("hot", sched, st)])
    llog = driver.log
    assert 1 <= llog.n_calls <= 4 and llog.n_calls == len(llog.calls)
    assert driver.model.n_train_ == n0 + 2 * len(driver.labelled)
    assert driver.model.n_updates_ == len(driver.labelled)
    assert all(int(f.arrays["train_mask"].sum()) == 2 for f in driver.labelled)
    df = llog.frame()
    assert df["step"].is_monotonic_increasing and df["step"].iloc[-1] == 30
    assert (df["event"] == "oracle").sum() == len(driver.labelled)
    assert df["noise"].gt(0).all() and df["threshold"].gt(0).all()
    assert st.step == 30 and st.time_ps == pytest.approx(30 * 5e-3)


def test_batch_exploration_collects_separated_candidates(seeded_model):
    model, frames = seeded_model
    sched = Schedule.from_config({"schedule": [{"temperature_K": 900.0, "steps": 60}]})
    st = start_state(frames[-1], 0.0, 2)
    sel = ThresholdSelector(absolute=1e-6, break_factor=None)  # everything is uncertain
    cands, reason, llog = explore(model, sel, sched, st, {"max_candidates": 3, "min_separation": 7})
    assert reason == "stopped" and len(cands) == 3
    steps = [c.info["md_step"] for c in cands]
    assert steps == [0, 7, 14] and st.step == 14
    assert all(c.arrays["uncertainty"].shape == (len(c),) for c in cands)
    assert all(c.info["max_uncertainty"] == pytest.approx(c.arrays["uncertainty"].max()) for c in cands)
    # resumed from there: the next candidate keeps the separation
    more, _, _ = explore(model, sel, sched, st, {"max_candidates": 1, "min_separation": 7}, resumed=True)
    assert more[0].info["md_step"] == 21


def test_break_threshold_stops_exploration(seeded_model):
    model, frames = seeded_model
    sched = Schedule.from_config({"schedule": [{"temperature_K": 300.0, "steps": 50}]})
    st = start_state(frames[-1], 0.0, 3)
    sel = ThresholdSelector(absolute=1e-7, break_factor=2.0)
    cands, reason, _ = explore(model, sel, sched, st, {"max_candidates": 10, "min_separation": 5})
    assert reason == "stopped" and len(cands) == 1 and st.step == 0


def test_strained_start_state():
    a = bulk("Al", "fcc", a=4.0, cubic=True)
    st = start_state(a, 0.02, 0)
    np.testing.assert_allclose(st.atoms.cell.lengths(), 4.08)
    assert isinstance(st, MDState) and st.step == 0


def test_learning_log_state_round_trip():
    lg = LearningLog()
    lg.add(step=1, event="oracle")
    lg.calls.append({"step": 1})
    lg.n_calls = 1
    back = LearningLog.from_state(lg.state())
    assert back.rows == lg.rows and back.calls == lg.calls and back.n_calls == 1
