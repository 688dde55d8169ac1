"""The elastic-constant experiment (the MLIP paper's example 1: an ensemble
of MTPs, its C11, C12, C44 and E-V curve against the oracle's) as pipeline
steps: a pool of strained and rattled cells, the training set (D-optimality
selection from the pool, optionally starting from the learn pipeline's
training set), one fit and one set of properties per ensemble member (the
same training set, different random initial radial parameters), the
oracle's properties under the same protocol, and the report.

Every calculator goes through one protocol (:func:`crystal_properties`):
the zero-pressure lattice parameter of the conventional cubic cell, the
elastic tensor there (:func:`alff.analysis.elastic.elastic_constants`), and
the E-V curve on a grid common to every calculator (system.a times
``scales``) with a Birch-Murnaghan fit.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from ase.build import bulk
from ase.units import GPa

from ..analysis.elastic import cubic_constants, elastic_constants, energy_volume
from ..atomic import atomic_path
from ..jobs import read_json, write_json
from ..learning.records import training_inputs
from ..learning.relaxation import first_history_row, first_selection
from ..models import build_model
from ..oracle import Oracle, is_ok
from ..selection import build_selector
from ..structure_io import read_frames, write_frames
from .common import oracle_cache

__all__ = ["CONSTANTS", "PAPER", "strained_pool", "learn_on_candidates", "member_config", "equilibrium_lattice",
           "crystal_properties", "ensemble_summary", "pool_step", "training_step", "member_step", "oracle_step",
           "learn_pipeline_calls", "elastic_report_step"]

log = logging.getLogger("alff.elastic")

CONSTANTS = ("C11", "C12", "C44")
#: Novikov et al., Mach. Learn.: Sci. Technol. 2, 025002 (2021), example 1 (Mo): ensemble of 5 MTPs (mean, std)
#: and DFT, GPa
PAPER = {"C11": {"mtp_mean": 466.0, "mtp_std": 22.0, "dft": 472.0},
         "C12": {"mtp_mean": 161.0, "mtp_std": 20.0, "dft": 154.0},
         "C44": {"mtp_mean": 98.0, "mtp_std": 14.0, "dft": 95.0}}
#: per-member quantities averaged over the ensemble
SUMMARIZED = CONSTANTS + ("B", "B_eos", "a0", "V0", "E0")


# ----------------------------------------------------------------- numerics
CUBIC = ("fcc", "bcc", "sc", "diamond")


def cubic_cell(system, a=None):
    """The conventional cubic cell of ``system`` (element, crystal, a)."""
    if system["crystal"] not in CUBIC:
        raise ValueError(f"elastic: system.crystal must be cubic ({', '.join(CUBIC)}), not '{system['crystal']}'")
    if not (a or system.get("a")):
        raise ValueError("elastic: system.a is needed (the pool's and the E-V grid's lattice parameter)")
    return bulk(system["element"], system["crystal"], a=float(a or system["a"]), cubic=True)


def strained_pool(system, size, repeat, volume_strain, shear_strain, rattle, seed=0):
    """Candidate configurations: supercells of the cubic cell under a random
    homogeneous strain (an isotropic part uniform in +-``volume_strain``
    plus a symmetric part with components uniform in +-``shear_strain``)
    with Gaussian displacements of std ``rattle`` (A).

    Returns
    -------
    list of ase.Atoms
        ``info``: pool_index, volume_strain, strain (Voigt, 6 values).
    """
    base = cubic_cell(system).repeat(tuple(int(r) for r in repeat))
    rng = np.random.default_rng([int(seed), 15])
    pool = []
    for k in range(int(size)):
        iso = rng.uniform(-volume_strain, volume_strain)
        d = rng.uniform(-shear_strain, shear_strain, (3, 3))
        eps = iso * np.eye(3) + (d + d.T) / 2
        a = base.copy()
        a.set_cell(base.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
        a.positions += rng.normal(0.0, rattle, a.positions.shape)
        a.info.update(pool_index=k, volume_strain=float(iso), purpose="elastic",
                      strain=" ".join(f"{eps[i, j]:.6f}" for i, j in ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))))
        pool.append(a)
    return pool


def _grade_or_inf(model, atoms):
    try:
        return float(np.max(model.grade(atoms)))
    except ValueError:  # MTPInputError: atoms closer than r_min - labelled (as a relaxation leaving the range)
        return float("inf")


def learn_on_candidates(pool, model, selector, oracle, max_iterations=10, max_selected=50, initial=(),
                        first=None):
    """D-optimality selection from a fixed pool: grade every unlabelled pool
    configuration, label those over gamma_select picked by select-add (at
    most ``max_selected``; ungradable ones first), refit, repeat until no
    configuration is over gamma_select.

    Parameters
    ----------
    pool : list of ase.Atoms
    model : MTPModel
        Unfitted: fitted on ``initial`` (labelled frames, their
        ``arrays['train_mask']`` respected) or, with none, on the pool
        configurations maxvol picks from the basis rows
        (:func:`alff.learning.relaxation.initial_selection`, at most ``first``).
    selector : MaxvolSelector
    oracle : object
        ``label(atoms) -> atoms``; failed labels are counted and left out.

    Returns
    -------
    training : list of ase.Atoms
    history : list of dict
        Per iteration: iteration, n_train, n_candidates, n_selected,
        n_labelled, n_failed, max_grade.
    converged : bool
    n_calls : int
    """
    training, history, labelled, calls = list(initial), [], set(), 0

    def label(indices):
        nonlocal calls
        ok, failed = [], 0
        for k in indices:
            f = pool[k].copy()
            f.info.pop("max_uncertainty", None)
            lab = oracle.label(f)
            calls += 1
            labelled.add(k)
            if is_ok(lab):
                ok.append(lab)
            else:
                failed += 1
                log.warning("oracle failed on pool configuration %d: %s", k, lab.info.get("oracle_reason", ""))
        return ok, failed

    if training:
        training, idx = training_inputs(training)
        model.fit(training, idx)
    else:
        picked = first_selection(pool, model, len(pool) if first is None else first, key="elastic.model.r_min")
        ok, failed = label(picked)
        if not ok:
            raise RuntimeError(f"every label of the first selection failed ({failed} of {len(picked)})")
        training += ok
        model.fit(training)
        history.append(first_history_row(len(training), len(pool), len(picked), len(ok), failed))
        log.info("no training data: %d configurations picked by maxvol from the pool, %d labelled", len(picked),
                 len(ok))
    converged = False
    for it in range(len(history), int(max_iterations) + 1):
        rest = [k for k in range(len(pool)) if k not in labelled]
        grades = {k: _grade_or_inf(model, pool[k]) for k in rest}
        cands = [k for k in rest if grades[k] > selector.gamma_select]
        row = {"iteration": it, "n_train": len(training), "n_candidates": len(cands),
               "max_grade": max(grades.values(), default=float("nan"))}
        if not cands:
            converged = True
            history.append(dict(row, n_selected=0, n_labelled=0, n_failed=0))
            log.info("iteration %d: every pool configuration grades below gamma_select (max %.3g)", it,
                     row["max_grade"])
            break
        forced = [k for k in cands if not np.isfinite(grades[k])][:int(max_selected)]
        graded = [k for k in cands if np.isfinite(grades[k])]
        frames = [pool[k].copy() for k in graded]
        for k, f in zip(graded, frames):
            f.info["max_uncertainty"] = grades[k]
        picked = forced + [graded[j] for j in selector.pick(frames, int(max_selected) - len(forced), model)]
        ok, failed = label(picked)
        history.append(dict(row, n_selected=len(picked), n_labelled=len(ok), n_failed=failed))
        log.info("iteration %d: %d of %d pool configurations over gamma_select, %d selected, %d labelled; max grade "
                 "%.3g", it, len(cands), len(rest), len(picked), len(ok), row["max_grade"])
        if ok:
            training += ok
            model.update(ok)
    return training, history, converged, calls


def member_config(model_cfg, k):
    """The MTP section of ensemble member ``k``: radial_fit.seed = k."""
    cfg = {"kind": "mtp", **model_cfg}
    cfg["radial_fit"] = dict(cfg.get("radial_fit") or {}, seed=int(k))
    return cfg


def _pressure(atoms, calc, relax_fmax):
    a = atoms.copy()
    a.calc = calc
    if relax_fmax is not None and len(a) > 1:
        from ase.optimize import BFGS
        BFGS(a, logfile=None).run(fmax=relax_fmax, steps=200)
    return float(-np.trace(a.get_stress(voigt=False)) / 3 / GPa)


def equilibrium_lattice(atoms, calc, relax_fmax=None, tol_GPa=1e-3, max_iter=40, max_change=0.1):
    """(a0, residual pressure in GPa): the zero-pressure lattice parameter
    of a cubic cell by the secant method on the pressure (uniform scaling;
    atoms relaxed at each cell with ``relax_fmax``). RuntimeError when no
    zero lies within ``max_change`` of the start or after ``max_iter``."""
    a_ref = float(atoms.cell.lengths()[0])

    def p_at(s):
        b = atoms.copy()
        b.set_cell(atoms.cell[:] * s, scale_atoms=True)
        return _pressure(b, calc, relax_fmax)

    s0, s1 = 1.0, 1.002
    p0, p1 = p_at(s0), p_at(s1)
    for _ in range(int(max_iter)):
        if not np.isfinite(p1):
            raise RuntimeError(f"non-finite pressure at a = {a_ref * s1:.4f} A")
        if abs(p1) < tol_GPa:
            return a_ref * s1, p1
        if p1 == p0:
            raise RuntimeError(f"the pressure does not change with the lattice parameter near {a_ref * s1:.4f} A")
        s2 = s1 - p1 * (s1 - s0) / (p1 - p0)
        s2 = float(np.clip(s2, s1 - 0.02, s1 + 0.02))
        if abs(s2 - 1.0) > max_change:
            raise RuntimeError(f"no zero-pressure cell within {100 * max_change:.0f}% of a = {a_ref:.4f} A")
        s0, p0, s1, p1 = s1, p1, s2, p_at(s2)
    raise RuntimeError(f"zero-pressure lattice parameter not converged in {max_iter} steps (P = {p1:.3g} GPa)")


def crystal_properties(calc, system, protocol):
    """C11, C12, C44 (GPa) at the zero-pressure cell, the bulk modulus
    (C11 + 2 C12) / 3, the E-V curve on system.a x ``scales`` and its
    Birch-Murnaghan fit, under one protocol for any calculator.

    ``system``: element, crystal (cubic), a (A); ``protocol``: strain,
    relax_fmax, scales (the ``elastic`` section). Returns a dict: a0, V0
    (A^3/atom), E0 (eV/atom), pressure_GPa (residual at a0), C11, C12,
    C44, asymmetry (largest deviation from cubic symmetry), B, B_eos,
    ev_volumes, ev_energies, valid and reason: a stage that raises or gives
    a non-finite value (or a mechanically unstable crystal) leaves
    ``valid`` False with the reason, never an error.
    """
    out = {"valid": False, "reason": ""}
    stage = "zero-pressure lattice parameter"
    try:
        a0, p = equilibrium_lattice(cubic_cell(system), calc, protocol.get("relax_fmax"))
        cell = cubic_cell(system, a0)
        cell.calc = calc
        out.update(a0=a0, pressure_GPa=p, V0=cell.get_volume() / len(cell),
                   E0=float(cell.get_potential_energy()) / len(cell))
        stage = "E-V curve"
        v, e = energy_volume(cubic_cell(system), calc, np.asarray(protocol["scales"], float))
        out.update(ev_volumes=v.tolist(), ev_energies=e.tolist())
        stage = "elastic constants"
        c11, c12, c44, asym = cubic_constants(elastic_constants(cell, calc, protocol["strain"],
                                                                protocol.get("relax_fmax")))
        out.update(C11=c11, C12=c12, C44=c44, asymmetry=asym, B=(c11 + 2 * c12) / 3)
        stage = "E-V fit"
        from ase.eos import EquationOfState
        out["B_eos"] = float(EquationOfState(v, e, eos="birchmurnaghan").fit()[2] / GPa)
    except Exception as err:  # noqa: BLE001 - any failure of a calculator is this member's invalid row
        out["reason"] = f"{stage}: {type(err).__name__}: {err}"
        return out
    bad = [k for k in ("a0", "E0", "C11", "C12", "C44", "B", "B_eos") if not np.isfinite(out[k])]
    bad += ["E-V curve"] if not np.all(np.isfinite(e)) else []
    if bad:
        out["reason"] = "non-finite " + ", ".join(bad)
    elif not (c11 - c12 > 0 and c44 > 0 and c11 + 2 * c12 > 0):
        out["reason"] = f"mechanically unstable (C11 {c11:.1f}, C12 {c12:.1f}, C44 {c44:.1f} GPa)"
    out["valid"] = not out["reason"]
    return out


def ensemble_summary(members, oracle, tolerance=0.05, sigmas=2.0):
    """Ensemble mean and std (ddof 1) of the valid members, against the
    oracle's values: per constant the relative error |mean - oracle| /
    oracle, whether the oracle lies within ``sigmas`` std and within
    ``tolerance``; ``valid`` (every member and the oracle valid, at least
    two members for a spread) and ``target_met`` with their reasons."""
    ok = [m for m in members if m.get("valid")]
    stats = {}
    for q in SUMMARIZED:
        vals = np.array([m[q] for m in ok], float)
        stats[q] = {"mean": float(vals.mean()) if len(vals) else float("nan"),
                    "std": float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")}
    reasons = [f"member {k}: {m['reason']}" for k, m in enumerate(members) if not m.get("valid")]
    if not oracle.get("valid"):
        reasons.append(f"oracle: {oracle.get('reason')}")
    if len(ok) < 2:
        reasons.append(f"{len(ok)} valid members: no ensemble spread")
    per, missed = {}, []
    for c in CONSTANTS:
        mean, std, ref = stats[c]["mean"], stats[c]["std"], oracle.get(c, float("nan"))
        rel = abs(mean - ref) / abs(ref) if np.isfinite(mean) and np.isfinite(ref) else float("nan")
        within_s = bool(np.isfinite(std) and abs(mean - ref) <= sigmas * std)
        within_t = bool(np.isfinite(rel) and rel <= tolerance)
        per[c] = {"mean": mean, "std": std, "oracle": ref, "relative_error": rel,
                  "z": abs(mean - ref) / std if np.isfinite(std) and std > 0 else float("nan"),
                  "within_sigmas": within_s, "within_tolerance": within_t, "met": within_s and within_t,
                  "paper": PAPER[c]}
        if not within_s:
            missed.append(f"{c}: the oracle's {ref:.1f} GPa is outside mean {mean:.1f} +- {sigmas:g} x {std:.1f}")
        if not within_t:
            missed.append(f"{c}: relative error {100 * rel:.1f}% > {100 * tolerance:g}%")
    valid = not reasons
    return {"n_members": len(members), "n_valid": len(ok), "stats": stats, "constants": per, "valid": valid,
            "reasons": reasons, "target_met": bool(valid and not missed), "target_missed": missed,
            "tolerance": tolerance, "sigmas": sigmas}


# -------------------------------------------------------------------- steps
def pool_step(training, system, seed, out):
    """The candidate pool (``elastic.training.pool``) as extxyz."""
    p = training["pool"]
    pool = strained_pool(system, p["size"], p["repeat"], p["volume_strain"], p["shear_strain"], p["rattle"], seed)
    write_frames(out, pool)
    log.info("pool: %d cells of %d atoms (volume strain +-%g, shear +-%g, rattle %g A)", len(pool), len(pool[0]),
             p["volume_strain"], p["shear_strain"], p["rattle"])


def training_step(elastic, oracle_cfg, cache_dir, pool_path, learned_path, out):
    """The ensemble's training set (training.extxyz) and the pool
    selection's history (history.csv): source learn, pool or both."""
    tr = elastic["training"]
    initial = read_frames(learned_path) if learned_path else []
    n_learned = len(training_inputs(initial)[0])
    if pool_path:
        training, history, converged, calls = learn_on_candidates(
            read_frames(pool_path), build_model(member_config(elastic["model"], 0)), build_selector(tr["selector"]),
            oracle_cache(oracle_cfg, cache_dir), tr["max_iterations"], tr["max_selected"], initial, tr.get("initial"))
    else:
        training, _ = training_inputs(initial)
        history, converged, calls = [], True, 0
    hist = pd.DataFrame(history, columns=["iteration", "n_train", "n_candidates", "n_selected", "n_labelled",
                                          "n_failed", "max_grade"])
    hist["converged"] = converged
    hist["n_from_learn"] = n_learned
    with atomic_path(out["history"]) as tmp:
        hist.to_csv(tmp, index=False)
    write_frames(out["training"], training)
    log.info("training set: %d configurations (%d from the learn pipeline), %d pool oracle calls%s", len(training),
             n_learned, calls, "" if converged else " (pool selection NOT converged)")


