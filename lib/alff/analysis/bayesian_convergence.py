"""Convergence of a Bayesian linear model without extra reference data: the
analysis of the dynamic-training paper (Callsen, Lee, Chou 2025, Figs. 2-4
and Table 2).

With A the (3N, P) force rows of a structure, Sigma the posterior covariance
and beta the fitted noise precision (``noise_`` = beta^-1/2):

- eps_B of a structure is sqrt(mean_r (A Sigma A^T)_rr), the RMS of its
  ``forces_std`` (:func:`alff.selection.trajectory.bayesian_error`);
- the expected squared error of a force component on unseen structures is
  beta^-1 + <eps_B^2>, so sqrt(beta^-1 + <eps_B^2>) predicts the test RMSE
  (:func:`error_summary` reports both);
- z_B = (F_model - F_ref) / sqrt(beta^-1 + (A Sigma A^T)_rr) per force
  component: standard normal when the posterior is right; its skewness and
  std say how it is not (:func:`z_scores`).

Every function works on arrays or ASE frames; nothing here reads files.
"""

from __future__ import annotations

import numpy as np

__all__ = ["trailing_stats", "test_predictions", "error_summary", "learning_curve", "curve_sizes",
           "z_scores", "skewness", "subset_of_ratio", "nvt_bayesian_errors"]


def trailing_stats(values, window):
    """Mean and std of the previous ``window`` values (the current excluded).

    Parameters
    ----------
    values : (M,) array
    window : int

    Returns
    -------
    mu, sigma : (M,) arrays
        NaN at index 0 (no previous value).
    """
    v = np.asarray(values, float)
    w = max(int(window), 1)
    c1 = np.concatenate([[0.0], np.cumsum(v)])
    c2 = np.concatenate([[0.0], np.cumsum(v * v)])
    i = np.arange(len(v))
    lo = np.maximum(i - w, 0)
    n = (i - lo).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = (c1[i] - c1[lo]) / n
        var = (c2[i] - c2[lo]) / n - mu * mu
    return mu, np.sqrt(np.maximum(var, 0.0))


def test_predictions(model, frames):
    """The model's force errors, stds and eps_B on labelled frames.

    Parameters
    ----------
    model : fitted model with ``predict(atoms, return_std=True)``
    frames : list of ase.Atoms (M frames of N atoms, reference forces)

    Returns
    -------
    errors, std : (M, 3N) arrays
        F_model - F_ref and the posterior std (no label noise) per component.
    eps_b : (M,) array
    """
    err, std = [], []
    for f in frames:
        p = model.predict(f, properties=("forces",), return_std=True)
        err.append((np.asarray(p["forces"]) - f.get_forces()).ravel())
        std.append(np.asarray(p["forces_std"]).ravel())
    err, std = np.array(err), np.array(std)
    return err, std, np.sqrt(np.mean(std ** 2, axis=1))


def error_summary(model, frames, predictions=None):
    """Test errors against the model's own convergence measures
    (``predictions``: :func:`test_predictions` of the same model and frames,
    when the caller has them).

    Returns
    -------
    dict
        ``rmse``, ``mae`` (eV/A, over every force component), ``noise``
        (beta^-1/2), ``mean_eps_b``, ``rms_eps_b`` and ``predicted_rmse`` =
        sqrt(beta^-1 + <eps_B^2>), ``z_std``, ``z_mean``, ``z_rms`` (1 when
        calibrated; std about the mean alone would hide a bias),
        ``z_skewness``, ``n_frames``.
    """
    err, std, eps = test_predictions(model, frames) if predictions is None else predictions
    noise = float(model.noise_)
    z = z_scores(err, std, noise)
    return {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err))), "noise": noise,
            "mean_eps_b": float(np.mean(eps)), "rms_eps_b": float(np.sqrt(np.mean(eps ** 2))),
            "predicted_rmse": float(np.sqrt(noise ** 2 + np.mean(eps ** 2))), "z_std": float(np.std(z)),
            "z_mean": float(np.mean(z)), "z_rms": float(np.sqrt(np.mean(z * z))),
            "z_skewness": skewness(z), "n_frames": len(frames)}


