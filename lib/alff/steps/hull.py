"""The convex-hull experiment (the MLIP paper's section 6 and Fig. 9) as
pipeline steps: the structure pool, the oracle relaxing it, relaxation-driven
learning per MTP level, the final model relaxing it, and the comparison of
formation energies and ground states."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.convex_hull import formation_energies, lower_hull
from ..atomic import atomic_path
from ..enumeration import derivative_structures
from ..jobs import write_json
from ..learning.checkpoint import clear_checkpoints, fingerprint
from ..learning.relaxation import OUT_OF_RANGE, learn_on_pool, relax_pool, relax_with
from ..models import build_model, load_model
from ..oracle import Oracle
from ..selection import build_selector
from ..structure_io import read_frames, write_frames
from .common import oracle_cache

__all__ = ["pool_step", "oracle_relax_step", "learn_step", "final_step", "hull_report_step"]

log = logging.getLogger("alff.hull")


def pool_step(hull, out):
    """The pool of derivative structures (``hull`` section) as extxyz."""
    pool = derivative_structures(hull["species"], hull["lattices"], hull["max_atoms"], hull.get("a"))
    write_frames(out, pool)
    log.info("pool: %d structures (%s up to %d atoms)", len(pool), "/".join(hull["lattices"]), hull["max_atoms"])


def oracle_relax_step(oracle_cfg, hull, pool_path, out):
    """The oracle's own relaxation of every pool structure (positions and
    cell): ``info`` energy_per_atom, relax_status."""
    calc = Oracle.from_config(oracle_cfg).calculator()
    done = []
    for k, a in enumerate(read_frames(pool_path)):
        b, e, status = relax_with(a, calc, hull["relax"]["fmax"], hull["relax"]["max_steps"])
        b.info.update(pool_index=k, energy_per_atom=e, relax_status=status)
        done.append(b)
    write_frames(out, done)
    log.info("oracle relaxed %d structures: %s", len(done), _counts(b.info["relax_status"] for b in done))


def learn_step(hull, level, oracle_cfg, pool_path, cache_dir, out):
    """Relaxation-driven learning at one MTP level; the model, the history
    (CSV) and the training configurations (extxyz). Checkpointed after
    every iteration in ``checkpoint/`` beside the model (a restart goes on
    from there; removed once the outputs are written)."""
    pool = read_frames(pool_path)
    model = build_model(dict(hull["model"], level=int(level), species=list(hull["species"])))
    selector = build_selector(hull["selector"])
    ckpt = Path(out["model"]).parent / "checkpoint"
    key = fingerprint({k: hull[k] for k in ("species", "model", "selector", "max_selected", "relax")}, int(level),
                      oracle_cfg, len(pool))  # max_iterations may be raised before a restart
    res = learn_on_pool(pool, model, selector, oracle_cache(oracle_cfg, cache_dir), hull["max_iterations"],
                        hull["max_selected"], relax=dict(hull["relax"]), label=f"[level {level}] ",
                        checkpoint=ckpt, fingerprint=key)
    res.model.save(out["model"])
    hist = pd.DataFrame(res.history)
    hist["converged"] = res.converged
    with atomic_path(out["history"]) as tmp:
        hist.to_csv(tmp, index=False)
    write_frames(out["training"], res.training)
    clear_checkpoints(ckpt)
    if not res.converged:
        log.warning("[level %s] NOT CONVERGED after %d iterations: some relaxations still go over gamma_select",
                    level, hull["max_iterations"])


def final_step(hull, model_path, pool_path, out):
    """The final model relaxing the whole pool (grade watched)."""
    model = load_model(model_path)
    sel = build_selector(hull["selector"])
    res = relax_pool(read_frames(pool_path), model, sel, **dict(hull["relax"]))
    frames = []
    for k, r in enumerate(res):
        r.atoms.info.update(pool_index=k, energy_per_atom=r.energy_per_atom, relax_status=r.status,
                            max_grade=r.max_grade, reason=r.reason)
        frames.append(r.atoms)
    write_frames(out, frames)
    log.info("final relaxations: %s", _counts(r.status for r in res))


def _counts(values):
    out = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _energy_or_nan(model, atoms):
    """The model's energy per atom, NaN where it cannot evaluate the structure."""
    try:
        return model.predict(atoms, ("energy",))["energy"] / len(atoms)
    except ValueError:  # MTPInputError: atoms closer than r_min
        return np.nan


def _composition(frames, species):
    return np.array([a.get_chemical_symbols().count(species[1]) / len(a) for a in frames])


