"""Arrhenius fits: activation energies with uncertainties."""

from __future__ import annotations

import numpy as np
from ase import units

__all__ = ["arrhenius_fit"]


def arrhenius_fit(T, D, D_err=None):
    """Fit ``D = D0 exp(-Ea / (kB T))`` by weighted least squares in ln D.

    Parameters
    ----------
    T : (n,) temperatures (K)
    D : (n,) rates or diffusion coefficients (positive)
    D_err : (n,) standard errors of D, optional (weights ``D / D_err``)

    Returns
    -------
    dict
        ``Ea`` and ``Ea_err`` (eV), ``D0`` and ``lnD0_err``; the
        uncertainties come from the covariance of the fit (scaled by the
        reduced chi^2 when no errors are given).
    """
    T = np.asarray(T, float)
    D = np.asarray(D, float)
    if len(T) < 2 or len(T) != len(D):
        raise ValueError("arrhenius_fit needs at least two (T, D) points of equal length")
    if np.any(D <= 0) or np.any(T <= 0):
        raise ValueError("arrhenius_fit needs positive temperatures and rates")
    x = 1.0 / (units.kB * T)
    y = np.log(D)
    w = np.ones_like(y) if D_err is None else D / np.asarray(D_err, float)
    A = np.stack([np.ones_like(x), -x], axis=1) * w[:, None]
    coef, *_ = np.linalg.lstsq(A, y * w, rcond=None)
    cov = np.linalg.inv(A.T @ A)
    if D_err is None:
        dof = max(len(x) - 2, 1)
        cov *= np.sum((A @ coef - y * w) ** 2) / dof
    return {"Ea": float(coef[1]), "Ea_err": float(np.sqrt(cov[1, 1])), "D0": float(np.exp(coef[0])),
            "lnD0_err": float(np.sqrt(cov[0, 0]))}
