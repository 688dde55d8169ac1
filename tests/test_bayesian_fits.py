"""Fitting engines of the linear models (alff.models.linear.bayesian_fits).

scikit-learn is the reference (its BayesianRidge / ARDRegression with
fit_intercept=False follow the same update equations); it is used only here.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal

from alff.models.linear.ard import ARDRegression
from alff.models.linear.bayesian_fits import BayesianRidge, committee
from alff.models.linear.least_squares import ridge_fit

sklm = pytest.importorskip("sklearn.linear_model")


def close(actual, desired, rtol):
    """assert_allclose with a tolerance relative to the scale of ``desired``."""
    desired = np.asarray(desired, dtype=float)
    assert_allclose(actual, desired, rtol=rtol, atol=rtol * np.max(np.abs(desired)))


def problem(kind, seed=0, n=200, p=10, noise=0.1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    if kind == "ill":
        X *= 10.0 ** np.linspace(-4, 2, p)
    w = rng.standard_normal(p)
    y = X @ w + noise * rng.standard_normal(n)
    return X, y


@pytest.mark.parametrize("kind", ["well", "ill"])
def test_bayesian_ridge_equals_sklearn(kind):
    X, y = problem(kind)
    if kind == "ill":
        assert np.linalg.cond(X) > 1e5
    ours = BayesianRidge().fit(X, y)
    ref = sklm.BayesianRidge(fit_intercept=False).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_
    close(ours.alpha_, ref.alpha_, 1e-6)
    close(ours.lambda_, ref.lambda_, 1e-6)
    close(ours.coef_, ref.coef_, 1e-6)
    close(ours.sigma_, ref.sigma_, 1e-6)
    assert ours.sigma_.shape == (X.shape[1], X.shape[1])
    # predictive mean and std, with and without the noise term
    Xq = problem(kind, seed=1, n=30)[0]
    mean, std = ours.predict(Xq, return_std=True)
    rmean, rstd = ref.predict(Xq, return_std=True)
    close(mean, rmean, 1e-6)
    close(std, rstd, 1e-6)
    model_var = np.einsum("ij,jk,ik->i", Xq, ours.sigma_, Xq)
    close(ours.predict_std(Xq, include_noise=False), np.sqrt(model_var), 1e-8)
    assert np.all(ours.predict_std(Xq, include_noise=False) < std)


def test_bayesian_ridge_more_features_than_rows_and_options():
    X, y = problem("well", seed=3, n=30, p=60)
    kw = dict(alpha_init=2.0, lambda_init=0.5, compute_score=True, max_iter=500)
    ours = BayesianRidge(**kw).fit(X, y)
    ref = sklm.BayesianRidge(fit_intercept=False, **kw).fit(X, y)
    close(ours.alpha_, ref.alpha_, 1e-6)
    close(ours.lambda_, ref.lambda_, 1e-6)
    close(ours.coef_, ref.coef_, 1e-6)
    close(ours.sigma_, ref.sigma_, 1e-6)
    # scores at every iteration (the final one differs: sklearn evaluates it
    # with the last loop iterate's coef, we with the final coef_)
    close(ours.scores_[:-1], ref.scores_[:-1], 1e-6)


@pytest.mark.parametrize("kind", ["well", "ill"])
def test_log_evidence_is_the_marginal_likelihood(kind):
    X, y = problem(kind, seed=4, n=50, p=5)
    m = BayesianRidge().fit(X, y)
    cov = np.eye(len(y)) / m.alpha_ + X @ X.T / m.lambda_
    ref = multivariate_normal(mean=np.zeros(len(y)), cov=cov).logpdf(y)
    assert abs(m.log_evidence_ - ref) < 1e-6 * abs(ref)


@pytest.mark.parametrize("kind", ["well", "ill"])
def test_committee_converges_to_posterior(kind):
    X, y = problem(kind, seed=5)
    m = BayesianRidge().fit(X, y)
    n = 20000
    samples = m.sample(n, np.random.default_rng(42))
    assert samples.shape == (n, X.shape[1])
    se = np.sqrt(np.diag(m.sigma_) / n)
    assert np.all(np.abs(samples.mean(axis=0) - m.coef_) < 4 * se)
    cov = np.cov(samples, rowvar=False)
    assert np.linalg.norm(cov - m.sigma_) / np.linalg.norm(m.sigma_) < 0.05
    # committee predictions: (n, n_rows), mean and std match the posterior
    Xq = problem(kind, seed=6, n=40)[0]
    c = committee(m, Xq, n, np.random.default_rng(7))
    assert c.predictions.shape == (n, 40)
    std_model = m.predict_std(Xq, include_noise=False)
    assert np.all(np.abs(c.mean - m.predict(Xq)) < 4 * std_model / np.sqrt(n))
    assert_allclose(c.std, std_model, rtol=0.05)
    # reproducible with the same seed, different with another
    assert_allclose(committee(m, Xq, 5, 1).predictions, committee(m, Xq, 5, 1).predictions)
    assert not np.allclose(committee(m, Xq, 5, 1).predictions, committee(m, Xq, 5, 2).predictions)


def test_sample_with_near_singular_covariance():
    # duplicated columns and far more features than rows: sigma_ is rank
    # deficient to double precision (eigenvalues 1/lambda vs 1/(alpha e))
    rng = np.random.default_rng(8)
    X = rng.standard_normal((20, 8)) * 10.0 ** np.linspace(-3, 5, 8)
    X = np.hstack([X, X[:, :2]])
    y = X @ rng.standard_normal(10) + 1e-3 * rng.standard_normal(20)
    m = BayesianRidge().fit(X, y)
    w = np.linalg.eigvalsh(m.sigma_)
    assert w.min() / w.max() < 1e-12
    s = m.sample(20000, 3)
    assert np.all(np.isfinite(s))
    cov = np.cov(s, rowvar=False)
    assert np.linalg.norm(cov - m.sigma_) / np.linalg.norm(m.sigma_) < 0.05


def test_ridge_fit_well_conditioned_equals_normal_equations():
    X, y = problem("well", seed=9)
    for alpha in (0.0, 1e-3, 10.0):
        ref = np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ y)
        assert_allclose(ridge_fit(X, y, alpha), ref, rtol=1e-10, atol=1e-12)


def test_ridge_fit_ill_conditioned_stays_accurate():
    # nearly collinear, badly scaled columns (as in MTP designs): cond(X) ~ 1e10
    rng = np.random.default_rng(10)
    n, p, alpha = 300, 12, 1e-16
    U = np.linalg.qr(rng.standard_normal((n, p)))[0]
    V = np.linalg.qr(rng.standard_normal((p, p)))[0]
    X = (U * 10.0 ** np.linspace(0, -7, p)) @ V.T * 10.0 ** np.linspace(-2, 2, p)
    assert np.linalg.cond(X) > 1e9
    y = X @ rng.standard_normal(p) + 1e-12 * rng.standard_normal(n)

    def objective(c):
        return np.sum((y - X @ c) ** 2) + alpha * np.sum(c ** 2)

    # reference optimum: LAPACK least squares on the augmented system
    aug = np.vstack([X, np.sqrt(alpha) * np.eye(p)])
    ref = np.linalg.lstsq(aug, np.concatenate([y, np.zeros(p)]), rcond=None)[0]
    ours = ridge_fit(X, y, alpha)
    normal = np.linalg.solve(X.T @ X + alpha * np.eye(p), X.T @ y)
    f_ref = objective(ref)
    assert abs(objective(ours) - f_ref) < 1e-8 * f_ref
    close(ours, ref, 1e-6)
    # the normal equations really lose digits here (the test has teeth)
    assert objective(normal) > (1 + 1e-3) * f_ref
    assert np.max(np.abs(normal - ref)) > 1e-2 * np.max(np.abs(ref))


def test_ridge_fit_rejects_bad_alpha():
    X, y = problem("well")
    with pytest.raises(ValueError, match="alpha"):
        ridge_fit(X, y, -1.0)


def test_ard_equals_sklearn_and_prunes_irrelevant_features():
    rng = np.random.default_rng(11)
    n = 200
    X = rng.standard_normal((n, 6))
    w = np.array([1.5, -2.0, 0.7])
    y = X[:, :3] @ w + 0.02 * rng.standard_normal(n)
    ours = ARDRegression().fit(X, y)
    ref = sklm.ARDRegression(fit_intercept=False).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_
    close(ours.coef_, ref.coef_, 1e-5)
    close(ours.alpha_, ref.alpha_, 1e-5)
    close(ours.sigma_, ref.sigma_, 1e-5)
    close(ours.predict(X, return_std=True)[1], ref.predict(X, return_std=True)[1], 1e-5)
    # pruning: irrelevant columns exactly 0, relevant ones kept and accurate
    assert ours.keep_.tolist() == [True, True, True, False, False, False]
    assert np.all(ours.coef_[3:] == 0.0)
    assert np.all(ours.lambda_[3:] > ours.threshold_lambda)
    assert_allclose(ours.coef_[:3], w, atol=0.01)
    assert ours.sigma_.shape == (3, 3)
    assert ours.sigma_full_.shape == (6, 6)
    assert np.all(ours.sigma_full_[3:] == 0) and np.all(ours.sigma_full_[:, 3:] == 0)
    samples = ours.sample(1000, 0)
    assert np.all(samples[:, 3:] == 0.0) and np.all(samples[:, :3].std(axis=0) > 0)
    # log evidence of the kept features
    Xk = X[:, ours.keep_]
    cov = np.eye(n) / ours.alpha_ + (Xk / ours.lambda_[ours.keep_]) @ Xk.T
    ref_ev = multivariate_normal(mean=np.zeros(n), cov=cov).logpdf(y)
    assert abs(ours.log_evidence_ - ref_ev) < 1e-6 * abs(ref_ev)


def test_ard_more_features_than_rows_matches_sklearn():
    rng = np.random.default_rng(12)
    X = rng.standard_normal((40, 50))
    y = X[:, :4] @ np.array([2.0, -1.0, 0.5, 1.0]) + 0.05 * rng.standard_normal(40)
    ours = ARDRegression().fit(X, y)
    ref = sklm.ARDRegression(fit_intercept=False).fit(X, y)
    # sklearn inverts with Woodbury + pinvh here, so a looser tolerance
    close(ours.coef_, ref.coef_, 1e-5)
    close(ours.alpha_, ref.alpha_, 1e-5)
    assert np.all(ours.keep_[:4])


FITTERS = {
    "ridge_fit": lambda X, y: ridge_fit(X, y, 1.0),
    "BayesianRidge": lambda X, y: BayesianRidge().fit(X, y),
    "ARDRegression": lambda X, y: ARDRegression().fit(X, y),
}


@pytest.mark.parametrize("fit", FITTERS.values(), ids=FITTERS.keys())
def test_bad_input_raises_clear_error(fit):
    X, y = problem("well", n=20, p=3)
    with pytest.raises(ValueError, match=r"different numbers of rows.*20.*19"):
        fit(X, y[:-1])
    Xbad = X.copy()
    Xbad[7, 1] = np.nan
    Xbad[12, 0] = np.inf
    with pytest.raises(ValueError, match=r"X contains a non-finite.*row 7\b"):
        fit(Xbad, y)
    ybad = y.copy()
    ybad[4] = -np.inf
    with pytest.raises(ValueError, match=r"y contains a non-finite.*row 4\b"):
        fit(X, ybad)
    with pytest.raises(ValueError, match="at least one row"):
        fit(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(ValueError, match="2-D"):
        fit(X[:, 0], y)


def test_predict_checks_features_and_fitted():
    X, y = problem("well", n=30, p=4)
    with pytest.raises(ValueError, match="not fitted"):
        BayesianRidge().predict(X)
    m = BayesianRidge().fit(X, y)
    with pytest.raises(ValueError, match="3 features.*fitted with 4"):
        m.predict(X[:, :3])
    with pytest.raises(ValueError, match="X contains a non-finite.*row 2"):
        committee(m, np.where(np.arange(30)[:, None] == 2, np.nan, X), 3, 0)