def _train_errors(model, frames):
    de, df = [], []
    for f in frames:
        p = model.predict(f, ("energy", "forces"))
        de.append((p["energy"] - f.get_potential_energy()) / len(f))
        df.append(np.ravel(p["forces"] - f.get_forces()))
    return 1e3 * float(np.sqrt(np.mean(np.square(de)))), float(np.sqrt(np.mean(np.square(np.concatenate(df)))))


def member_step(elastic, system, k, training_path, out):
    """Fit ensemble member ``k`` on the training set (radial_fit.seed = k)
    and compute its properties (properties.json)."""
    frames, idx = training_inputs(read_frames(training_path))
    model = build_model(member_config(elastic["model"], k)).fit(frames, idx)
    model.save(out["model"])
    props = crystal_properties(model.calculator(), system, elastic)
    e_rmse, f_rmse = _train_errors(model, frames)
    rf = model.radial_result
    props.update(member=int(k), seed=int(k), n_train=len(frames), train_energy_rmse_meV=e_rmse,
                 train_force_rmse=f_rmse, radial_loss=None if rf is None else float(rf.loss))
    write_json(out["properties"], props)
    log.info("member %d: %s", k, _describe(props))


def _describe(p):
    if not p["valid"]:
        return f"INVALID ({p['reason']})"
    return (f"a0 {p['a0']:.4f} A, C11 {p['C11']:.1f}, C12 {p['C12']:.1f}, C44 {p['C44']:.1f}, B {p['B']:.1f} GPa "
            f"(E-V fit {p['B_eos']:.1f})")


