"""Fitting engines of alff's linear models (moment tensor potentials etc.).

The design matrix ``X`` (n_rows, n_features) holds the weighted energy,
force and stress rows of :mod:`.design`; the target ``y`` (n_rows,) the
weighted labels.  There is no intercept: the per-species energies are
columns of ``X``.  Only numpy and scipy are used.

MTP design columns differ by many orders of magnitude (condition numbers of
``X`` of 1e10 and more are normal), so nothing here forms ``X^T X``: every
engine starts from the thin SVD ``X = U diag(s) V^T`` (or the SVD of an
augmented system), which costs O(n_rows n_features^2) once; all later work
is in the n_features-dimensional space.

Contents
--------
- :func:`ridge_fit`: minimise ``|y - X c|^2 + alpha |c|^2``;
- :class:`BayesianRidge`: evidence maximisation with one shared weight
  precision, same updates as ``sklearn.linear_model.BayesianRidge
  (fit_intercept=False)``;
- :class:`ARDRegression`: one weight precision per coefficient with pruning,
  same updates as ``sklearn.linear_model.ARDRegression(fit_intercept=False)``;
- :func:`committee`: predictions of coefficient vectors drawn from the
  posterior (committee energies / forces).

Naming trap (scikit-learn's, kept here on purpose)
--------------------------------------------------
``alpha_`` is the NOISE precision (1 / noise variance of a row of ``y``)
and ``lambda_`` the WEIGHT precision (prior ``c ~ N(0, lambda_^-1 I)``).
In :func:`ridge_fit`, on the other hand, ``alpha`` is the ridge penalty,
which corresponds to ``lambda_ / alpha_`` of the Bayesian models.

Model and update equations
--------------------------
Likelihood ``y | c ~ N(X c, alpha^-1 I)``, prior ``c ~ N(0, diag(lambda)^-1)``,
hyperpriors ``alpha ~ Gamma(alpha_1, alpha_2)``, ``lambda ~ Gamma(lambda_1,
lambda_2)`` (shape, rate).  With ``e_k = s_k^2`` (the eigenvalues of
``X^T X``, padded with zeros to n_features when n_rows < n_features) and
``n = n_rows``, ``p = n_features``:

BayesianRidge (one ``lambda``), each iteration, in this order:

1. posterior mean and squared error at the current (alpha, lambda)::

       coef = V diag(s_k / (e_k + lambda/alpha)) U^T y
       sse  = |y - X coef|^2

2. effective number of parameters (MacKay 1992)::

       gamma = sum_k alpha e_k / (lambda + alpha e_k)

3. fixed-point updates with the Gamma hyperpriors::

       lambda <- (gamma + 2 lambda_1) / (|coef|^2 + 2 lambda_2)
       alpha  <- (n - gamma + 2 alpha_1) / (sse + 2 alpha_2)

4. stop when ``iteration > 0`` and ``sum |coef - coef_previous| < tol``
   (absolute L1 change, scikit-learn's criterion), or after ``max_iter``.

Initial values: ``alpha = 1 / (var(y) + eps)`` and ``lambda = 1`` unless
``alpha_init`` / ``lambda_init`` are given.  After the loop ``coef_`` is
recomputed at the final (alpha, lambda), and the posterior covariance is::

    sigma_ = V_full diag(1 / (alpha e_k + lambda)) V_full^T

ARDRegression (``lambda`` a vector; ``K`` the kept features, ``lambda_j <
threshold_lambda``), each iteration::

    sigma       = (diag(lambda_K) + alpha X_K^T X_K)^-1
    coef_K      = alpha sigma X_K^T y          (coef outside K is 0)
    sse         = |y - X coef|^2
    gamma_j     = 1 - lambda_j sigma_jj        (j in K)
    lambda_j   <- (gamma_j + 2 lambda_1) / (coef_j^2 + 2 lambda_2)   (j in K)
    alpha      <- (n - sum_j gamma_j + 2 alpha_1) / (sse + 2 alpha_2)
    K           = {j : lambda_j < threshold_lambda};  coef outside K = 0
    stop as in BayesianRidge, or when K is empty

starting from ``alpha = 1 / (var(y) + eps)``, ``lambda = 1``, ``coef = 0``;
afterwards sigma and coef_K are recomputed at the final values.  ``sigma``
and ``coef_K`` are obtained from the SVD of the augmented matrix
``[sqrt(alpha) X_K ; diag(sqrt(lambda_K))]`` (whose Gram matrix is
``sigma^-1``), working on the reduced rows ``diag(s) V^T`` of ``X`` so that
an iteration costs O(p^3) independently of n_rows.  A pruned feature's
``lambda_j`` is frozen at its last value.

Log evidence
------------
``log_evidence_`` is the log marginal likelihood ``log p(y | alpha_,
lambda_)`` at the optimum (without the hyperprior terms)::

    0.5 (sum_j log lambda_j + n log alpha - alpha sse - sum_j lambda_j coef_j^2
         + log det sigma - n log(2 pi))

(the sums over all features for BayesianRidge, over the kept ones for ARD).
``scores_`` (when ``compute_score``) are scikit-learn's objective: this plus
``lambda_1 log lambda - lambda_2 lambda + alpha_1 log alpha - alpha_2 alpha``
(summed over the lambdas), evaluated at the start of each iteration and, for
BayesianRidge, once more at the end (there at the final ``coef_``; scikit-learn
evaluates its last score with the last loop iterate instead, so only that
final entry differs slightly).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .least_squares import _EPS, _check_X, _check_Xy, ridge_fit  # noqa: F401 (ridge_fit re-exported)

__all__ = ["ridge_fit", "BayesianRidge", "committee", "Committee"]




# ----------------------------------------------------------------------------
# Bayesian models
# ----------------------------------------------------------------------------

class _PosteriorMixin:
    """Prediction and sampling shared by the Bayesian models.

    Needs ``coef_`` (p,), ``alpha_`` and ``_cov_factor`` L (p, m) with
    ``L L^T`` the posterior covariance over all p features.
    """

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise ValueError(f"this {type(self).__name__} is not fitted yet: call fit(X, y) first")

    def predict(self, X, return_std=False):
        """Posterior predictive mean (and standard deviation).

        Parameters
        ----------
        X : array_like, shape (n_rows, n_features)
        return_std : bool
            Also return ``sqrt(1/alpha_ + diag(X sigma X^T))`` (as scikit-learn).

        Returns
        -------
        mean : ndarray, shape (n_rows,)
        std : ndarray, shape (n_rows,)
            Only with ``return_std``.
        """
        self._check_fitted()
        X = _check_X(X, n_features=self.coef_.shape[0])
        mean = X @ self.coef_
        if not return_std:
            return mean
        return mean, self.predict_std(X, include_noise=True)

    def predict_std(self, X, include_noise=True):
        """Predictive standard deviation of each row.

        ``diag(X sigma X^T)`` is computed row by row as ``|X L|^2`` with the
        covariance factor ``sigma = L L^T``: never an (n_rows, n_rows) matrix,
        never negative.

        Parameters
        ----------
        X : array_like, shape (n_rows, n_features)
        include_noise : bool
            Add the noise variance ``1/alpha_`` (the predictive std of a new
            observation, scikit-learn's); False gives the model (parameter)
            uncertainty alone.

        Returns
        -------
        std : ndarray, shape (n_rows,)
        """
        self._check_fitted()
        X = _check_X(X, n_features=self.coef_.shape[0])
        var = np.sum((X @ self._cov_factor) ** 2, axis=1)
        if include_noise:
            var = var + 1.0 / self.alpha_
        return np.sqrt(var)

    def sample(self, n, rng=None):
        """Coefficient vectors drawn from the posterior ``N(coef_, sigma)``.

        Uses the covariance factor from the SVD, ``sigma = L L^T`` with L
        built from singular vectors and the exactly positive eigenvalues
        ``1 / (alpha e_k + lambda)`` (no Cholesky, nothing to clip), so a
        near-singular ``sigma`` is fine.

        Parameters
        ----------
        n : int
            Number of samples, ``>= 1``.
        rng : numpy.random.Generator, int or None
            Random generator or seed.

        Returns
        -------
        samples : ndarray, shape (n, n_features)
            For ARD, pruned features are exactly 0 in every sample.
        """
        self._check_fitted()
        n = int(n)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        rng = np.random.default_rng(rng)
        L = self._cov_factor
        z = rng.standard_normal((n, L.shape[1]))
        return self.coef_[None, :] + z @ L.T

    def get_params(self, deep=True):
        """Constructor parameters (scikit-learn estimator convention)."""
        return {k: getattr(self, k) for k in self._param_names}

    def set_params(self, **params):
        """Set constructor parameters; returns self."""
        for k, v in params.items():
            if k not in self._param_names:
                raise ValueError(f"invalid parameter {k!r} for {type(self).__name__}")
            setattr(self, k, v)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._param_names)
        return f"{type(self).__name__}({args})"


class BayesianRidge(_PosteriorMixin):
    """Bayesian ridge regression by evidence maximisation (MacKay updates).

    Same model, initialisation, update order and stopping rule as
    ``sklearn.linear_model.BayesianRidge(fit_intercept=False)`` (see the
    module docstring for the equations), computed from one SVD of ``X``: an
    iteration costs O(min(n_rows, n_features)).

    Parameters
    ----------
    max_iter : int
        Maximum number of fixed-point iterations.
    tol : float
        Stop when the L1 change of ``coef`` between iterations is below tol.
    alpha_1, alpha_2 : float
        Shape and rate of the Gamma hyperprior on the noise precision alpha.
    lambda_1, lambda_2 : float
        Shape and rate of the Gamma hyperprior on the weight precision lambda.
    alpha_init : float or None
        Initial noise precision; default ``1 / (var(y) + eps)``.
    lambda_init : float or None
        Initial weight precision; default 1.
    compute_score : bool
        Record ``scores_`` (log evidence plus hyperprior terms) per iteration.

    Attributes
    ----------
    coef_ : ndarray, shape (n_features,)
        Posterior mean.
    alpha_ : float
        NOISE precision (scikit-learn's naming).
    lambda_ : float
        WEIGHT precision.
    sigma_ : ndarray, shape (n_features, n_features)
        Posterior covariance of the coefficients.
    n_iter_ : int
        Iterations run.
    log_evidence_ : float
        Log marginal likelihood ``log p(y | alpha_, lambda_)`` at the optimum.
    scores_ : ndarray, shape (n_iter_ + 1,)
        Only with ``compute_score``.
    """

    _param_names = ("max_iter", "tol", "alpha_1", "alpha_2", "lambda_1", "lambda_2",
                    "alpha_init", "lambda_init", "compute_score")

    def __init__(self, max_iter=300, tol=1e-3, alpha_1=1e-6, alpha_2=1e-6, lambda_1=1e-6,
                 lambda_2=1e-6, alpha_init=None, lambda_init=None, compute_score=False):
        self.max_iter = max_iter
        self.tol = tol
        self.alpha_1 = alpha_1
        self.alpha_2 = alpha_2
        self.lambda_1 = lambda_1
        self.lambda_2 = lambda_2
        self.alpha_init = alpha_init
        self.lambda_init = lambda_init
        self.compute_score = compute_score

    def fit(self, X, y):
        """Maximise the evidence over (alpha, lambda) and set the posterior.

        Parameters
        ----------
        X : array_like, shape (n_rows, n_features)
        y : array_like, shape (n_rows,)

        Returns
        -------
        self
        """
        X, y = _check_Xy(X, y)
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        n, p = X.shape
        a1, a2, l1, l2 = (float(v) for v in (self.alpha_1, self.alpha_2,
                                              self.lambda_1, self.lambda_2))
        # full V only matters for the covariance when n < p
        U, s, Vt_full = np.linalg.svd(X, full_matrices=n < p)
        k = s.size
        U = U[:, :k]
        Vt = Vt_full[:k]
        Uty = U.T @ y
        rperp2 = float(np.sum((y - U @ Uty) ** 2)) if n > k else 0.0
        e = s * s
        e_full = np.zeros(p)
        e_full[:k] = e

        def posterior_mean(alpha, lam):
            r = lam / alpha
            coef = Vt.T @ (s * Uty / (e + r))
            sse = float(np.sum((Uty * (r / (e + r))) ** 2)) + rperp2
            return coef, sse

        def evidence(alpha, lam, coef, sse):
            logdet_sigma = -np.sum(np.log(lam + alpha * e_full))
            return 0.5 * (p * np.log(lam) + n * np.log(alpha) - alpha * sse
                          - lam * float(coef @ coef) + logdet_sigma - n * np.log(2 * np.pi))

        def score(alpha, lam, coef, sse):
            return (l1 * np.log(lam) - l2 * lam + a1 * np.log(alpha) - a2 * alpha
                    + evidence(alpha, lam, coef, sse))

        alpha = 1.0 / (float(np.var(y)) + _EPS) if self.alpha_init is None else float(self.alpha_init)
        lam = 1.0 if self.lambda_init is None else float(self.lambda_init)
        if not (alpha > 0 and lam > 0):
            raise ValueError(f"initial precisions must be > 0, got alpha={alpha}, lambda={lam}")
        scores = []
        coef_old = None
        for it in range(int(self.max_iter)):
            coef, sse = posterior_mean(alpha, lam)
            if self.compute_score:
                scores.append(score(alpha, lam, coef, sse))
            gamma = float(np.sum(alpha * e / (lam + alpha * e)))
            lam = (gamma + 2.0 * l1) / (float(coef @ coef) + 2.0 * l2)
            alpha = (n - gamma + 2.0 * a1) / (sse + 2.0 * a2)
            if it != 0 and np.sum(np.abs(coef_old - coef)) < self.tol:
                break
            coef_old = coef
        self.n_iter_ = it + 1
        self.alpha_ = float(alpha)
        self.lambda_ = float(lam)
        coef, sse = posterior_mean(alpha, lam)
        self.coef_ = coef
        self.log_evidence_ = float(evidence(alpha, lam, coef, sse))
        if self.compute_score:
            scores.append(score(alpha, lam, coef, sse))
            self.scores_ = np.array(scores)
        # sigma = L L^T with L = V_full diag(1/sqrt(alpha e + lambda))
        self._cov_factor = Vt_full.T / np.sqrt(alpha * e_full + lam)[None, :]
        self.sigma_ = self._cov_factor @ self._cov_factor.T
        return self


# ----------------------------------------------------------------------------
# committee
# ----------------------------------------------------------------------------

class Committee(NamedTuple):
    """Committee predictions.

    Attributes
    ----------
    predictions : ndarray, shape (n, n_rows)
        ``X @ samples.T`` transposed: one row per committee member.
    mean : ndarray, shape (n_rows,)
        Mean over the members.
    std : ndarray, shape (n_rows,)
        Standard deviation over the members (ddof=1; 0 when n = 1).
    """

    predictions: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def committee(model, X, n, rng=None):
    """Predictions of ``n`` coefficient vectors drawn from a model's posterior.

    Parameters
    ----------
    model : BayesianRidge or ARDRegression
        A fitted model (anything with ``sample(n, rng)`` and ``coef_``).
    X : array_like, shape (n_rows, n_features)
        Design rows (energies, forces, stresses) to predict.
    n : int
        Committee size.
    rng : numpy.random.Generator, int or None

    Returns
    -------
    Committee
        ``(predictions (n, n_rows), mean (n_rows,), std (n_rows,))``.
    """
    X = _check_X(X, n_features=np.asarray(model.coef_).shape[0])
    samples = model.sample(n, rng)
    pred = samples @ X.T
    mean = pred.mean(axis=0)
    std = pred.std(axis=0, ddof=1) if pred.shape[0] > 1 else np.zeros(pred.shape[1])
    return Committee(pred, mean, std)
