"""On-the-fly checkpoints: a run killed at an oracle call continues from the
checkpoint of the previous call and ends bitwise where an uninterrupted run
ends (model, training set, log), without repeating a finished call."""

import numpy as np
import pytest

from alff.dynamics import Schedule
from alff.learning import OnTheFly, Scenario, start_state, training_inputs
from alff.learning.checkpoint import fingerprint, read_checkpoint
from alff.models import build_model
from alff.oracle import Oracle
from alff.selection import ThresholdSelector
from conftest import seed_frames

GP = {"kind": "gp", "cutoffs": {"twobody": 4.5, "threebody": 3.5}, "maxiter": 4, "optimize_first": 2,
      "optimize_every": 2}
MTP = {"kind": "mtp", "level": 8, "r_min": 1.8, "r_max": 4.5, "regression": "bayesian_ridge"}
SETTINGS = {"max_oracle_calls": 6, "log_every": 4, "progress_s": 100}


class Killed(BaseException):
    """A node dying mid-run (not an oracle failure: nothing catches it)."""


class CountingOracle:
    """EMT that records each finished call and dies at call ``die_at``."""

    def __init__(self, die_at=None):
        self.inner = Oracle("emt")
        self.done = []
        self.die_at = die_at

    def label(self, atoms):
        if self.die_at is not None and len(self.done) + 1 == self.die_at:
            raise Killed
        lab = self.inner.label(atoms)
        self.done.append(atoms.positions.tobytes())
        return lab


def _run(oracle, ckpt, seed, spec=GP):
    sched = [Schedule.from_config({"schedule": [{"temperature_K": 700.0, "steps": 25, "phase": "a"}]}),
             Schedule.from_config({"schedule": [{"temperature_K": 1200.0, "steps": 20, "phase": "b"}]})]
    scen = [Scenario(name, s, start_state(seed[-1], 0.0, 5 + k)) for k, (name, s) in enumerate(zip("ab", sched))]
    model = build_model(spec).fit(*training_inputs(seed))
    driver = OnTheFly(model, ThresholdSelector(max_atoms_added=2), oracle, SETTINGS, ckpt,
                      fingerprint(spec, SETTINGS))
    return driver.run(scen)


@pytest.mark.parametrize("die_at", [2, 5])
def test_killed_run_resumes_bitwise_from_its_checkpoint(tmp_path, die_at):
    seed = seed_frames()
    ref = _run(CountingOracle(), None, seed)
    assert ref.log.n_calls >= 5, "the reference run must label enough for the test to mean something"
    orc = CountingOracle(die_at=die_at)
    with pytest.raises(Killed):
        _run(orc, tmp_path / "ck", seed)
    assert len(orc.done) == die_at - 1
    assert read_checkpoint(tmp_path / "ck", fingerprint(GP, SETTINGS)) is not None
    orc.die_at = None
    res = _run(orc, tmp_path / "ck", seed)
    assert len(orc.done) == ref.log.n_calls, "an oracle call was repeated or lost"
    assert len(set(orc.done)) == len(orc.done)
    np.testing.assert_array_equal(res.model.alpha_, ref.model.alpha_)
    assert res.model.hyps_ == ref.model.hyps_ and res.model.n_updates_ == ref.model.n_updates_
    assert res.log.rows == ref.log.rows
    assert [c["step"] for c in res.log.calls] == [c["step"] for c in ref.log.calls]
    assert res.row_starts == ref.row_starts
    assert len(res.labelled) == len(ref.labelled)


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    seed = seed_frames()
    orc = CountingOracle(die_at=3)
    with pytest.raises(Killed):
        _run(orc, tmp_path / "ck", seed)
    assert read_checkpoint(tmp_path / "ck", fingerprint(GP, dict(SETTINGS, max_oracle_calls=7))) is None


def test_killed_mtp_run_resumes_bitwise(tmp_path):
    """The MTP's file holds its training frames: the resumed model refits
    on all of them, not on the frames labelled after the restart alone."""
    seed = seed_frames()
    ref = _run(CountingOracle(), None, seed, MTP)
    assert ref.log.n_calls >= 3
    orc = CountingOracle(die_at=3)
    with pytest.raises(Killed):
        _run(orc, tmp_path / "ck", seed, MTP)
    orc.die_at = None
    res = _run(orc, tmp_path / "ck", seed, MTP)
    assert len(orc.done) == ref.log.n_calls and len(set(orc.done)) == len(orc.done)
    assert res.model.n_train_ == ref.model.n_train_
    np.testing.assert_array_equal(res.model.coef_, ref.model.coef_)
    assert res.log.rows == ref.log.rows
