"""One entry point for the linear fits of a model linear in its parameters:
ridge, Bayesian ridge or ARD on unit-RMS columns, with the posterior."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["REGRESSIONS", "LinearFit", "fit_linear", "posterior_samples"]

REGRESSIONS = ("ridge", "bayesian_ridge", "ard")


class LinearFit(NamedTuple):
    """Coefficients and posterior of a linear fit (scikit-learn's names)."""

    coef_: np.ndarray   # (P,)
    sigma_: np.ndarray  # (P, P) posterior covariance (zero rows/columns for features ARD pruned)
    alpha_: float       # noise precision
    lambda_: object     # weight precision (float; (P,) for ARD)


def fit_linear(X, y, regression="ridge", ridge_alpha=1e-8, ard_threshold=1e4):
    """Fit ``y ~ X c`` on columns scaled to unit RMS, results in the original units.

    Parameters
    ----------
    X : (n, P) float array
        Weighted design rows.
    y : (n,) float array
        Weighted labels.
    regression : {'ridge', 'bayesian_ridge', 'ard'}
        ``ridge``: the augmented least-squares system (never X^T X;
        condition numbers of 1e10 are normal for many-body bases) with
        penalty ``ridge_alpha``; its noise precision from the residual and
        the posterior (alpha (X^T X + ridge_alpha I))^-1. ``bayesian_ridge``
        and ``ard``: :class:`~.bayesian_fits.BayesianRidge`,
        :class:`~.ard.ARDRegression` (``threshold_lambda=ard_threshold``).

    Returns
    -------
    LinearFit
    """
    if regression not in REGRESSIONS:
        raise ValueError(f"regression must be one of {REGRESSIONS}, got {regression!r}")
    X, y = np.asarray(X, float), np.asarray(y, float)
    scale = np.sqrt(np.mean(X ** 2, axis=0))
    scale[scale == 0] = 1.0
    Xs = X / scale
    if regression == "ridge":
        p = Xs.shape[1]
        A = np.vstack([Xs, np.sqrt(ridge_alpha) * np.eye(p)])
        c = np.linalg.lstsq(A, np.concatenate([y, np.zeros(p)]), rcond=None)[0]
        resid = y - Xs @ c
        alpha = max(len(y) - p, 1) / max(float(resid @ resid), 1e-300)
        lam = ridge_alpha * alpha
        _, sv, vt = np.linalg.svd(A, full_matrices=False)
        sigma = (vt.T / (alpha * sv ** 2)) @ vt
    else:
        from .ard import ARDRegression
        from .bayesian_fits import BayesianRidge
        est = BayesianRidge() if regression == "bayesian_ridge" else ARDRegression(threshold_lambda=ard_threshold)
        est.fit(Xs, y)
        c = np.asarray(est.coef_, float)
        alpha, lam = float(est.alpha_), est.lambda_
        sigma = np.asarray(est.sigma_, float)
        if sigma.shape != (len(c), len(c)):  # ARD's covariance of the kept features
            full = np.zeros((len(c), len(c)))
            keep = np.asarray(est.keep_, bool)
            full[np.ix_(keep, keep)] = sigma
            sigma = full
    return LinearFit(c / scale, sigma / np.outer(scale, scale), alpha, lam)


def posterior_samples(coef, sigma, n, rng):
    """(n, P) coefficient vectors drawn from the Gaussian posterior
    N(coef (P,), sigma (P, P)) by eigendecomposition (round-off negative
    eigenvalues clipped to 0, so ARD's pruned directions stay fixed)."""
    w, v = np.linalg.eigh(0.5 * (sigma + sigma.T))
    root = v * np.sqrt(np.clip(w, 0.0, None))
    return coef + rng.standard_normal((int(n), len(coef))) @ root.T