def oracle_step(oracle_cfg, elastic, system, out):
    """The oracle's properties under the members' protocol."""
    props = crystal_properties(Oracle.from_config(oracle_cfg).calculator(), system, elastic)
    write_json(out, props)
    log.info("oracle: %s", _describe(props))


def learn_pipeline_calls(calls_path, seed_cfg):
    """Oracle calls of the learn pipeline: its learning calls (rows of
    learn/calls.csv) and the seed's (MD: steps + 1; rattle: copies)."""
    n = len(pd.read_csv(calls_path))
    seed = {"md": int(seed_cfg.get("steps", 0)) + 1, "rattle": int(seed_cfg.get("copies", 0))}
    return {"learning": n, "seed": seed.get(seed_cfg.get("method"), 0)}


def elastic_report_step(elastic, system, oracle_cfg, member_paths, oracle_path, history_path, training_path,
                        out, learn_calls_path=None, seed_cfg=None):
    """metrics.json, table.csv and figures/elastic of the experiment."""
    from ..plotting import figure_title
    from ..plotting_elastic import elastic_figure, oracle_label
    members = [read_json(p) for p in member_paths]
    oracle = read_json(oracle_path)
    t = elastic["target"]
    summary = ensemble_summary(members, oracle, t["tolerance"], t["sigmas"])
    hist = pd.read_csv(history_path)
    training = read_frames(training_path)
    n_pool_calls = int(hist["n_labelled"].sum() + hist["n_failed"].sum()) if len(hist) else 0
    cols = ["C11", "C12", "C44", "B", "B_eos", "a0", "V0", "E0", "pressure_GPa", "asymmetry"]
    rows = [dict({c: m.get(c) for c in cols}, row=f"member {k}", seed=m.get("seed"), valid=m["valid"],
                 reason=m["reason"], train_energy_rmse_meV=m.get("train_energy_rmse_meV"),
                 train_force_rmse=m.get("train_force_rmse")) for k, m in enumerate(members)]
    for stat in ("mean", "std"):
        rows.append(dict({q: summary["stats"][q][stat] for q in SUMMARIZED}, row=f"ensemble {stat}",
                         valid=summary["valid"], reason="; ".join(summary["reasons"])))
    rows.append(dict({c: oracle.get(c) for c in cols}, row="oracle", valid=oracle["valid"], reason=oracle["reason"]))
    for key, name in (("mtp_mean", "paper MTP mean"), ("mtp_std", "paper MTP std"), ("dft", "paper DFT")):
        rows.append(dict({c: PAPER[c][key] for c in CONSTANTS}, row=name))
    table = pd.DataFrame(rows, columns=["row", "valid", "reason", *cols, "seed", "train_energy_rmse_meV",
                                        "train_force_rmse"])
    table["seed"] = table["seed"].astype("Int64")
    with atomic_path(out["table"]) as tmp:
        table.to_csv(tmp, index=False)
    n_learn = sum(1 for f in training if f.info.get("purpose") in ("seed", "learn"))
    learn_calls = learn_pipeline_calls(learn_calls_path, seed_cfg or {}) if learn_calls_path else None
    metrics = {"element": system["element"], "crystal": system["crystal"], "oracle": oracle_label(oracle_cfg),
               "source": elastic["training"]["source"], "n_train": len(training),
               "n_train_atoms": int(sum(len(f) for f in training)), "n_train_from_learn": n_learn,
               "n_oracle_calls": n_pool_calls + (sum(learn_calls.values()) if learn_calls else 0),
               "n_oracle_calls_pool": n_pool_calls, "n_oracle_calls_learn": learn_calls,
               "pool_selection_converged": bool(hist["converged"].iloc[-1]) if len(hist) else True,
               "model": elastic["model"], "protocol": {k: elastic[k] for k in ("strain", "relax_fmax", "scales")},
               **summary, "members": members, "oracle_properties": oracle,
               "paper": {"reference": "Novikov et al., Mach. Learn.: Sci. Technol. 2, 025002 (2021)", **PAPER}}
    write_json(out["metrics"], metrics)
    title = figure_title(system["element"], system["crystal"], oracle_label(oracle_cfg))
    elastic_figure(members, oracle, summary, out["figure"], title=f"{title} · ensemble of {len(members)} MTPs")
    for c, d in summary["constants"].items():
        log.info("%s: ensemble %.1f +- %.1f GPa, oracle %.1f GPa, error %.1f%%%s", c, d["mean"], d["std"],
                 d["oracle"], 100 * d["relative_error"], "" if d["met"] else " (target missed)")
    log.info("valid: %s%s; target met: %s", summary["valid"],
             "" if summary["valid"] else f" ({'; '.join(summary['reasons'])})", summary["target_met"])
