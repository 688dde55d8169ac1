"""Automatic relevance determination (ARD): one weight precision per
feature, pruning (scikit-learn's ``ARDRegression(fit_intercept=False)``;
the update equations are in :mod:`.bayesian_fits`)."""

from __future__ import annotations

import numpy as np

from .bayesian_fits import _PosteriorMixin
from .least_squares import _EPS, _check_Xy, _reduce

__all__ = ["ARDRegression"]




class ARDRegression(_PosteriorMixin):
    """Automatic relevance determination: one weight precision per feature.

    Same model, initialisation, update order, pruning and stopping rule as
    ``sklearn.linear_model.ARDRegression(fit_intercept=False)`` (see the
    module docstring), but solved through SVDs (of ``X`` once, then of a
    small augmented matrix per iteration) instead of inverting
    ``diag(lambda) + alpha X^T X``.

    Parameters
    ----------
    max_iter : int
    tol : float
        Stop when the L1 change of ``coef`` between iterations is below tol.
    alpha_1, alpha_2 : float
        Gamma hyperprior (shape, rate) on the noise precision alpha.
    lambda_1, lambda_2 : float
        Gamma hyperprior (shape, rate) on each weight precision.
    threshold_lambda : float
        Features whose precision exceeds this are pruned (coef exactly 0).
    compute_score : bool
        Record ``scores_`` per iteration.

    Attributes
    ----------
    coef_ : ndarray, shape (n_features,)
        Posterior mean; 0 for pruned features.
    alpha_ : float
        NOISE precision.
    lambda_ : ndarray, shape (n_features,)
        WEIGHT precisions (frozen at their last value once pruned).
    keep_ : ndarray of bool, shape (n_features,)
        ``lambda_ < threshold_lambda``: the features kept.
    sigma_ : ndarray, shape (n_kept, n_kept)
        Posterior covariance of the KEPT coefficients only (scikit-learn's
        convention; index with ``keep_``).  ``sigma_full_`` (n_features,
        n_features) has zeros in the pruned rows/columns.
    n_iter_ : int
    log_evidence_ : float
        Log marginal likelihood at the optimum (kept features).
    scores_ : ndarray, shape (n_iter_,)
        Only with ``compute_score``.
    """

    _param_names = ("max_iter", "tol", "alpha_1", "alpha_2", "lambda_1", "lambda_2",
                    "threshold_lambda", "compute_score")

    def __init__(self, max_iter=300, tol=1e-3, alpha_1=1e-6, alpha_2=1e-6, lambda_1=1e-6,
                 lambda_2=1e-6, threshold_lambda=1e4, compute_score=False):
        self.max_iter = max_iter
        self.tol = tol
        self.alpha_1 = alpha_1
        self.alpha_2 = alpha_2
        self.lambda_1 = lambda_1
        self.lambda_2 = lambda_2
        self.threshold_lambda = threshold_lambda
        self.compute_score = compute_score

    def fit(self, X, y):
        """Maximise the evidence over alpha and the per-feature lambdas.

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
        thr = float(self.threshold_lambda)
        s, Vt, Uty, rperp2 = _reduce(X, y)
        B = s[:, None] * Vt          # (k, p): X = U B, |X c - y|^2 = |B c - Uty|^2 + rperp2
        kk = s.size

        def posterior(alpha, lam, keep):
            """sigma (m, m), its factor (m, m), coef_K (m,), log det sigma."""
            m = int(keep.sum())
            A = np.empty((kk + m, m))
            A[:kk] = np.sqrt(alpha) * B[:, keep]
            A[kk:] = np.diag(np.sqrt(lam[keep]))
            Ua, sa, Vta = np.linalg.svd(A, full_matrices=False)
            Lk = Vta.T / sa[None, :]                     # sigma = Lk Lk^T
            coef_k = Lk @ (Ua[:kk].T @ (np.sqrt(alpha) * Uty))
            return Lk @ Lk.T, Lk, coef_k, -2.0 * float(np.sum(np.log(sa)))

        def sse_of(coef):
            return float(np.sum((B @ coef - Uty) ** 2)) + rperp2

        alpha = 1.0 / (float(np.var(y)) + _EPS)
        lam = np.ones(p)
        coef = np.zeros(p)
        keep = np.ones(p, dtype=bool)
        scores = []
        coef_old = None
        for it in range(int(self.max_iter)):
            sigma, _, coef_k, logdet = posterior(alpha, lam, keep)
            coef[keep] = coef_k
            sse = sse_of(coef)
            gamma = 1.0 - lam[keep] * np.diag(sigma)
            lam[keep] = (gamma + 2.0 * l1) / (coef[keep] ** 2 + 2.0 * l2)
            alpha = (n - float(gamma.sum()) + 2.0 * a1) / (sse + 2.0 * a2)
            keep = lam < thr
            coef[~keep] = 0.0
            if self.compute_score:
                sc = float(np.sum(l1 * np.log(lam) - l2 * lam)) + a1 * np.log(alpha) - a2 * alpha
                sc += 0.5 * (logdet + n * np.log(alpha) + float(np.sum(np.log(lam))))
                sc -= 0.5 * (alpha * sse + float(np.sum(lam * coef ** 2)))
                scores.append(sc)
            if it > 0 and np.sum(np.abs(coef_old - coef)) < self.tol:
                break
            coef_old = coef.copy()
            if not keep.any():
                break
        self.n_iter_ = it + 1
        L = np.zeros((p, max(int(keep.sum()), 1)))
        if keep.any():
            sigma, Lk, coef_k, logdet = posterior(alpha, lam, keep)
            coef[keep] = coef_k
            L[keep] = Lk
            sse = sse_of(coef)
            self.log_evidence_ = float(0.5 * (np.sum(np.log(lam[keep])) + n * np.log(alpha)
                                              - alpha * sse - np.sum(lam[keep] * coef[keep] ** 2)
                                              + logdet - n * np.log(2 * np.pi)))
        else:
            sigma = np.zeros((0, 0))
            sse = sse_of(coef)
            self.log_evidence_ = float(0.5 * (n * np.log(alpha) - alpha * sse
                                              - n * np.log(2 * np.pi)))
        self.coef_ = coef
        self.alpha_ = float(alpha)
        self.lambda_ = lam
        self.keep_ = keep
        self.sigma_ = sigma
        self._cov_factor = L
        self.sigma_full_ = L @ L.T
        if self.compute_score:
            self.scores_ = np.array(scores)
        return self