def curve_sizes(n_total, n_first, points):
    """Training-set sizes of a learning curve: ``n_first`` (the seed), then
    about ``points`` geometrically spaced sizes up to ``n_total``.

    Returns
    -------
    list of int
        Increasing, from ``n_first`` to ``n_total``.
    """
    n_first = max(int(n_first), 1)
    n_total = max(int(n_total), n_first)
    grid = np.geomspace(n_first, n_total, max(int(points), 2))
    return sorted({n_first, n_total, *(int(round(x)) for x in grid)})


def learning_curve(model, train, tests, sizes):
    """Refit on the first n training structures for each n in ``sizes``.

    Parameters
    ----------
    model : unfitted model (``fit``, ``update``, ``predict``, ``noise_``)
        Fitted on ``train[:sizes[0]]``, then updated with the structures up
        to each next size (a Bayesian ridge refit on all rows: the same as
        a fit on ``train[:n]``).
    train : list of ase.Atoms
        In the order they were labelled (seed first).
    tests : list of ase.Atoms
    sizes : increasing list of int

    Returns
    -------
    list of dict
        One per size: ``n_structures`` and :func:`error_summary`'s keys.
    """
    rows, done = [], 0
    for n in sizes:
        n = min(int(n), len(train))
        if n <= done:
            continue
        if done == 0:
            model.fit(train[:n])
        else:
            model.update(train[done:n])
        done = n
        rows.append(dict(n_structures=n, **error_summary(model, tests)))
    return rows


def z_scores(errors, std, noise):
    """z_B per force component: error / sqrt(noise^2 + std^2).

    Parameters
    ----------
    errors, std : arrays of one shape
    noise : float
        beta^-1/2.

    Returns
    -------
    array, flattened
    """
    e, s = np.asarray(errors, float).ravel(), np.asarray(std, float).ravel()
    return e / np.sqrt(float(noise) ** 2 + s * s)


def skewness(x):
    """Sample skewness (Fisher-Pearson, biased: scipy.stats.skew)."""
    from scipy.stats import skew
    return float(skew(np.asarray(x, float).ravel()))


def subset_of_ratio(rows, ratio=2.0):
    """The learning-curve row whose RMSE is nearest ``ratio`` times the
    RMSE of the largest training set.

    Returns
    -------
    row : dict
    achieved : float
        Its RMSE over the full set's.
    """
    full = rows[-1]["rmse"]
    row = min(rows[:-1] or rows, key=lambda r: abs(r["rmse"] / full - ratio))
    return row, float(row["rmse"] / full)


def nvt_bayesian_errors(model, atoms, temperature_K, timestep_fs, friction_per_fs, steps, score_every, seed=0):
    """Langevin NVT driven by the model; eps_B every ``score_every`` steps.

    Parameters
    ----------
    model : fitted model
    atoms : ase.Atoms
        Start (positions and, when set, momenta; otherwise drawn).
    steps, score_every : int

    Returns
    -------
    step : (K,) int array
    eps_b, temperature_K : (K,) arrays

    Raises
    ------
    RuntimeError
        The temperature went above 3x the target (a blown-up trajectory).
    """
    from ..dynamics import Integrator, kinetic_temperature, thermalize
    rng = np.random.default_rng(seed)
    a = atoms.copy()
    masses = a.get_masses()
    p = a.get_momenta() if a.has("momenta") and np.any(a.get_momenta()) else thermalize(masses, temperature_K,
                                                                                         rng)
    integ = Integrator(masses, timestep_fs, friction_per_fs)
    x = a.get_positions()
    forces = model.predict(a, properties=("forces",))["forces"]
    every = max(int(score_every), 1)
    out_step, out_eps, out_t = [], [], []
    for k in range(1, int(steps) + 1):
        scored = k % every == 0

        def evaluate(xn, pn):
            a.set_positions(xn)
            return model.predict(a, properties=("forces",), return_std=scored)

        x, p, res = integ.step(x, p, forces, evaluate, "langevin", temperature_K, rng)
        forces = res["forces"]
        t = kinetic_temperature(p, masses)
        if not np.isfinite(t) or t > 3.0 * temperature_K:
            raise RuntimeError(f"NVT with the model left its range at step {k}: temperature {t:.0f} K against "
                               f"{temperature_K:.0f} K (the expansion is not bounded far from the reference)")
        if scored:
            out_step.append(k)
            out_eps.append(float(np.sqrt(np.mean(np.asarray(res["forces_std"]) ** 2))))
            out_t.append(t)
    return np.array(out_step, int), np.array(out_eps), np.array(out_t)
