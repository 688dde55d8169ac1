"""The dynamic-training report (rules/dynamic.smk): per force-constant scheme
the learning curve, z_B and a model-driven NVT (:func:`scheme_analysis`),
then the comparison of the criteria (:func:`dynamic_report`): the paper's
Figs. 2-4 and Table 2 (Callsen, Lee, Chou 2025)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..analysis.bayesian_convergence import (curve_sizes, error_summary, learning_curve, nvt_bayesian_errors,
                                             subset_of_ratio, test_predictions, z_scores)
from ..atomic import atomic_path
from ..jobs import read_json, write_json
from ..models import build_model, load_model
from ..structure_io import read_frames

__all__ = ["scheme_analysis", "dynamic_report", "phonon_step", "structures_to_reach", "TABLE_COLUMNS", "DYN_FIGURES"]

#: the figures of the comparison (results/<run>/dynamic/figures/)
DYN_FIGURES = ["bayesian_error", "convergence", "z_distribution"]

log = logging.getLogger("alff.dynamic")

TABLE_COLUMNS = ["scheme", "selector", "structures", "oracle_calls", "mae_meV_A", "rmse_meV_A", "noise_meV_A",
                 "predicted_rmse_meV_A", "mean_eps_b_nvt_meV_A", "z_std", "z_skewness", "structures_to_common_eps_b",
                 "valid", "reason"]


def _frames(paths):
    out = []
    for p in paths:
        out += read_frames(str(p))
    return out


def scheme_analysis(model_path, model_section, train_path, test_paths, calls_path, section, explore, out, seed=0):
    """Learning curve, z_B and NVT eps_B of one scheme.

    Parameters
    ----------
    model_path : str
        The scheme's final model.
    model_section : dict
        Its ``model`` config section (a fresh model is refitted on the
        first n training structures).
    train_path, test_paths : str, list of str
        Training set in labelling order (seed first) and test sets.
    calls_path : str
        The scheme's table of learning oracle calls.
    section : dict
        The ``dynamic`` config section.
    explore : dict
        The scheme's ``explore`` section (temperature, time step, friction).
    out : dict
        Paths ``curve`` (csv), ``z`` (npz), ``nvt`` (csv), ``summary`` (json).
    """
    final = load_model(model_path)
    train, tests = read_frames(str(train_path)), _frames(test_paths)
    if not tests:
        raise ValueError(f"dynamic report: no test structures in {list(test_paths)}")
    n_seed = sum(1 for f in train if f.info.get("purpose") == "seed") or 1
    sizes = curve_sizes(len(train), n_seed, section["curve_points"])
    log.info("learning curve: %d training structures (%d seed), sizes %s, %d test structures", len(train), n_seed,
             sizes, len(tests))
    rows = learning_curve(build_model(model_section), train, tests, sizes)
    with atomic_path(out["curve"]) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    final_pred = test_predictions(final, tests)  # the rows of every test structure: once, for both uses
    test = error_summary(final, tests, final_pred)
    if not np.isclose(test["noise"], rows[-1]["noise"], rtol=1e-6):
        raise RuntimeError(f"dynamic report: the refit on all {len(train)} training structures gives "
                           f"beta^-1/2 {rows[-1]['noise']:.6g}, the final model {test['noise']:.6g}: {train_path} "
                           f"is not the final model's training set")
    sub_row, ratio = subset_of_ratio(rows, section["subset_ratio"])
    sub = build_model(model_section).fit(train[:sub_row["n_structures"]])
    z = {"full": z_scores(final_pred[0], final_pred[1], final.noise_)}
    err, std, _ = test_predictions(sub, tests)
    z["subset"] = z_scores(err, std, sub.noise_)
    with atomic_path(out["z"]) as tmp:
        np.savez(tmp, full=z["full"], subset=z["subset"])
    nvt = _nvt(final, tests[0], section["nvt"], explore, seed)
    with atomic_path(out["nvt"]) as tmp:
        pd.DataFrame({k: nvt.pop(k) for k in ("step", "eps_b", "temperature_K")}).to_csv(tmp, index=False)
    calls = pd.read_csv(calls_path)
    summary = {"n_structures": len(train), "n_seed": n_seed, "n_oracle_calls": int(len(calls)),
               "n_ok_calls": int((calls["status"] == "ok").sum()) if len(calls) else 0, "test": test,
               "subset": {"n_structures": int(sub_row["n_structures"]), "rmse_ratio": ratio,
                          "target_ratio": float(section["subset_ratio"]), "z_std": float(np.std(z["subset"])),
                          "z_skewness": float(sub_row["z_skewness"])},
               "nvt": nvt}
    write_json(out["summary"], summary)
    log.info("test RMSE %.2f meV/A, beta^-1/2 %.2f, predicted %.2f; NVT mean eps_B %s", 1e3 * test["rmse"],
             1e3 * test["noise"], 1e3 * test["predicted_rmse"], nvt["mean_eps_b"])
    return summary


def _nvt(model, start, nvt, explore, seed):
    seg = explore["schedule"][0]
    T = float(nvt["temperature_K"] if nvt["temperature_K"] is not None else seg["temperature_K"])
    dt = float(explore["timestep_fs"])
    res = {"temperature_K_target": T, "steps": int(nvt["steps"]), "time_ps": nvt["steps"] * dt / 1000.0,
           "score_every": int(nvt["score_every"]), "valid": True, "reason": ""}
    try:
        step, eps, temp = nvt_bayesian_errors(model, start, T, dt, float(explore["friction_per_fs"]), nvt["steps"],
                                              nvt["score_every"], seed)
    except RuntimeError as err:
        log.error("NVT with the model: %s", err)
        step, eps, temp = np.zeros(0, int), np.zeros(0), np.zeros(0)
        res.update(valid=False, reason=str(err))
    res.update(step=step, eps_b=eps, temperature_K=temp,
               mean_eps_b=float(np.mean(eps)) if res["valid"] and len(eps) else None,
               mean_temperature_K=float(np.mean(temp)) if len(temp) else None)
    return res


def structures_to_reach(curve, eps_b):
    """Training structures a learning curve needs for its mean test eps_B to
    fall to ``eps_b`` (log-log interpolation between its points; None when
    it never does).

    Parameters
    ----------
    curve : DataFrame with n_structures, mean_eps_b
    eps_b : float
    """
    n, e = curve["n_structures"].to_numpy(float), curve["mean_eps_b"].to_numpy(float)
    below = np.nonzero(e <= eps_b * (1 + 1e-12))[0]
    if not len(below):
        return None
    k = int(below[0])
    if k == 0:
        return float(n[0])
    t = (np.log(e[k - 1]) - np.log(eps_b)) / (np.log(e[k - 1]) - np.log(e[k]))
    return float(np.exp(np.log(n[k - 1]) + t * (np.log(n[k]) - np.log(n[k - 1]))))


def dynamic_report(schemes, inputs, section, out, title=None):
    """The criteria side by side: table (csv, md), metrics and figures.

    Parameters
    ----------
    schemes : dict
        Scheme name -> its selector section.
    inputs : dict
        Scheme name -> paths ``summary``, ``curve``, ``z``, ``nvt``, ``log``,
        ``calls``.
    section : dict
        The ``dynamic`` config section (``paper``: the paper's row).
    out : dict
        ``table``, ``markdown``, ``metrics`` and figure stems ``bayesian_error``,
        ``convergence``, ``z_distribution``.
    """
    from ..plotting_dynamic import bayesian_error_figure, convergence_figure, z_figure
    data = {s: {"summary": read_json(p["summary"]), "curve": pd.read_csv(p["curve"]), "z": dict(np.load(p["z"])),
                "nvt": pd.read_csv(p["nvt"]), "log": pd.read_csv(p["log"]), "calls": pd.read_csv(p["calls"])}
            for s, p in inputs.items()}
    common = _common_eps_b(data)
    rows = [_row(s, schemes[s], d, common) for s, d in data.items()]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    with atomic_path(out["table"]) as tmp:
        table.to_csv(tmp, index=False)
    paper = section.get("paper")
    with atomic_path(out["markdown"]) as tmp:
        tmp.write_text(_markdown(table, paper, common))
    write_json(out["metrics"], {"common_eps_b_meV_A": 1e3 * common if np.isfinite(common) else None,
                                "schemes": rows, "paper": paper})
    k = int(section["k"])
    bayesian_error_figure(data, schemes, k, out["bayesian_error"], title)
    convergence_figure(data, out["convergence"], title)
    z_figure(data, out["z_distribution"], title)
    return table


def _valid(d):
    return d["summary"]["n_ok_calls"] > 0 and d["summary"]["nvt"]["valid"]


def _common_eps_b(data):
    """The Bayesian error every valid scheme's curve reaches: the largest
    final mean test eps_B among them (NaN with fewer than two valid)."""
    finals = [float(d["curve"]["mean_eps_b"].iloc[-1]) for d in data.values() if _valid(d)]
    return max(finals) if len(finals) >= 2 else float("nan")


def _row(name, selector, d, common):
    s, t = d["summary"], d["summary"]["test"]
    reasons = []
    if s["n_ok_calls"] == 0:
        reasons.append("the criterion never fired: the model is the seed's fit")
    if not s["nvt"]["valid"]:
        reasons.append(f"NVT: {s['nvt']['reason']}")
    need = structures_to_reach(d["curve"], common) if np.isfinite(common) and not reasons else None
    mean_nvt = s["nvt"]["mean_eps_b"]
    return {"scheme": name, "selector": selector.get("kind", ""), "structures": s["n_structures"],
            "oracle_calls": s["n_oracle_calls"], "mae_meV_A": 1e3 * t["mae"], "rmse_meV_A": 1e3 * t["rmse"],
            "noise_meV_A": 1e3 * t["noise"], "predicted_rmse_meV_A": 1e3 * t["predicted_rmse"],
            "mean_eps_b_nvt_meV_A": None if mean_nvt is None else 1e3 * mean_nvt, "z_std": t["z_std"],
            "z_skewness": t["z_skewness"], "structures_to_common_eps_b": need, "valid": not reasons,
            "reason": "; ".join(reasons)}


def _fmt(x, digits=2):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _markdown(table, paper, common):
    head = ["scheme", "criterion", "structures", "oracle calls", "MAE", "RMSE", "beta^-1/2",
            "sqrt(beta^-1 + <eps_B^2>)", "mean eps_B (NVT)", "z_B std", "z_B skewness",
            f"structures to eps_B = {1e3 * common:.2f}" if np.isfinite(common)
            else "structures to a common eps_B (needs two valid schemes)", "valid"]
    lines = ["Forces in meV/A; test structures from the oracle's NVT (testset), eps_B of the model's own NVT.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table.to_dict("records"):
        cells = [r["scheme"], r["selector"], r["structures"], r["oracle_calls"], _fmt(r["mae_meV_A"]),
                 _fmt(r["rmse_meV_A"]), _fmt(r["noise_meV_A"]), _fmt(r["predicted_rmse_meV_A"]),
                 _fmt(r["mean_eps_b_nvt_meV_A"]), _fmt(r["z_std"]), _fmt(r["z_skewness"]),
                 _fmt(r["structures_to_common_eps_b"], 1),
                 "yes" if r["valid"] else f"INVALID: {r['reason']}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if paper:
        cells = [f"paper: {paper.get('label', '')}", "trajectory_average", paper.get("structures"), "-",
                 _fmt(paper.get("mae_meV_A")), _fmt(paper.get("rmse_meV_A")), _fmt(paper.get("noise_meV_A")), "-",
                 _fmt(paper.get("eps_b_meV_A")), "-", "-", "-", "-"]
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def phonon_step(model_path, system, oracle_cfg, cache_dir, out, title=None):
    """Phonons of the final model against the oracle's: ``out`` paths
    ``summary`` (validation rows, csv), ``data`` (npz) and the figure stem
    ``phonons``. The oracle's displaced supercells go through the cache."""
    from ..plotting_dynamic import phonon_figure
    from ..structures import build_structure
    from ..validation.phonons import phonon_rows, phonon_validation
    from ..validation.rows import write_rows
    from .common import oracle_cache
    model = load_model(model_path)
    unit = build_structure(dict(system, repeat=[1, 1, 1]))
    res = phonon_validation(model, unit, system["repeat"], oracle_cache(oracle_cfg, cache_dir))
    write_rows(phonon_rows(res), out["summary"])
    arrays = {"x": np.asarray(res.get("x", []))}
    for side in ("model", "oracle"):
        for k in ("frequencies", "dos_frequency", "dos"):
            if k in res[side]:
                arrays[f"{side}_{k}"] = res[side][k]
    with atomic_path(out["data"]) as tmp:
        np.savez(tmp, **arrays)
    phonon_figure(res, out["phonons"], title)
    bad = [f"{s}: {res[s]['error']}" for s in ("model", "oracle") if "error" in res[s]]
    if bad:
        log.error("phonons: %s (the rows are flagged invalid)", "; ".join(bad))
    return res
