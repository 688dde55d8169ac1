"""The MLIP paper's three experiments side by side (target ``paper_mlip``).

Novikov, Gubaev, Podryabinkin, Shapeev, Mach. Learn.: Sci. Technol. 2,
025002 (2021): the Ag-Pd convex hull (section 6, Table 3), the Al melting
point (section 5) and the Mo elastic constants (example 1). Each is its own
run (``snakemake hull|<default>|elastic --configfile
config/systems/<name>.yaml``); this step reads their outputs, never reruns
them, and writes one table (alff, its oracle and the paper's numbers,
each row with its target and whether it is met and valid) and a summary
figure.
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path, atomic_write_text
from ..jobs import read_json
from ..validation.steps import md_table

log = logging.getLogger(__name__)

__all__ = ["experiment_paths", "missing_outputs", "hull_rows", "melting_rows", "elastic_rows", "paper_mlip_step",
           "PAPER_MELTING", "PAPER_TABLE3"]

REFERENCE = "Novikov et al., Mach. Learn.: Sci. Technol. 2, 025002 (2021)"
#: Table 3 (Ag-Pd, DFT): training configurations and energy MAE (meV/atom) per level
PAPER_TABLE3 = {12: (226, 2.8), 16: (442, 1.9), 20: (920, 1.3)}
#: section 5 (Al): Tm of the MTP and of DFT (K); stage 1a/1b selections and oracle calls
PAPER_MELTING = {"Tm_mtp": 885.0, "Tm_dft": 888.0, "selected_1a": 225, "selected_1b": 202, "calls_1b": 359}
COLUMNS = ["experiment", "quantity", "unit", "alff", "alff_std", "oracle", "oracle_std", "paper", "paper_std",
           "paper_reference", "target", "met", "valid", "note"]
#: the commands that make each experiment's outputs (for the error when one is missing)
COMMANDS = {"hull": "snakemake hull --configfile config/systems/agpd_hull.yaml --profile profiles/local",
            "melting": "snakemake --configfile config/systems/al_mlip.yaml --profile profiles/local",
            "elastic": "snakemake elastic --configfile config/systems/mo_elastic.yaml --profile profiles/local"}


def _scheme_dir(results, run, scheme="mlip"):
    """A single-scheme run writes to results/<run>, a multi-scheme one to results/<run>/<scheme>."""
    multi = Path(results) / run / scheme
    return multi if (multi / "metrics.json").exists() else Path(results) / run


def experiment_paths(section, results="results"):
    """The files each experiment must have written, by experiment.

    Parameters
    ----------
    section : dict
        The ``paper_mlip`` config section (run names ``hull``, ``melting``, ``elastic``).

    Returns
    -------
    dict of dict of str
    """
    h = Path(results) / section["hull"] / "hull"
    m = _scheme_dir(results, section["melting"])
    e = Path(results) / section["elastic"] / "elastic"
    return {"hull": {"metrics": str(h / "metrics.json"), "figure": str(h / "figures" / "hull.png")},
            "melting": {"metrics": str(m / "metrics.json"), "melting": str(m / "validation" / "melting.json"),
                        "summary": str(m / "validation" / "summary.csv"), "calls": str(m / "learn" / "calls.csv"),
                        "figure": str(m / "figures" / "melting.png"),
                        "learning": str(m / "figures" / "learning.png")},
            "elastic": {"metrics": str(e / "metrics.json"), "figure": str(e / "figures" / "elastic.png")}}


def missing_outputs(section, results="results"):
    """A message naming each experiment whose outputs are missing and the
    command that makes them, or None when every file is there."""
    lines = []
    for exp, files in experiment_paths(section, results).items():
        gone = [p for p in files.values() if not Path(p).exists()]
        if gone:
            run = section[exp]
            lines.append(f"- {exp} (run `{run}`): {len(gone)} outputs missing, e.g. {gone[0]}; the paper's config "
                         f"makes them with `{COMMANDS[exp]}`")
    if not lines:
        return None
    return ("paper_mlip: the experiments' outputs are missing (this target only collects them; `make paper-mlip` "
            "runs everything):\n" + "\n".join(lines))


def _row(experiment, quantity, unit="", alff=None, oracle=None, paper=None, **kw):
    r = dict.fromkeys(COLUMNS)
    r.update(experiment=experiment, quantity=quantity, unit=unit, alff=alff, oracle=oracle, paper=paper,
             valid=True, note="")
    r.update(kw)
    return r


def hull_rows(metrics, level=16, mae_meV=2.0):
    """Rows of the convex-hull experiment: per level the training set, the
    training energy MAE (Table 3's column), the pool formation-energy MAE
    and RMSE, oracle calls, and whether the hull's ground states equal the
    oracle's. Targets: the same ground states at every level and a pool
    formation-energy MAE <= ``mae_meV`` at ``level``."""
    rows = []
    for r in metrics["levels"]:
        lv = int(r["level"])
        n_paper, mae_paper = PAPER_TABLE3.get(lv, (None, None))
        common = {"valid": bool(r["valid"]), "note": r["note"]}
        rows.append(_row("hull", f"training configurations, level {lv}", "", r["n_train"], paper=n_paper,
                         **common))
        rows.append(_row("hull", f"oracle calls, level {lv}", "", r["n_oracle_calls"], **common))
        rows.append(_row("hull", f"training energy MAE, level {lv}", "meV/atom", r["train_energy_mae_meV"],
                         paper=mae_paper, **common))
        target = lv == int(level)
        mae = float(r["formation_mae_meV"])
        rows.append(_row("hull", f"pool formation-energy MAE, level {lv} ({r['n_compared']} structures)",
                         "meV/atom", mae, target=f"<= {mae_meV:g}" if target else "",
                         met=bool(mae <= mae_meV) if target else None, **common))
        rows.append(_row("hull", f"pool formation-energy RMSE, level {lv}", "meV/atom", r["formation_rmse_meV"],
                         **common))
        rows.append(_row("hull", f"hull ground states, level {lv}", "", r["ground_states_model"],
                         oracle=r["ground_states_oracle"], target="the oracle's",
                         met=bool(r["same_ground_states"]), **common))
    return rows


def _tm(d):
    """(Tm, Tm_err) of a coexistence result, NaN where absent."""
    return float(d.get("Tm", math.nan)), float(d.get("Tm_err", math.nan))


def melting_rows(metrics, melting, summary, calls, tolerance=0.02):
    """Rows of the Al melting experiment: the coexistence Tm of the MTP
    against the oracle's (target within ``tolerance``; invalid when either
    protocol failed, with its reason), oracle calls (seed and learning),
    the training set and the configurations selected per iteration.

    Parameters
    ----------
    metrics : dict
        The run's metrics.json.
    melting : dict
        validation/melting.json (``model`` and ``oracle``, each with ``coexistence``).
    summary : pandas.DataFrame
        validation/summary.csv.
    calls : pandas.DataFrame
        learn/calls.csv (a column ``iteration`` in batch mode).
    """
    coex = summary[summary["observable"] == "melting_Tm_coexistence"]
    if coex.empty:
        raise ValueError("melting: validation/summary.csv has no melting_Tm_coexistence row (validate.melting."
                         "coexistence.enabled must be true in the melting run)")
    c = coex.iloc[0]
    tm, tm_err = _tm(melting.get("model", {}).get("coexistence", {}))
    to, to_err = _tm(melting.get("oracle", {}).get("coexistence", {}))
    valid = bool(c["valid"]) and np.isfinite(tm) and np.isfinite(to)
    note = str(c["note"]) if not bool(c["valid"]) else ("" if valid else "no Tm from the model or the oracle")
    rel = abs(tm - to) / to if valid else math.nan
    rows = [_row("melting", "Tm, solid-liquid coexistence (0 GPa)", "K", tm if valid else None,
                 oracle=to if np.isfinite(to) else None, paper=PAPER_MELTING["Tm_mtp"],
                 alff_std=tm_err if valid else None, oracle_std=to_err if np.isfinite(to) else None,
                 paper_reference=PAPER_MELTING["Tm_dft"], target=f"within {100 * tolerance:g} % of the oracle",
                 met=bool(rel <= tolerance) if valid else None, valid=valid,
                 note=note or f"{100 * rel:.1f} % from the oracle")]
    rows.append(_row("melting", "oracle calls, seed", "", int(metrics["n_seed_oracle_calls"])))
    rows.append(_row("melting", "oracle calls, learning", "", int(metrics["n_oracle_calls"]),
                     paper=PAPER_MELTING["calls_1b"], note="paper: stage 1b's Gamma-point calls"))
    ok = calls[calls["status"] == "ok"]
    per_it = ok.groupby("iteration").size() if "iteration" in ok and len(ok) else pd.Series(dtype=int)
    rows.append(_row("melting", "configurations selected per iteration", "",
                     ", ".join(str(int(v)) for v in per_it.to_numpy()) if len(per_it) else str(len(ok)),
                     paper=PAPER_MELTING["selected_1a"],
                     note="paper: stage 1a's 225 selected (sparsified to 78), 1b 202 configurations"))
    rows.append(_row("melting", "training environments (atoms)", "", int(metrics["n_training_envs"])))
    for phase, m in metrics.get("test", {}).items():
        if m.get("rmse") is not None:
            rows.append(_row("melting", f"test force RMSE, {phase}", "eV/A", m["rmse"]))
    return rows


def elastic_rows(metrics):
    """Rows of the Mo elastic-constant experiment: per constant the
    ensemble mean and std against the oracle's and the paper's MTP
    ensemble (its DFT value as ``paper_reference``); the target (the
    oracle within the ensemble's 2 sigma and within 5 %) as the
    experiment's own metrics.json judged it; oracle calls and training set."""
    valid = bool(metrics["valid"])
    note = "; ".join(metrics.get("reasons", []))
    rows = []
    for c, d in metrics["constants"].items():
        own = f"{100 * (d['mean'] - d['oracle']) / d['oracle']:+.1f} % against the oracle" if valid else ""
        rows.append(_row("elastic", c, "GPa", d["mean"] if valid else None, alff_std=d["std"] if valid else None,
                         oracle=d["oracle"], paper=d["paper"]["mtp_mean"], paper_std=d["paper"]["mtp_std"],
                         paper_reference=d["paper"]["dft"],
                         target=f"oracle within {metrics['sigmas']:g} sigma and {100 * metrics['tolerance']:g} %",
                         met=bool(d["met"]) if valid else None, valid=valid, note=note or own))
    b = metrics["stats"].get("B", {})
    rows.append(_row("elastic", "B = (C11 + 2 C12) / 3", "GPa", b.get("mean") if valid else None,
                     alff_std=b.get("std") if valid else None, oracle=metrics["oracle_properties"].get("B"),
                     valid=valid, note=note))
    rows.append(_row("elastic", "oracle calls", "", int(metrics["n_oracle_calls"])))
    rows.append(_row("elastic", "training configurations", "", int(metrics["n_train"])))
    return rows


def _fmt(v, s=None):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    if isinstance(v, str):
        return v
    txt = f"{v:.4g}" if isinstance(v, float) else str(v)
    return txt + (f" ± {s:.2g}" if s is not None and np.isfinite(s) else "")


def _markdown(table):
    """The table as Markdown: values with their std, met and valid as yes / **NO**."""
    def flag(v):
        return "" if v is None or v != v else ("yes" if v else "**NO**")
    return md_table(pd.DataFrame({
        "experiment": table["experiment"], "quantity": table["quantity"], "unit": table["unit"],
        "alff": [_fmt(v, s) for v, s in zip(table["alff"], table["alff_std"])],
        "oracle": [_fmt(v, s) for v, s in zip(table["oracle"], table["oracle_std"])],
        "paper (MTP)": [_fmt(v, s) for v, s in zip(table["paper"], table["paper_std"])],
        "paper (reference)": [_fmt(v) for v in table["paper_reference"]], "target": table["target"].fillna(""),
        "met": [flag(v) for v in table["met"]], "valid": [flag(bool(v)) for v in table["valid"]],
        "note": table["note"].fillna("")}))


def paper_mlip_step(section, paths, out):
    """table.csv, table.md, the summary figure and copies of the
    experiments' own figures.

    Parameters
    ----------
    section : dict
        The ``paper_mlip`` config section.
    paths : dict
        :func:`experiment_paths`.
    out : dict
        ``table``, ``markdown``, ``figure`` (stem), ``figures_dir``.
    """
    from ..plotting_paper_mlip import paper_mlip_figure
    hp, mp, ep = paths["hull"], paths["melting"], paths["elastic"]
    hull = read_json(hp["metrics"])
    rows = hull_rows(hull, section["hull_level"], section["hull_mae_meV"])
    rows += melting_rows(read_json(mp["metrics"]), read_json(mp["melting"]),
                         pd.read_csv(mp["summary"], keep_default_na=False, na_values=["", "nan", "NaN"]),
                         pd.read_csv(mp["calls"]), section["melting_tolerance"])
    elastic = read_json(ep["metrics"])
    rows += elastic_rows(elastic)
    table = pd.DataFrame(rows, columns=COLUMNS)
    with atomic_path(out["table"]) as tmp:
        table.to_csv(tmp, index=False)
    judged = table[table["met"].notna()]
    n_bad = int((~table["valid"].astype(bool)).sum())
    n_missed = int((judged["met"] == False).sum())  # noqa: E712 (object column)
    atomic_write_text(out["markdown"], "\n".join([
        f"# The MLIP paper's experiments with alff ({REFERENCE})", "",
        f"Runs: hull `{section['hull']}`, melting `{section['melting']}`, elastic `{section['elastic']}`. "
        "`paper (MTP)` is the paper's MTP, `paper (reference)` its DFT (Table 3: energy MAE of the training set).",
        "", f"**{len(judged) - n_missed} of {len(judged)} targets met; {n_bad} of {len(table)} rows not valid.**",
        "", _markdown(table), ""]))
    paper_mlip_figure(hull, table, elastic, out["figure"])
    figs = Path(out["figures_dir"])
    figs.mkdir(parents=True, exist_ok=True)
    for name, src in (("hull", hp["figure"]), ("melting", mp["figure"]), ("learning_al", mp["learning"]),
                      ("elastic", ep["figure"])):
        for ext in (".png", ".pdf"):
            s = Path(src).with_suffix(ext)
            if s.exists():
                shutil.copyfile(s, figs / f"{name}{ext}")
    for r in judged.itertuples():
        log.info("%s: %s = %s (target %s): %s%s", r.experiment, r.quantity, _fmt(r.alff, r.alff_std), r.target,
                 "met" if r.met else "MISSED", "" if r.valid else f" (INVALID: {r.note})")
    log.info("paper_mlip: %d of %d targets met, %d rows not valid; %s", len(judged) - n_missed, len(judged), n_bad,
             out["markdown"])
    return table
