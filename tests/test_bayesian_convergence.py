"""The dynamic-training analysis (Figs. 2-4, Table 2): running statistics,
the learning curve of a Bayesian linear model and its own convergence
measures, z_B, and the model-driven NVT."""

import numpy as np
import pytest
from ase.build import bulk

from alff.analysis.bayesian_convergence import (curve_sizes, learning_curve, nvt_bayesian_errors, skewness,
                                                subset_of_ratio, trailing_stats, z_scores)
from alff.models.linear.fc_model import ForceConstantModel
from test_force_constants import Springs, _labelled


@pytest.fixture(scope="module")
def springs():
    ref = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    model = ForceConstantModel(reference=ref, cutoffs=[3.0])
    model._setup()
    return ref, model.tables, Springs(ref)


def _model(ref, tables):
    m = ForceConstantModel(reference=ref, cutoffs=[3.0])
    m.tables = tables
    return m


def test_trailing_stats_are_those_of_the_previous_window():
    v = np.random.default_rng(0).normal(size=50)
    mu, sd = trailing_stats(v, 7)
    assert np.isnan(mu[0])
    for i in range(1, 50):
        w = v[max(i - 7, 0):i]
        assert mu[i] == pytest.approx(w.mean(), abs=1e-12) and sd[i] == pytest.approx(w.std(), abs=1e-7)


def test_curve_sizes_and_subset():
    assert curve_sizes(60, 3, 6) == [3, 5, 10, 18, 33, 60]
    assert curve_sizes(3, 3, 6) == [3]
    rows = [{"n_structures": n, "rmse": r} for n, r in ((3, 9.0), (5, 4.1), (10, 2.5), (20, 2.0))]
    row, achieved = subset_of_ratio(rows, 2.0)
    assert row["n_structures"] == 5 and achieved == pytest.approx(2.05)


def test_a_correct_model_predicts_its_own_test_error(springs):
    """Harmonic oracle, label noise sigma on training and test forces: the
    test RMSE is sqrt(beta^-1 + <eps_B^2>), z_B is standard normal, and
    beta^-1/2 -> sigma; the incremental curve equals fresh fits."""
    ref, tables, oracle = springs
    sigma = 0.01
    train = _labelled(ref, oracle, 24, noise=sigma, seed=1)
    tests = _labelled(ref, oracle, 8, noise=sigma, seed=2)
    rows = learning_curve(_model(ref, tables), train, tests, [1, 2, 6, 24])
    assert [r["n_structures"] for r in rows] == [1, 2, 6, 24]
    for r in rows:
        # 768 test components: the RMSE itself scatters by ~2.5 %; beta from one structure by more
        assert r["rmse"] == pytest.approx(r["predicted_rmse"], rel=0.12)
        assert r["z_std"] == pytest.approx(1.0, abs=0.12) and abs(r["z_skewness"]) < 0.1
    assert rows[-1]["noise"] == pytest.approx(sigma, rel=0.05)
    assert rows[0]["mean_eps_b"] / rows[-1]["mean_eps_b"] == pytest.approx(np.sqrt(24), rel=0.2)
    fresh = learning_curve(_model(ref, tables), train, tests, [6])[0]
    assert fresh["rmse"] == pytest.approx(rows[2]["rmse"], rel=1e-9)
    assert fresh["noise"] == pytest.approx(rows[2]["noise"], rel=1e-9)


def test_an_overconfident_posterior_shows_in_z():
    rng = np.random.default_rng(3)
    err = rng.normal(0, 2.0, 20000)
    z = z_scores(err, np.ones_like(err), 1.0)
    assert np.std(z) == pytest.approx(np.sqrt(2.0), rel=0.03)
    assert skewness(rng.exponential(size=20000)) == pytest.approx(2.0, rel=0.1)


def test_nvt_with_the_model_samples_its_temperature(springs):
    ref, tables, oracle = springs
    m = _model(ref, tables).fit(_labelled(ref, oracle, 3, noise=0.005))
    steps, eps, temp = nvt_bayesian_errors(m, ref, 300.0, 2.0, 0.05, 600, 20, seed=4)
    assert steps.tolist() == list(range(20, 601, 20))
    assert np.all(eps > 0) and np.mean(temp[10:]) == pytest.approx(300.0, rel=0.25)
    hot = _model(ref, tables).fit(_labelled(ref, Springs(ref, k=-0.5), 3))  # unstable: negative springs
    with pytest.raises(RuntimeError, match="left its range at step"):
        nvt_bayesian_errors(hot, ref, 300.0, 2.0, 0.05, 5000, 20, seed=4)
