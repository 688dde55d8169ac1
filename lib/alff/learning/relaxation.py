"""Relaxation-driven active learning (the MLIP paper's section 6).

Every structure of a pool is relaxed with the current model (positions and
cell, FIRE on ASE's UnitCellFilter: the Frechet filter's matrix logarithm
and exponential took 70 % of a step on these small cells) while the selector watches each
step's extrapolation grade: steps over ``gamma_select`` are candidates, a
step at or over ``gamma_break`` ends that relaxation. Select-add picks what
an iteration labels among all candidates; the model is refitted; the pool is
relaxed again. Learning has converged when every relaxation of the pool
finishes below ``gamma_select``. A relaxation that leaves the model's range
(atoms closer than its r_min, a blown-up cell) is a counted event with its
reason, never a crash.

Training may start from no data, as in the paper: the linear-mode grade rows
[one-hot species, B(i)] do not depend on the coefficients, so the first
iteration picks the D-optimal configurations of the unrelaxed pool by
maxvol (:func:`initial_selection`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from ase.filters import UnitCellFilter
from ase.optimize import FIRE

from ..models.calculator import ModelCalculator
from ..models.linear.maxvol import ActiveSet
from ..selection import CONTINUE, STOP
from .records import unlabelled_copy

__all__ = ["RelaxResult", "relax_watched", "relax_with", "relax_pool", "initial_selection", "first_selection",
           "first_history_row", "learn_on_pool"]

log = logging.getLogger("alff.learning")

#: how a watched relaxation ended
CONVERGED, BREAK, MAX_STEPS, OUT_OF_RANGE = "converged", "break", "max_steps", "out_of_range"


@dataclass
class RelaxResult:
    """One watched relaxation.

    Attributes
    ----------
    status : str
        ``converged`` (max force and stress below ``fmax``), ``break`` (grade
        >= gamma_break), ``max_steps`` or ``out_of_range`` (the model cannot
        evaluate the structure; ``reason`` says why).
    atoms : ase.Atoms
        The last structure (no calculator).
    energy_per_atom : float
        The model's energy of ``atoms`` (NaN when out of range).
    max_grade : float
        The largest grade along the relaxation.
    steps : int
    candidates : list of ase.Atoms
        Steps over gamma_select (``arrays['uncertainty']`` the per-atom
        grade), at most one every ``min_separation`` steps, always the
        step that broke the relaxation, and for ``out_of_range`` the last
        structure the model could evaluate (``info['left_range']``: the
        reason; :func:`learn_on_pool` labels those without select-add).
    reason : str
    """

    status: str
    atoms: object
    energy_per_atom: float
    max_grade: float
    steps: int
    candidates: list = field(default_factory=list)
    reason: str = ""


def relax_watched(atoms, model, selector, fmax=0.01, max_steps=300, min_separation=5, max_cell_factor=1.6):
    """Relax ``atoms`` (positions and cell) with ``model`` while ``selector``
    (kind maxvol) grades every step.

    Parameters
    ----------
    atoms : ase.Atoms
        The start structure (not modified).
    model : MTPModel
    selector : MaxvolSelector
    fmax : float
        Convergence: max force (eV/A) and stress times volume per atom.
    max_steps : int
    min_separation : int
        Optimiser steps between two kept candidates.
    max_cell_factor : float
        A cell whose volume per atom grows or shrinks beyond this factor of
        the start's has left any sensible range: ``out_of_range``.

    Returns
    -------
    RelaxResult
    """
    a = atoms.copy()
    a.calc = ModelCalculator(selector.drive(model))
    v0 = a.get_volume() / len(a)
    opt = FIRE(UnitCellFilter(a), logfile=None)
    cands, best, last_kept, step = [], 0.0, -10 ** 9, 0
    status, reason, previous = MAX_STEPS, "", None
    try:
        for step, converged in enumerate(opt.irun(fmax=fmax, steps=max_steps)):
            grade = np.asarray(a.calc.results["grade"])
            previous = unlabelled_copy(a, grade, relax_step=step, purpose="learn")
            g = float(grade.max())
            best = max(best, g)
            verdict = selector.verdict(step, grade)
            if verdict != CONTINUE and (step - last_kept >= min_separation or verdict == STOP):
                cands.append(unlabelled_copy(a, grade, relax_step=step, purpose="learn"))
                last_kept = step
            if verdict == STOP:
                status = BREAK
                break
            v = a.get_volume() / len(a)
            if not 1.0 / max_cell_factor < v / v0 < max_cell_factor:
                status, reason = OUT_OF_RANGE, f"volume per atom {v:.2f} A^3 left [{v0 / max_cell_factor:.2f}, " \
                                               f"{v0 * max_cell_factor:.2f}]"
                break
            if converged:
                status = CONVERGED
                break
    except ValueError as err:  # MTPInputError: atoms closer than r_min
        status, reason = OUT_OF_RANGE, str(err)
    if status == OUT_OF_RANGE and previous is not None:
        # the last structure the model could evaluate: labelled whatever its grade (a neighbourhood with
        # fewer or weaker neighbours can lie inside the active set's span, so the grade may not see it)
        previous.info.update(left_range=reason)
        if not cands or cands[-1].info["relax_step"] != previous.info["relax_step"]:
            cands.append(previous)
    energy = np.nan
    if status != OUT_OF_RANGE:
        energy = float(a.get_potential_energy()) / len(a)
    out = a.copy()
    out.calc = None
    return RelaxResult(status, out, energy, best, step, cands, reason)


def relax_with(atoms, calc, fmax=0.01, max_steps=300, **_):
    """Relax ``atoms`` (positions and cell, FIRE on ASE's UnitCellFilter,
    as :func:`relax_watched`) with an ASE calculator (the oracle's own relaxation).

    Returns
    -------
    (ase.Atoms, float, str)
        The relaxed structure (no calculator), its energy per atom and
        ``converged`` or ``max_steps``.
    """
    a = atoms.copy()
    a.calc = calc
    converged = FIRE(UnitCellFilter(a), logfile=None).run(fmax=fmax, steps=max_steps)
    e = float(a.get_potential_energy()) / len(a)
    out = a.copy()
    out.calc = None
    return out, e, CONVERGED if converged else MAX_STEPS


def relax_pool(pool, model, selector, **kwargs):
    """:func:`relax_watched` of every structure; the results in pool order."""
    results = []
    for k, atoms in enumerate(pool):
        r = relax_watched(atoms, model, selector, **kwargs)
        for c in r.candidates:
            c.info["pool_index"] = k
        results.append(r)
    return results


def initial_selection(pool, potential, n, tol=1.0 + 1e-9):
    """Configurations to label first, from no training data: maxvol over the
    site rows [one-hot species, B(i)] of every atom of the pool (which do
    not depend on the coefficients), then the structures holding the active
    rows, those with the most rows first, at most ``n``.

    Parameters
    ----------
    pool : list of ase.Atoms
    potential : MomentTensorPotential
        An untrained potential of the model's basis (its coefficients are
        not used).
    n : int

    Returns
    -------
    list of int
        Pool indices.
    """
    from ..models.linear.design import site_rows
    rows, ids = [], []
    for k, atoms in enumerate(pool):
        values, types = potential.site_values(atoms)
        rows.append(site_rows(values, types, len(potential.species)))
        ids += [k] * len(atoms)
    B = np.vstack(rows)
    keep = np.linalg.matrix_rank(B)
    if keep < B.shape[1]:  # dependent columns (rank-deficient bases): maxvol in the row space
        _, _, vt = np.linalg.svd(B, full_matrices=False)
        B = B @ vt[:keep].T
    active = ActiveSet.from_rows(B, tol=tol, ids=ids)
    counts = {}
    for k in active.ids:
        counts[k] = counts.get(k, 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))[:int(n)]


def first_selection(pool, model, n, key="model.r_min"):
    """:func:`initial_selection` for an unfitted ``model`` (MTPModel): its
    basis as an untrained potential of its species (else the pool's, by
    atomic number); ``key`` names the config key of r_min, which learning
    from no data needs (no labelled pairs to take it from)."""
    from ase.data import atomic_numbers
    from ..models.linear.mtp import MomentTensorPotential
    if model.r_min is None:
        raise ValueError(f"{key}: give it for learning from no data (the pool has no labelled pairs)")
    species = model.species or sorted({s for a in pool for s in a.get_chemical_symbols()}, key=atomic_numbers.get)
    pot = MomentTensorPotential.untrained(species, model.level, model.r_min, model.r_max, model.radial_basis_size,
                                          model.n_radial)
    return initial_selection(pool, pot, n)


def first_history_row(n_train, n_pool, n_picked, n_ok, n_failed):
    """The learning history's iteration 0: the first selection from no data."""
    return {"iteration": 0, "n_train": n_train, "n_candidates": n_pool, "n_selected": n_picked, "n_labelled": n_ok,
            "n_failed": n_failed, "max_grade": float("nan")}


