"""The dynamic-training paper's experiments side by side (target
``paper_dynamic``; Callsen, Lee, Chou 2025): each experiment is its own run
(``snakemake --configfile config/systems/<name>.yaml``: si_dynamic,
inp_dynamic); this step reads their ``dynamic/`` outputs, never reruns them,
and writes one table (both criteria per system beside the paper's row, and
whether the trajectory-average criterion needs fewer structures than eps_min
at the same Bayesian error, the paper's conclusion) and copies of their
figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..jobs import read_json
from .dynamic import DYN_FIGURES, TABLE_COLUMNS

__all__ = ["experiment_paths", "missing_outputs", "paper_dynamic_step", "conclusion"]


def experiment_paths(section, results="results"):
    """``{experiment: {table, metrics, <figure>: path}}`` of the runs named
    in the ``paper_dynamic`` section's ``experiments``."""
    out = {}
    for exp, run in section["experiments"].items():
        d = Path(results) / run / "dynamic"
        out[exp] = {"table": str(d / "table.csv"), "markdown": str(d / "table.md"), "metrics": str(d / "metrics.json"),
                    **{f: str(d / "figures" / f"{f}.png") for f in DYN_FIGURES}}
    return out


def missing_outputs(section, results="results"):
    """A message naming each experiment with missing outputs and the command
    that makes them, or None."""
    lines = []
    for exp, files in experiment_paths(section, results).items():
        gone = [p for p in files.values() if not Path(p).exists()]
        if gone:
            run = section["experiments"][exp]
            lines.append(f"- {exp} (run `{run}`): {len(gone)} outputs missing, e.g. {gone[0]}; made by `snakemake "
                         f"--configfile config/systems/{run}.yaml --profile profiles/local`")
    return ("paper_dynamic: the experiments' outputs are missing (this target only collects them):\n"
            + "\n".join(lines)) if lines else None


def conclusion(table):
    """Whether the trajectory-average criterion reached the common eps_B with
    fewer structures than eps_min (None when either is missing or invalid).

    Parameters
    ----------
    table : DataFrame
        One experiment's ``dynamic/table.csv``.
    """
    by = {r["selector"]: r for r in table.to_dict("records")}
    a, b = by.get("trajectory_average"), by.get("eps_min")
    if not a or not b or not (a["valid"] and b["valid"]):
        return None, "needs a valid trajectory_average and eps_min scheme"
    na, nb = a["structures_to_common_eps_b"], b["structures_to_common_eps_b"]
    if pd.isna(na) or pd.isna(nb):
        return None, "a learning curve does not reach the common eps_B"
    return bool(na < nb), f"{na:.1f} against {nb:.1f} structures"


def paper_dynamic_step(section, paths, out):
    """Write ``out['table']`` (csv), ``out['markdown']`` and the figure
    copies into ``out['figures_dir']``."""
    rows, lines = [], []
    for exp, files in paths.items():
        table = pd.read_csv(files["table"])
        paper = read_json(files["metrics"]).get("paper") or {}
        fewer, why = conclusion(table)
        for r in table.to_dict("records"):
            rows.append(dict(experiment=exp, **r, trajectory_average_fewer=fewer, conclusion_note=why))
        rows.append(dict(dict.fromkeys(TABLE_COLUMNS), experiment=exp, scheme=f"paper: {paper.get('label', '')}",
                         selector="trajectory_average", structures=paper.get("structures"),
                         rmse_meV_A=paper.get("rmse_meV_A"), noise_meV_A=paper.get("noise_meV_A"),
                         mae_meV_A=paper.get("mae_meV_A"), mean_eps_b_nvt_meV_A=paper.get("eps_b_meV_A"),
                         valid=True, reason="", trajectory_average_fewer=True if paper else None,
                         conclusion_note="the paper's conclusion" if paper else ""))
        lines += [f"## {exp} (run `{section['experiments'][exp]}`)", "",
                  Path(files["markdown"]).read_text().rstrip(), "",
                  f"Trajectory average needs fewer structures than eps_min at the same eps_B: "
                  f"{'-' if fewer is None else ('yes' if fewer else 'NO')} ({why}).", ""]
        for f in DYN_FIGURES:
            dest = Path(out["figures_dir"]) / f"{exp}_{f}.png"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(files[f], dest)
    with atomic_path(out["table"]) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    head = ["# Dynamic training (Callsen, Lee, Chou 2025): the experiments beside the paper", ""]
    with atomic_path(out["markdown"]) as tmp:
        tmp.write_text("\n".join(head + lines) + "\n")
    return rows
