"""The dynamic-training criteria: trajectory-average eps_B and eps_min."""

import numpy as np
import pytest

from alff.selection import build_selector
from alff.selection.protocol import CONTINUE, LABEL, Selector
from alff.selection.trajectory import bayesian_error


class FakeModel:
    def __init__(self):
        self.n_train_, self.noise_ = 10, 0.01


def _pred(eps, n=4):
    return {"forces_std": np.full((n, 3), eps)}


def test_eps_b_is_the_rms_of_the_force_stds():
    s = np.array([[0.1, 0.2, 0.2], [0.0, 0.4, 0.1]])
    assert bayesian_error(s) == pytest.approx(np.sqrt(np.mean(s ** 2)))
    sel = build_selector({"kind": "trajectory_average"})
    assert isinstance(sel, Selector)
    score = sel.score(FakeModel(), np.zeros((2, 3)), {"forces_std": s})
    np.testing.assert_allclose(score, bayesian_error(s))  # the structure's eps_B, for every atom
    assert sel.training_atoms(np.zeros((5, 3)), score).tolist() == [0, 1, 2, 3, 4]


def test_trajectory_average_fires_above_gamma_times_the_running_mean_only():
    sel = build_selector({"kind": "trajectory_average", "gamma": 3.0, "k": 1000})
    m = FakeModel()
    rng = np.random.default_rng(0)
    for step in range(1500):  # eps_B ~ 1 with 5 % noise: never 3x its mean
        assert sel.verdict(step, sel.score(m, np.zeros((4, 3)), _pred(1.0 + 0.05 * rng.normal()))) == CONTINUE
    mu = np.mean(sel.window)
    assert sel.verdict(1500, sel.score(m, None, _pred(2.95 * mu))) == CONTINUE
    assert sel.threshold_ == pytest.approx(3 * mu)
    mu = np.mean(sel.window)
    assert sel.verdict(1501, sel.score(m, None, _pred(3.05 * mu))) == LABEL
    # state round trip (checkpoints)
    other = build_selector({"kind": "trajectory_average", "gamma": 3.0, "k": 1000})
    other.set_state(sel.get_state())
    assert list(other.window) == list(sel.window) and len(other.window) == 1000


def test_trajectory_average_waits_for_its_window_and_checks_settings():
    sel = build_selector({"kind": "trajectory_average", "min_steps": 20, "k": 50})
    verdicts = [sel.verdict(s, np.full(3, 1.0 if s else 0.01)) for s in range(20)]
    assert verdicts == [CONTINUE] * 20  # a 100x jump inside the first 20 steps: no scale yet
    assert sel.verdict(20, np.full(3, 10.0)) == LABEL
    with pytest.raises(ValueError, match="gamma > 1"):
        build_selector({"kind": "trajectory_average", "gamma": 0.5})


def test_eps_min_criterion_uses_the_mean_after_each_refit():
    sel = build_selector({"kind": "eps_min"})
    m = FakeModel()
    assert sel.verdict(0, sel.score(m, None, _pred(0.02))) == CONTINUE  # just fitted: eps_min = 0.02
    assert sel.verdict(1, sel.score(m, None, _pred(0.019))) == CONTINUE
    assert sel.verdict(2, sel.score(m, None, _pred(0.021))) == LABEL
    m.n_train_ += 4  # refit
    assert sel.verdict(3, sel.score(m, None, _pred(0.01))) == CONTINUE  # eps_min = 0.01: threshold 0.015
    assert sel.eps_min_ == [0.02, 0.01]
    assert sel.verdict(4, sel.score(m, None, _pred(0.016))) == LABEL
    with pytest.raises(ValueError, match="takes only score_every"):
        build_selector({"kind": "eps_min", "gamma": 3})


def test_score_every_keeps_the_window_in_md_steps():
    sel = build_selector({"kind": "trajectory_average", "k": 1000, "min_steps": 100, "score_every": 20})
    assert sel.score_every == 20 and sel.window.maxlen == 50  # the scored steps of the last 1000 MD steps
    verdicts = [sel.verdict(20 * j, np.full(3, 1.0 if j else 0.01)) for j in range(5)]
    assert verdicts == [CONTINUE] * 5  # 5 scored steps = 100 MD steps: the window is not full before
    assert sel.verdict(100, np.full(3, 10.0)) == LABEL
    for j in range(200):
        sel.verdict(120 + 20 * j, np.full(3, 1.0))
    assert len(sel.window) == 50
    assert build_selector({"kind": "eps_min", "score_every": 7}).score_every == 7
    with pytest.raises(ValueError, match="score_every must be a whole number >= 1"):
        build_selector({"kind": "trajectory_average", "score_every": 0})
    with pytest.raises(ValueError, match="score_every <= min_steps"):
        build_selector({"kind": "trajectory_average", "score_every": 50, "min_steps": 20})
    with pytest.raises(ValueError, match="takes gamma, k, min_steps, score_every and noise_factor"):
        build_selector({"kind": "trajectory_average", "window": 5})


def test_noise_factor_labels_a_model_poor_from_the_start():
    """eps_B that rises to its plateau before the window is armed never
    exceeds 3x a mean holding the rise; with noise_factor it is labelled
    while eps_B > factor * beta^-1/2, and not once below it."""
    rise = [0.9 * min(s / 50.0, 1.0) for s in range(0, 400, 10)]
    m = FakeModel()
    m.noise_ = 0.1
    plain = build_selector({"kind": "trajectory_average", "k": 1000, "min_steps": 100, "score_every": 10})
    assert all(plain.verdict(10 * j, plain.score(m, None, _pred(e))) == CONTINUE for j, e in enumerate(rise))
    floor = build_selector({"kind": "trajectory_average", "k": 1000, "min_steps": 100, "score_every": 10,
                            "noise_factor": 2.0})
    v = [floor.verdict(10 * j, floor.score(m, None, _pred(e))) for j, e in enumerate(rise)]
    assert v.index(LABEL) == 2 and floor.threshold_ == pytest.approx(0.2)  # eps 0.36 > 2 x 0.1 at step 20
    m.noise_ = 1.0  # after a refit on anharmonic data beta^-1/2 rose: eps_B is now below the floor
    assert floor.verdict(400, floor.score(m, None, _pred(0.9))) == CONTINUE
    with pytest.raises(ValueError, match="noise_factor must be > 0"):
        build_selector({"kind": "trajectory_average", "noise_factor": 0})