@dataclass
class PoolLearning:
    """The outcome of :func:`learn_on_pool`.

    Attributes
    ----------
    model : MTPModel
    training : list of ase.Atoms
        The labelled configurations the model was fitted on.
    history : list of dict
        One row per iteration: iteration, n_train (configurations),
        n_candidates, n_selected, n_labelled, n_failed, max_grade, and the
        count of each relaxation status.
    converged : bool
        The last pool relaxation found no configuration over gamma_select.
    n_oracle_calls : int
    """

    model: object
    training: list
    history: list
    converged: bool
    n_oracle_calls: int


def learn_on_pool(pool, model, selector, oracle, max_iterations=20, max_selected=50, initial=None,
                  relax=None, label="", checkpoint=None, fingerprint=""):
    """Relaxation-driven active learning on a structure pool.

    Parameters
    ----------
    pool : list of ase.Atoms
    model : MTPModel
        Unfitted (training starts from no data: :func:`initial_selection`
        picks the first configurations) or fitted.
    selector : MaxvolSelector
    oracle : object
        ``label(atoms) -> labelled atoms`` (:class:`~alff.oracle.Oracle`,
        or its cache); failed labels are counted and left out.
    max_iterations : int
    max_selected : int
        Configurations labelled per iteration at most (select-add's budget).
    initial : int, optional
        At most this many configurations in the first selection from no
        data (default: every structure holding an active row).
    relax : dict, optional
        Keyword arguments of :func:`relax_watched`.
    label : str
        Prefix of the log lines.
    checkpoint : str or Path, optional
        Directory of a checkpoint after every iteration (model, training
        set, history, oracle calls); a restart with the same
        ``fingerprint`` (of the settings) goes on from the last one and
        ends where an uninterrupted run ends (a kill within an iteration
        repeats its relaxations; its finished labels come from the oracle's
        cache).
    fingerprint : str

    Returns
    -------
    PoolLearning

    Raises
    ------
    RuntimeError
        Every label of the first selection failed (nothing to fit on).
    """
    from ..oracle import is_ok
    from .checkpoint import read_loop_checkpoint, write_loop_checkpoint
    relax = dict(relax or {})
    training, history, calls = [], [], 0
    ck = read_loop_checkpoint(checkpoint, fingerprint) if checkpoint else None
    if ck is not None:
        model, training = ck["model"], ck["frames"]
        history, calls = ck["state"]["history"], int(ck["state"]["calls"])
        log.info("%sresuming from %s: %d iterations, %d configurations, %d oracle calls done", label, ck["path"],
                 len(history), len(training), calls)

    def save():
        if checkpoint:
            write_loop_checkpoint(checkpoint, len(history), model, training,
                                  {"history": history, "calls": calls, "fingerprint": fingerprint})

    def label_all(frames):
        nonlocal calls
        ok, failed = [], 0
        for f in frames:
            lab = oracle.label(f)
            calls += 1
            if is_ok(lab):
                ok.append(lab)
            else:
                failed += 1
                log.warning("%soracle failed on pool structure %s: %s", label, f.info.get("pool_index"),
                            lab.info.get("oracle_reason", ""))
        return ok, failed

    if getattr(model, "coef_", None) is None:
        first = first_selection(pool, model, len(pool) if initial is None else initial)
        picked = []
        for k in first:
            f = pool[k].copy()
            f.info.update(pool_index=k, purpose="learn")
            picked.append(f)
        ok, failed = label_all(picked)
        if not ok:
            raise RuntimeError(f"{label}every label of the first selection failed ({failed} of {len(picked)})")
        training += ok
        model.fit(training)
        history.append(first_history_row(len(training), len(pool), len(picked), len(ok), failed))
        log.info("%sno training data: %d configurations picked by maxvol from the unrelaxed pool, %d labelled",
                 label, len(picked), len(ok))
        save()
    converged = False
    for it in range(len(history), max_iterations + 1):
        results = relax_pool(pool, model, selector, **relax)
        cands = [c for r in results for c in r.candidates]
        status = {}
        for r in results:
            status[r.status] = status.get(r.status, 0) + 1
        row = {"iteration": it, "n_train": len(training), "n_candidates": len(cands),
               "max_grade": float(max(r.max_grade for r in results)), **{f"n_{k}": v for k, v in status.items()}}
        if not cands:  # every relaxation finished below gamma_select (out-of-range ones leave a candidate)
            converged = True
            history.append(dict(row, n_selected=0, n_labelled=0, n_failed=0))
            log.info("%siteration %d: every relaxation of the pool finishes below gamma_select (%s)", label, it,
                     status)
            break
        forced = [k for k, c in enumerate(cands) if "left_range" in c.info][:max_selected]
        graded = [k for k, c in enumerate(cands) if "left_range" not in c.info]
        picked = forced + [graded[k] for k in selector.pick([cands[k] for k in graded],
                                                           max_selected - len(forced), model)]
        ok, failed = label_all([cands[k] for k in picked])
        history.append(dict(row, n_selected=len(picked), n_labelled=len(ok), n_failed=failed))
        log.info("%siteration %d: %d candidates (%s), %d selected, %d labelled; max grade %.3g", label, it,
                 len(cands), status, len(picked), len(ok), row["max_grade"])
        if ok:
            training += ok
            model.update(ok)
        save()
    return PoolLearning(model, training, history, converged, calls)
