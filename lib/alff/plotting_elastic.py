"""The elastic-constant experiment's figure (target ``elastic``): the
ensemble's C11, C12, C44 against the oracle's, and the E-V curves."""

from __future__ import annotations

import numpy as np

from .plotting import _plt, add_title, save_figure

__all__ = ["elastic_figure", "oracle_label"]


def elastic_figure(members, oracle, summary, stem, title=None):
    """(a) C11, C12, C44: the ensemble mean (bars) with ``sigmas`` std error
    bars, each valid member as a point, the oracle's value as a marker;
    (b) energy per atom against volume per atom of every member and of the
    oracle (members that could not be evaluated are left out and counted
    in the legend).

    Parameters
    ----------
    members : list of dict
        Per member the output of
        :func:`alff.steps.elastic.crystal_properties`.
    oracle : dict
        The same for the oracle.
    summary : dict
        :func:`alff.steps.elastic.ensemble_summary`.
    stem : str or Path
        Output path without suffix (PNG and PDF are written).
    title : str, optional
    """
    plt = _plt()
    names = ("C11", "C12", "C44")
    sig = summary["sigmas"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(7.0, 3.0), gridspec_kw={"width_ratios": [1.0, 1.2]})
    x = np.arange(len(names))
    mean = [summary["constants"][c]["mean"] for c in names]
    std = [summary["constants"][c]["std"] for c in names]
    ax.bar(x, mean, width=0.6, color="C0", alpha=0.35,
           label=f"mean ({summary['n_valid']} of {summary['n_members']} valid)")
    ax.errorbar(x, mean, yerr=sig * np.nan_to_num(np.asarray(std, float)), fmt="none", ecolor="C0", capsize=4,
                lw=1.2, label=f"{sig:g} $\\sigma$")
    ok = [m for m in members if m.get("valid")]
    for j, m in enumerate(ok):
        jitter = 0.18 * (j / max(len(ok) - 1, 1) - 0.5)
        ax.scatter(x + jitter, [m[c] for c in names], s=10, color="C0", zorder=3,
                   label="members" if j == 0 else None)
    if oracle.get("valid"):
        ax.scatter(x, [oracle[c] for c in names], marker="D", s=28, facecolors="none", edgecolors="k", lw=1.1,
                   zorder=4, label="oracle")
    ax.set_xticks(x, [f"$C_{{{c[1:]}}}$" for c in names])
    ax.set_ylabel("elastic constant (GPa)")
    top = [v for v in [*mean, *(oracle.get(c, np.nan) for c in names)] if np.isfinite(v)]
    ax.set_ylim(0, 1.6 * max(top, default=1.0))
    ax.legend(frameon=False, fontsize="x-small", loc="upper right")
    ax.set_title("(a)", loc="left", fontsize="medium")
    curves = [m for m in members if "ev_volumes" in m and np.all(np.isfinite(m["ev_energies"]))]
    for k, m in enumerate(curves):
        bx.plot(m["ev_volumes"], m["ev_energies"], color="C0", lw=0.9, alpha=0.7, label="members" if k == 0 else None)
    if "ev_volumes" in oracle:
        bx.plot(oracle["ev_volumes"], oracle["ev_energies"], "k--", marker="o", ms=3, mfc="none", lw=0.9,
                label="oracle")
    n_bad = len(members) - len(curves)
    if n_bad:
        bx.plot([], [], " ", label=f"{n_bad} member(s) without a curve")
    bx.set_xlabel(r"volume ($\mathrm{\AA}^3$/atom)")
    bx.set_ylabel("energy (eV/atom)")
    bx.legend(frameon=False, fontsize="small", loc="upper center")
    bx.set_title("(b)", loc="left", fontsize="medium")
    add_title(fig, title)
    fig.tight_layout()
    return save_figure(fig, stem)


def oracle_label(oracle_cfg):
    """The oracle for titles: its kind; for lammps the pair style and the
    potential files' stem (``lammps snap (Mo_Zuo_JPCA2020)``)."""
    kind = oracle_cfg.get("kind")
    if kind == "lammps":
        p = oracle_cfg.get("params") or {}
        coeff = p.get("pair_coeff") or []
        files = [t for line in ([coeff] if isinstance(coeff, str) else coeff) for t in str(line).split()[2:]
                 if "." in t]
        style = str(p.get("pair_style", "")).split()[0] if p.get("pair_style") else ""
        return " ".join(x for x in ("lammps", style, f"({files[0].split('.')[0]})" if files else "") if x)
    return str(oracle_cfg.get("calculator")).rsplit(".", 1)[-1] if kind == "calculator" else kind
