"""Hyperparameters of the Gaussian process: initial values, log marginal
likelihood with its analytic gradient, L-BFGS-B optimisation.

A mixin of :class:`~alff.models.gaussian_process.GaussianProcess`: it works
on the model's training blocks (``_blocks``), labels (``_y``), label kinds
(``_noise_kind``: 0 force, 1 energy, 2 stress) and ``hyps_``.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from scipy.linalg import cho_solve
from scipy.optimize import minimize

from ..kernels.blocks import kernel_matrix, self_kernel_diag
from ..linalg import inverse_from_cholesky, robust_cholesky

__all__ = ["HyperparameterMixin", "HYP_ORDER", "BOUNDS"]

log = logging.getLogger("alff.models.gaussian_process")

HYP_ORDER = ("sigma2", "ls2", "sigma3", "ls3", "sigma_n", "sigma_e", "sigma_s")
BOUNDS = {
    "sigma2": (1e-6, 1e4), "sigma3": (1e-6, 1e4),
    "ls2": (0.05, 20.0), "ls3": (0.05, 20.0),
    "sigma_n": (1e-4, 10.0), "sigma_e": (1e-5, 10.0), "sigma_s": (1e-7, 1.0),
}


class HyperparameterMixin:
    """Likelihood and optimisation of ``(sigma2, ls2, sigma3, ls3, sigma_n[,
    sigma_e][, sigma_s])``."""

    def _active_hyps(self):
        names = ["sigma2", "ls2"] if self.use2 else []
        names += ["sigma3", "ls3"] if self.use3 else []
        names.append("sigma_n")
        if np.any(self._noise_kind == 1):
            names.append("sigma_e")
        if np.any(self._noise_kind == 2):
            names.append("sigma_s")
        return names

    def _initial_hyps(self):
        h = {"sigma2": 1.0, "ls2": 1.0, "sigma3": 1.0, "ls3": 1.0}
        fr = self._y[self._noise_kind == 0]
        fvar = float(np.var(fr)) if len(fr) > 1 else 1.0
        fvar = fvar if fvar > 0 else 1.0
        ls2 = self.hyps.get("ls2", 1.0)
        ls3 = self.hyps.get("ls3", 1.0)
        d2, d3 = self_kernel_diag(self._blocks, ls2, ls3, self.use2, self.use3)
        frows = self._noise_kind == 0
        nb = int(self.use2) + int(self.use3)
        if frows.any():
            if self.use2:
                h["sigma2"] = float(np.sqrt(fvar / nb / max(np.mean(d2[frows]), 1e-300)))
            if self.use3:
                h["sigma3"] = float(np.sqrt(fvar / nb / max(np.mean(d3[frows]), 1e-300)))
        h.update(ls2=ls2, ls3=ls3, sigma_n=0.05 * np.sqrt(fvar), sigma_e=0.01, sigma_s=1e-3)
        for k, v in h.items():
            lo, hi = BOUNDS[k]
            h[k] = float(np.clip(v, lo * 1.01, hi / 1.01))
        h.update(self.hyps)
        return h

    def _noise(self, kind, scale):
        h = self.hyps_
        sig = np.select([kind == 0, kind == 1, kind == 2],
                        [h["sigma_n"], h["sigma_e"] * scale, h["sigma_s"]])
        return sig ** 2

    def _kernels(self, grad):
        h = self.hyps_
        key = (h["ls2"], h["ls3"])
        if not grad and self._K is not None and self._K[:2] == key:
            return self._K[2], self._K[3]
        t0 = time.perf_counter()
        out = kernel_matrix(self._blocks, None, h["ls2"], h["ls3"], self.use2, self.use3, grad=grad)
        self.timings_["kernel_s"] = self.timings_.get("kernel_s", 0.0) + time.perf_counter() - t0
        self._K = key + tuple(out[:2])
        return out

    def _ky(self, K2, K3):
        h = self.hyps_
        return h["sigma2"] ** 2 * K2 + h["sigma3"] ** 2 * K3 + np.diag(self._noise(self._noise_kind, self._noise_scale))

    def _loglik_from_factor(self):
        n = len(self._y)
        return float(-0.5 * self._y @ self.alpha_ - np.log(np.diag(self.L_)).sum()
                     - 0.5 * n * np.log(2 * np.pi))

    def _factorize(self):
        K2, K3 = self._kernels(grad=False)
        self.L_, jitter = robust_cholesky(self._ky(K2, K3))
        if jitter:
            log.warning("covariance needed diagonal jitter %.2e", jitter)
        self.alpha_ = cho_solve((self.L_, True), self._y)
        self.log_likelihood_ = self._loglik_from_factor()

    def neg_log_likelihood(self, theta, names):
        """Negative log marginal likelihood and its gradient.

        Parameters
        ----------
        theta : (p,) array
            Logarithms of the hyperparameters ``names``.
        names : list of str

        Returns
        -------
        value : float
        grad : (p,) array
            Gradient with respect to ``theta``.
        """
        for k, v in zip(names, theta):
            self.hyps_[k] = float(np.exp(v))
        h = self.hyps_
        y, kind = self._y, self._noise_kind
        K2, K3, dK2, dK3 = self._kernels(grad=True)
        noise_diag = self._noise(kind, self._noise_scale)
        try:
            L, _ = robust_cholesky(self._ky(K2, K3))
        except np.linalg.LinAlgError:
            return 1e25, np.zeros(len(theta))
        alpha = cho_solve((L, True), y)
        n = len(y)
        nll = 0.5 * y @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * np.log(2 * np.pi)
        Q = np.outer(alpha, alpha) - inverse_from_cholesky(L)
        grad = []
        for k in names:
            if k == "sigma2":
                g = np.sum(Q * K2) * 2 * h["sigma2"] ** 2
            elif k == "sigma3":
                g = np.sum(Q * K3) * 2 * h["sigma3"] ** 2
            elif k == "ls2":
                g = np.sum(Q * dK2) * h["sigma2"] ** 2 * h["ls2"]
            elif k == "ls3":
                g = np.sum(Q * dK3) * h["sigma3"] ** 2 * h["ls3"]
            else:
                code = {"sigma_n": 0, "sigma_e": 1, "sigma_s": 2}[k]
                g = np.sum(np.diag(Q) * np.where(kind == code, 2 * noise_diag, 0.0))
            grad.append(-0.5 * g)
        return float(nll), np.array(grad)

    def optimize(self, maxiter=None):
        """Maximise the log marginal likelihood over the hyperparameters.

        Returns
        -------
        scipy.optimize.OptimizeResult
        """
        names = self._active_hyps()
        x0 = np.log([self.hyps_[k] for k in names])
        bounds = [tuple(np.log(BOUNDS[k])) for k in names]
        options = {"maxiter": maxiter or self.maxiter, "gtol": self.opt_tol, "ftol": self.opt_rtol}
        t0 = time.perf_counter()
        res = minimize(self.neg_log_likelihood, x0, args=(names,), jac=True, method="L-BFGS-B",
                       bounds=bounds, options=options)
        best = res.x if np.isfinite(res.fun) else x0
        for k, v in zip(names, best):
            self.hyps_[k] = float(np.exp(v))
        self._factorize()
        self.timings_["optimize_s"] = time.perf_counter() - t0
        self.optimize_result_ = res
        log.info("hyperparameters %s, log likelihood %.4f after %d evaluations",
                 {k: round(v, 5) for k, v in self.hyps_.items()}, self.log_likelihood_, res.nfev)
        return res
