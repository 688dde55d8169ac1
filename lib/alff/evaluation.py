"""Errors of a model against oracle labels: per-phase force metrics and
uncertainty calibration."""

from __future__ import annotations

import numpy as np

__all__ = ["predict_frames", "force_metrics", "calibration"]


def predict_frames(model, frames):
    """Model forces and force std on labelled frames.

    Parameters
    ----------
    model : Model
        ``forces_std`` of its prediction is the std (NaN when the model
        gives none).
    frames : list of ase.Atoms

    Returns
    -------
    dict of arrays
        ``ref`` and ``pred`` forces (M, 3), ``std`` (M, 3), ``frame`` (M,)
        frame index of every atom, stacked over frames.
    """
    ref, pred, std, fidx = [], [], [], []
    for k, f in enumerate(frames):
        r = model.predict(f, properties=("forces",), return_std=True)
        ref.append(np.asarray(f.get_forces()))
        pred.append(r["forces"])
        std.append(r.get("forces_std", np.full((len(f), 3), np.nan)))
        fidx.append(np.full(len(f), k))
    if not ref:
        z = np.zeros((0, 3))
        return {"ref": z, "pred": z, "std": z, "frame": np.zeros(0, int)}
    return {"ref": np.vstack(ref), "pred": np.vstack(pred), "std": np.vstack(std), "frame": np.concatenate(fidx)}


def force_metrics(ref, pred):
    """Force errors over all components.

    Parameters
    ----------
    ref, pred : (M, 3) arrays

    Returns
    -------
    dict
        ``rmse``, ``mae``, ``max_abs`` (eV/A), ``p95_abs_force`` (95th
        percentile of the reference force magnitudes |F|), ``rmse_over_p95``
        and ``n_atoms``.
    """
    ref, pred = np.asarray(ref, float), np.asarray(pred, float)
    if len(ref) == 0:
        return {"rmse": None, "mae": None, "max_abs": None, "p95_abs_force": None, "rmse_over_p95": None,
                "n_atoms": 0}
    err = pred - ref
    rmse = float(np.sqrt(np.mean(err ** 2)))
    p95 = float(np.percentile(np.linalg.norm(ref, axis=1), 95))
    return {"rmse": rmse, "mae": float(np.mean(np.abs(err))), "max_abs": float(np.abs(err).max()),
            "p95_abs_force": p95, "rmse_over_p95": rmse / p95 if p95 > 0 else None, "n_atoms": int(len(ref))}


def calibration(ref, pred, std, n_bins=10, noise=0.0):
    """Does the predicted std match the actual error?

    Parameters
    ----------
    ref, pred, std : (M, 3) arrays
    n_bins : int
        Quantile bins of the predicted std.
    noise : float
        sigma_n, added in quadrature to the epistemic std for z-scores
        (the labels carry noise the epistemic std does not include).

    Returns
    -------
    dict
        ``bin_std`` and ``bin_rmse`` (n_bins,) - mean epistemic std and RMS
        error per quantile bin of the epistemic std (does the error grow
        with the uncertainty the trigger watches?); ``z`` (3M,) z-scores
        against the total std ``sqrt(std^2 + noise^2)``; ``z_std`` their
        standard deviation (1 for a calibrated model);
        ``frac_within_2sigma``.
    """
    err = (np.asarray(pred) - np.asarray(ref)).ravel()
    e = np.asarray(std, float).ravel()
    s = np.sqrt(e ** 2 + noise ** 2)
    if len(err) == 0:
        return {"bin_std": [], "bin_rmse": [], "z": np.zeros(0), "z_std": None, "frac_within_2sigma": None}
    edges = np.unique(np.quantile(e, np.linspace(0, 1, n_bins + 1)))
    which = np.clip(np.searchsorted(edges, e, side="right") - 1, 0, max(len(edges) - 2, 0))
    bs, br = [], []
    for b in range(max(len(edges) - 1, 1)):
        m = which == b
        if m.any():
            bs.append(float(e[m].mean()))
            br.append(float(np.sqrt(np.mean(err[m] ** 2))))
    z = err / np.where(s > 0, s, np.inf)
    return {"bin_std": bs, "bin_rmse": br, "z": z, "z_std": float(np.std(z)),
            "frac_within_2sigma": float(np.mean(np.abs(z) < 2.0))}
