"""An MTP file holds the frames it was fitted on: a model loaded from a file
(a checkpoint) grades and updates exactly as the model that was saved (before,
an update after loading refitted on the new frames alone)."""

import numpy as np
import pytest

from alff.models import load_model
from alff.models.linear.mtp_model import MTPModel
from alff.models.linear.training_arrays import arrays_to_frames, frames_to_arrays
from test_mtp_mlip_mode import emt_frames


@pytest.fixture(scope="module")
def frames():
    return emt_frames(10, 3, symbols="Ag"), emt_frames(3, 4, symbols="Ag")


def test_frames_round_trip_through_arrays(frames):
    train, _ = frames
    train = [f.copy() for f in train[:3]]
    for f, src in zip(train, frames[0][:3]):
        f.calc = src.calc
    train[1].calc.results.pop("stress")
    idx = [np.arange(len(train[0])), np.array([3, 1]), np.arange(len(train[2]))]
    back, back_idx = arrays_to_frames(frames_to_arrays(train, idx))
    assert [len(f) for f in back] == [len(f) for f in train]
    for a, b, i, j in zip(train, back, idx, back_idx):
        np.testing.assert_array_equal(a.numbers, b.numbers)
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.cell[:], b.cell[:])
        assert a.get_potential_energy() == b.get_potential_energy()
        np.testing.assert_array_equal(a.get_forces(), b.get_forces())
        np.testing.assert_array_equal(i, j)
    assert "stress" not in back[1].calc.results
    np.testing.assert_array_equal(back[2].calc.results["stress"], train[2].calc.results["stress"])
    assert arrays_to_frames({"coef": np.zeros(2)}) is None


@pytest.mark.parametrize("settings", [
    {"mode": "linear", "regression": "bayesian_ridge"},
    {"mode": "mlip", "radial_fit": {"max_iter": 8, "every_update": True, "warm_start": True}},
], ids=["linear", "mlip-warm"])
def test_update_after_loading_equals_update_in_memory(tmp_path, frames, settings):
    train, test = frames
    ref = MTPModel(level=8, r_max=5.0, r_min=1.6, **settings).fit(train[:6])
    ref.save(tmp_path / "m")
    load_model(tmp_path / "m").save(tmp_path / "resaved")  # saved again before any use: still holds the frames
    loaded = load_model(tmp_path / "resaved")
    # the grade of the loaded model (its saved active set) and of the training rows rebuilt from the file agree
    for a in test:
        np.testing.assert_array_equal(loaded.grade(a), ref.grade(a))
    new = [train[6:8], train[8:]]
    idx = [[np.arange(len(f)) for f in new[0]], [np.array([0, 2, 5]) for _ in new[1]]]
    for k in range(2):
        ref.update(new[k], idx[k])
        loaded.update(new[k], idx[k])
    assert loaded.n_train_ == ref.n_train_ == sum(len(f) for f in train[:8]) + 3 * len(new[1])
    np.testing.assert_array_equal(loaded.coef_, ref.coef_)
    np.testing.assert_array_equal(loaded.potential.radial_coeffs, ref.potential.radial_coeffs)
    for a in test:
        np.testing.assert_array_equal(loaded.predict(a)["forces"], ref.predict(a)["forces"])
        np.testing.assert_array_equal(loaded.grade(a), ref.grade(a))
    # and the file of the updated model holds all of it again
    loaded.save(tmp_path / "m2")
    again = load_model(tmp_path / "m2")
    again.update(test[:1])
    ref.update(test[:1])
    np.testing.assert_array_equal(again.coef_, ref.coef_)