def _name(a):
    return f"{a.get_chemical_formula()} ({a.info.get('parent', '?')})"


def hull_report_step(hull, pool_path, oracle_path, levels, final_paths, history_paths, training_paths, model_paths,
                     out):
    """metrics.json, table.csv and the figure of the hull experiment.

    Per level: training configurations and oracle calls, the model's energy
    MAE on its training set, formation-energy MAE and RMSE over every pool
    structure both relaxations finished (each relaxed by its own energy,
    so a structure may end in another basin) and the formation-energy MAE
    of the model at the oracle's relaxed structures, the ground states of both hulls
    and whether they agree. A level is ``valid`` only when its learning
    converged and no final relaxation left the model's range (else the
    reason is given).
    """
    from ..plotting import hull_figure
    species = list(hull["species"])
    pool = read_frames(pool_path)
    ref = read_frames(oracle_path)
    x = _composition(pool, species)
    e_ref = np.array([a.info["energy_per_atom"] for a in ref], float)
    ef_ref, _ = formation_energies(x, e_ref)
    gs_ref = lower_hull(x, ef_ref)
    rows, panels = [], {}
    for level, fpath, hpath, tpath, mpath in zip(levels, final_paths, history_paths, training_paths, model_paths):
        fin = read_frames(fpath)
        e = np.array([a.info["energy_per_atom"] for a in fin], float)
        status = [a.info["relax_status"] for a in fin]
        ef, _ = formation_energies(x, e)
        gs = lower_hull(x, ef)
        ok = np.isfinite(ef) & np.isfinite(ef_ref)
        hist = pd.read_csv(hpath)
        model = load_model(mpath)
        train = read_frames(tpath)
        e_fit = [(model.predict(a, ("energy",))["energy"] - a.get_potential_energy()) / len(a) for a in train]
        # the model at the oracle's relaxed structures: an energy error, free of relaxations ending in other basins
        e_at_ref = np.array([_energy_or_nan(model, a) for a in ref])
        ef_at_ref, _ = formation_energies(x, e_at_ref)
        ok_ref = np.isfinite(ef_at_ref) & np.isfinite(ef_ref)
        reasons = []
        if not bool(hist["converged"].iloc[-1]):
            reasons.append(f"learning did not converge in {hull['max_iterations']} iterations")
        n_out = sum(s == OUT_OF_RANGE for s in status)
        if n_out:
            reasons.append(f"{n_out} final relaxations left the model's range")
        same = sorted(gs) == sorted(gs_ref)
        rows.append({
            "level": int(level), "n_train": len(train), "n_oracle_calls": int(hist["n_labelled"].sum()
                                                                          + hist["n_failed"].sum()),
            "iterations": int(hist["iteration"].max()), "converged": bool(hist["converged"].iloc[-1]),
            "train_energy_mae_meV": 1e3 * float(np.mean(np.abs(e_fit))),
            "formation_mae_meV": 1e3 * float(np.mean(np.abs(ef[ok] - ef_ref[ok]))),
            "formation_rmse_meV": 1e3 * float(np.sqrt(np.mean((ef[ok] - ef_ref[ok]) ** 2))),
            "n_compared": int(ok.sum()), "n_out_of_range": int(n_out),
            "formation_mae_at_oracle_structures_meV": 1e3 * float(np.mean(np.abs(ef_at_ref[ok_ref] - ef_ref[ok_ref]))),
            "ground_states_model": "; ".join(_name(pool[i]) for i in gs),
            "ground_states_oracle": "; ".join(_name(pool[i]) for i in gs_ref),
            "same_ground_states": bool(same), "valid": not reasons, "note": "; ".join(reasons)})
        panels[int(level)] = (ef, gs)
    table = pd.DataFrame(rows)
    with atomic_path(out["table"]) as tmp:
        table.to_csv(tmp, index=False)
    write_json(out["metrics"], {"species": species, "n_pool": len(pool), "oracle_ground_states":
                                [_name(pool[i]) for i in gs_ref], "levels": rows,
                                "paper_table3": {"level": [12, 16, 20], "n_train": [226, 442, 920],
                                                 "energy_mae_meV": [2.8, 1.9, 1.3]}})
    hull_figure(x, ef_ref, gs_ref, panels, species, out["figure"])
    for r in rows:
        log.info("level %d: %d configurations, formation MAE %.2f meV/atom, ground states %s%s", r["level"],
                 r["n_train"], r["formation_mae_meV"], "same as the oracle's" if r["same_ground_states"]
                 else "DIFFERENT from the oracle's", "" if r["valid"] else f" (INVALID: {r['note']})")

