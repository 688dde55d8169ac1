"""The active-learning engine: trigger, selection, on-the-fly updates, batch
exploration."""

import numpy as np
import pytest
from ase.build import bulk

from alff import learning as L
from alff.dynamics import MDState, Schedule
from alff.oracle import Oracle


def test_trigger_threshold_and_most_uncertain():
    t = L.Trigger(std_tolerance_factor=2.0)
    assert t.threshold(0.01) == pytest.approx(0.02)
    assert L.Trigger(absolute=0.05).threshold(0.01) == 0.05
    std = np.array([[0.1, 0.0, 0.0], [0.0, 0.3, 0.0], [0.0, 0.0, 0.2], [0.05, 0.05, 0.05]])
    np.testing.assert_array_equal(L.most_uncertain(std, 2), [1, 2])
    np.testing.assert_array_equal(L.atom_uncertainty(std), [0.1, 0.3, 0.2, 0.05])


def test_select_and_training_inputs_skip_failed():
    frames = []
    for k, u in enumerate([0.1, 0.5, 0.3]):
        a = bulk("Al", cubic=True)
        a.info["max_force_std"] = u
        a.info["md_step"] = k
        frames.append(a)
    assert [f.info["md_step"] for f in L.select_candidates(frames, 2)] == [1, 2]
    lab = Oracle("emt").label(bulk("Al", cubic=True))
    L.mark_training_atoms(lab, np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0], [2, 0, 0]], float), 2)
    failed = bulk("Al", cubic=True)
    failed.info["oracle_status"] = "failed"
    fr, idx = L.training_inputs([lab, failed])
    assert len(fr) == 1
    np.testing.assert_array_equal(idx[0], [1, 3])


@pytest.fixture(scope="module")
def seeded_model():
    rng = np.random.default_rng(0)
    orc = Oracle("emt")
    frames = []
    for k in range(2):
        a = bulk("Al", "fcc", a=4.05, cubic=True).repeat((1, 1, 2))
        a.rattle(0.03, seed=k)
        frames.append(orc.label(a))
    frames = L.initial_training(frames, 3, rng)
    model = L.make_model({"cutoffs": {"twobody": 5.0, "threebody": 4.0}, "maxiter": 5})
    fr, idx = L.training_inputs(frames)
    return model.fit(fr, idx), frames


def test_on_the_fly_labels_updates_and_logs(seeded_model):
    model0, frames = seeded_model
    model = L.make_model({"cutoffs": {"twobody": 5.0, "threebody": 4.0}, "maxiter": 5})
    model.fit(*L.training_inputs(frames))
    sched = Schedule.from_config({"schedule": [{"temperature_K": 600.0, "steps": 30, "phase": "hot"}]})
    st = L.start_state(frames[-1], sched, 0.0, 1)
    n0 = model.n_envs_
    model, labelled, llog, calls = L.learn_on_the_fly(
        model, sched, st, L.Trigger(std_tolerance_factor=1.0, max_atoms_added=2), Oracle("emt"),
        {"max_oracle_calls": 4, "hyps_opt_first": 1, "hyps_opt_every": 0, "log_every": 5, "progress_s": 100})
    assert 1 <= llog.n_calls <= 4 and llog.n_calls == len(calls)
    assert model.n_envs_ == n0 + 2 * len(labelled)
    assert all(int(f.arrays["train_mask"].sum()) == 2 for f in labelled)
    df = llog.frame()
    assert df["step"].is_monotonic_increasing and df["step"].iloc[-1] == 30
    assert (df["event"] == "oracle").sum() == len(labelled)
    assert st.step == 30 and st.time_ps == pytest.approx(30 * 5e-3)


def test_batch_exploration_collects_separated_candidates(seeded_model):
    model, frames = seeded_model
    sched = Schedule.from_config({"schedule": [{"temperature_K": 900.0, "steps": 60}]})
    st = L.start_state(frames[-1], sched, 0.0, 2)
    trig = L.Trigger(absolute=1e-6, break_factor=None)  # everything is uncertain
    cands, reason, llog = L.explore(model, sched, st, trig, {"max_candidates": 3, "min_separation": 7})
    assert reason == "trigger" and len(cands) == 3
    steps = [c.info["md_step"] for c in cands]
    assert steps == [0, 7, 14] and st.step == 14
    assert all(c.arrays["force_std"].shape == (len(c), 3) for c in cands)
    # resumed from there: the next candidate keeps the separation
    more, _, _ = L.explore(model, sched, st, trig, {"max_candidates": 1, "min_separation": 7}, resumed=True)
    assert more[0].info["md_step"] == 21


def test_break_threshold_stops_exploration(seeded_model):
    model, frames = seeded_model
    sched = Schedule.from_config({"schedule": [{"temperature_K": 300.0, "steps": 50}]})
    st = L.start_state(frames[-1], sched, 0.0, 3)
    trig = L.Trigger(absolute=1e-7, break_factor=2.0)
    cands, reason, _ = L.explore(model, sched, st, trig, {"max_candidates": 10, "min_separation": 5})
    assert reason == "trigger" and len(cands) == 1 and st.step == 0


def test_strained_start_state():
    a = bulk("Al", "fcc", a=4.0, cubic=True)
    sched = Schedule.from_config({"schedule": [{"temperature_K": 300.0, "steps": 1}]})
    st = L.start_state(a, sched, 0.02, 0)
    np.testing.assert_allclose(st.atoms.cell.lengths(), 4.08)
    assert isinstance(st, MDState) and st.step == 0
