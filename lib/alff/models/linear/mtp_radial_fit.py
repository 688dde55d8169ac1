"""The MLIP mode's fit: radial mixing coefficients by nonlinear least squares.

The MTP is linear in its species and moment coefficients theta but not in
its radial mixing coefficients c. The MLIP package minimises the weighted
loss over all parameters jointly by BFGS. Here the linear part is
eliminated exactly (variable projection, Golub & Pereyra 1973): for given
c the best theta is a linear least-squares solution, and the reduced loss

    L(c) = min_theta L(c, theta)

is minimised over c alone by L-BFGS. Its gradient is the partial
gradient dL/dc at theta*(c) (envelope theorem), computed analytically by
:func:`~alff.models.linear.mtp_gradients.mtp_loss_gradient`. The start is
the linear mode (f_mu = the mu-th Chebyshev function), so the fit can only
lower the training loss of the linear mode. Afterwards the radial functions
are frozen and the model is again linear in theta (Bayesian fits,
committees, D-optimality act on theta).
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

import numpy as np
from ase.stress import voigt_6_to_full_3x3_stress

from .design import Design, _labels, frame_weights
from .mtp_gradients import mtp_loss_gradient, pair_tangent
from .mtp_kernels import MTPRadial, mtp_energy_forces

__all__ = ["RadialFitResult", "fit_radial", "fit_radial_starts", "training_loss"]

log = logging.getLogger(__name__)
_NO_SITES = np.zeros((0, 1, 1, 1, 1))


class RadialFitResult(NamedTuple):
    """Outcome of :func:`fit_radial`."""

    radial_coeffs: np.ndarray  # (n_species, n_species, n_radial, size) the optimum
    coef: np.ndarray           # (n_species + S,) linear coefficients at the optimum
    loss_start: float          # weighted training loss of the linear mode
    loss: float                # at the optimum
    n_evaluations: int
    seconds: float
    message: str
    start_losses: tuple = ()   # final loss of every start (fit_radial_starts), the kept one among them
    start: int = 0             # index of the kept start


class _Frame(NamedTuple):
    kernel_args: tuple  # (MTPNeighbors, MTPBasisArrays, MTPRadial) at the start
    energy: float
    forces: np.ndarray  # (N, 3); zero rows where not labelled
    mask: np.ndarray    # (N,) bool force-labelled atoms
    virial: np.ndarray  # (3, 3) or None
    weights: tuple      # (w_E, w_F, w_S)


def _frames(potential, frames, atom_indices, weights, weighting):
    out = []
    for k, atoms in enumerate(frames):
        e, f, s = _labels(atoms)
        if e is None:
            raise ValueError(f"training frame {k} has no energy label")
        n = len(atoms)
        we, wf, ws = frame_weights(n, *weights, weighting=weighting)
        mask = np.zeros(n, bool)
        forces = np.zeros((n, 3))
        if f is not None and wf > 0:
            idx = np.arange(n) if atom_indices is None else np.asarray(atom_indices[k], int)
            mask[idx] = True
            forces[idx] = np.asarray(f, float)[idx]
        else:
            wf = 0.0
        virial = None
        if s is not None and ws > 0 and atoms.pbc.all():
            virial = voigt_6_to_full_3x3_stress(np.asarray(s, float) * atoms.get_volume())
        else:
            ws = 0.0
        out.append(_Frame(potential._kernel_args(atoms, True), float(e), forces, mask, virial, (we, wf, ws)))
    return out


def _loss_gradient(data, radial, rad0, species_coeffs, moment_coeffs):
    """Weighted loss and its gradient with respect to the radial, species
    and moment coefficients."""
    rad = MTPRadial(radial, rad0.r_min, rad0.r_max, rad0.scaling)
    loss = 0.0
    g_rad = np.zeros(radial.shape)
    g_sp = np.zeros(len(species_coeffs))
    g_mom = np.zeros(len(moment_coeffs))
    for fr in data:
        nbr, basis, _ = fr.kernel_args
        we, wf, ws = fr.weights
        e, f, w = mtp_energy_forces(nbr, basis, rad, species_coeffs, moment_coeffs)
        r_e = fr.energy - e.sum()
        r_f = np.where(fr.mask[:, None], fr.forces - f, 0.0)
        r_w = None if fr.virial is None else fr.virial - w
        loss += we * r_e ** 2 + wf * float(np.sum(r_f ** 2)) + (0.0 if r_w is None else ws * float(np.sum(r_w ** 2)))
        t = pair_tangent(nbr.first, nbr.j, nbr.D, r_f if wf > 0 else None, r_w, wf, ws)
        gr, gm = mtp_loss_gradient(nbr, basis, rad, moment_coeffs, t, we * r_e, _NO_SITES)
        g_rad += gr
        g_mom += gm
        g_sp += we * r_e * np.bincount(nbr.types, minlength=len(species_coeffs))
    return loss, -2.0 * g_rad, -2.0 * g_sp, -2.0 * g_mom


def training_loss(potential, frames, weights=(1.0, 0.01, 0.001), weighting="vibrations", atom_indices=None):
    """Weighted training loss of ``potential`` on labelled ``frames`` (the
    quantity the MLIP mode minimises)."""
    data = _frames(potential, frames, atom_indices, weights, weighting)
    return _loss_gradient(data, potential.radial_coeffs, data[0].kernel_args[2], potential.species_coeffs,
                          potential.moment_coeffs)[0]


def _linear_solve(potential, frames, atom_indices, weights, weighting, ridge_alpha):
    """Ridge solution theta* (unit-RMS columns) for the potential's radial
    functions."""
    d = Design(potential, weights, weighting).add(frames, atom_indices)
    X, y = d.X, d.y
    scale = np.sqrt(np.mean(X ** 2, axis=0))
    scale[scale == 0] = 1.0
    p = X.shape[1]
    A = np.vstack([X / scale, np.sqrt(ridge_alpha) * np.eye(p)])
    c = np.linalg.lstsq(A, np.concatenate([y, np.zeros(p)]), rcond=None)[0]
    return c / scale


def fit_radial(potential, frames, atom_indices=None, weights=(1.0, 0.01, 0.001), weighting="vibrations",
               max_iter=100, tol=1e-6, ridge_alpha=1e-8, progress=None):
    """Optimise the radial mixing coefficients of ``potential`` (in place).

    Parameters
    ----------
    potential : MomentTensorPotential
        Its radial coefficients are the start; on return they are the
        optimum and its species and moment coefficients the linear
        solution there.
    frames : list of ase.Atoms
        Labelled training frames.
    atom_indices : list of (n_k,) int arrays, optional
        Force-labelled atoms per frame.
    weights, weighting
        As :class:`~alff.models.linear.design.Design`.
    max_iter : int
        L-BFGS iterations.
    tol : float
        Stop when the reduced loss falls by less than this fraction in an
        iteration (L-BFGS-B's ``ftol``).
    ridge_alpha : float
        Ridge penalty of the inner linear solve (unit-RMS columns).
    progress : callable, optional
        Called with (evaluation, loss) after each evaluation.

    Returns
    -------
    RadialFitResult
    """
    from scipy.optimize import minimize

    frames = list(frames)
    if not frames:
        raise ValueError("MTP radial fit: no training frames")
    t0 = time.perf_counter()
    ns = len(potential.species)
    shape = potential.radial_coeffs.shape
    data = _frames(potential, frames, atom_indices, weights, weighting)
    rad0 = data[0].kernel_args[2]
    cache = {}

    def objective(x):
        radial = x.reshape(shape).copy()
        potential.radial_coeffs = radial
        coef = _linear_solve(potential, frames, atom_indices, weights, weighting, ridge_alpha)
        loss, g_rad, _, _ = _loss_gradient(data, radial, rad0, coef[:ns], coef[ns:])
        cache["n"] = cache.get("n", 0) + 1
        if not np.isfinite(loss):
            loss, g_rad = 1e300, np.zeros(shape)
        if loss < cache.get("best", (np.inf,))[0]:
            cache["best"] = (loss, radial, coef)
        cache.setdefault("start", loss)
        if progress is not None:
            progress(cache["n"], loss)
        log.info("MTP radial fit: evaluation %d, loss %.6g", cache["n"], loss)
        return loss, g_rad.reshape(-1)

    res = minimize(objective, potential.radial_coeffs.reshape(-1).copy(), jac=True, method="L-BFGS-B",
                   options={"maxiter": int(max_iter), "ftol": float(tol), "gtol": 0.0, "maxcor": 20})
    loss, radial, coef = cache["best"]
    potential.radial_coeffs = np.ascontiguousarray(radial)
    potential.species_coeffs = coef[:ns].copy()
    potential.moment_coeffs = coef[ns:].copy()
    return RadialFitResult(potential.radial_coeffs, coef, float(cache["start"]), float(loss), int(cache["n"]),
                           time.perf_counter() - t0, str(res.message))


def fit_radial_starts(potential, frames, atom_indices=None, starts=1, seed=0, spread=0.5, **options):
    """:func:`fit_radial` from ``starts`` initial radial coefficients, the
    lowest final loss kept (the MLIP paper fits several MTPs from random
    initial radial parameters and keeps the best).

    Start k begins from the potential's radial coefficients plus a uniform
    perturbation in [-spread, spread] of every coefficient, drawn from
    ``numpy.random.default_rng([seed, k])``; start 0 of seed 0 is the
    unperturbed potential (the deterministic linear-mode start).

    Parameters
    ----------
    potential : MomentTensorPotential
        Its radial coefficients are the base of every start; on return the
        kept optimum (in place, as :func:`fit_radial`).
    frames, atom_indices
        As :func:`fit_radial`.
    starts : int
        Number of starts (>= 1).
    seed : int
        Seed of the perturbations (different seeds give different models:
        an ensemble).
    spread : float
        Half-width of the uniform perturbation.
    **options
        Passed to :func:`fit_radial` (weights, weighting, max_iter, tol,
        ridge_alpha, progress).

    Returns
    -------
    RadialFitResult
        The kept start's, with ``start_losses`` of all starts and
        ``start`` its index.
    """
    starts = int(starts)
    if starts < 1:
        raise ValueError(f"model.radial_fit.starts must be >= 1, got {starts}")
    base = potential.radial_coeffs.copy()
    results = []
    for k in range(starts):
        rc = base.copy()
        if k > 0 or int(seed) != 0:
            rc += np.random.default_rng([int(seed), k]).uniform(-spread, spread, rc.shape)
        potential.radial_coeffs = rc
        r = fit_radial(potential, frames, atom_indices, **options)
        results.append((r, potential.species_coeffs.copy(), potential.moment_coeffs.copy()))
        log.info("MTP radial fit: start %d of %d (seed %d), loss %.6g -> %.6g", k + 1, starts, int(seed),
                 r.loss_start, r.loss)
    best = min(range(starts), key=lambda k: results[k][0].loss)
    r, sp, mom = results[best]
    potential.radial_coeffs = np.ascontiguousarray(r.radial_coeffs)
    potential.species_coeffs, potential.moment_coeffs = sp, mom
    return r._replace(start_losses=tuple(float(x[0].loss) for x in results), start=int(best),
                      seconds=float(sum(x[0].seconds for x in results)))
