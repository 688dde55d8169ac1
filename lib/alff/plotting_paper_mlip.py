"""The summary figure of target ``paper_mlip``: alff's three MLIP-paper
experiments beside the paper's numbers."""

from __future__ import annotations

import textwrap

import numpy as np

from .plotting import _plt, add_title, save_figure

__all__ = ["paper_mlip_figure"]


def _invalid_note(ax, text, y=0.5):
    ax.text(0.5, y, "\n".join(textwrap.wrap(text, 44)[:4]), transform=ax.transAxes, ha="center", va="center",
            fontsize="small", color="C3", bbox={"facecolor": "white", "edgecolor": "C3", "alpha": 0.9})


def _hull_panels(ax, bx, hull):
    from .steps.paper_mlip import PAPER_TABLE3
    levels = hull["levels"]
    lv = np.array([r["level"] for r in levels])
    x = np.arange(len(lv))
    paper = [PAPER_TABLE3.get(int(v), (np.nan, np.nan)) for v in lv]
    for r, xi in zip(levels, x):
        ax.bar(xi - 0.2, r["n_train"], width=0.38, color="C0", hatch=None if r["valid"] else "//",
               edgecolor="C3" if not r["valid"] else "C0", label="alff (EMT)" if xi == 0 else None)
    ax.bar(x + 0.2, [p[0] for p in paper], width=0.38, color="0.6", label="paper (DFT)")
    ax.set_xticks(x, [f"level {v}" for v in lv])
    ax.set_ylabel("training configurations")
    ax.legend(frameon=False, loc="upper left")
    ax.set_title(f"(a) Ag-Pd hull: training set ({hull['n_pool']} pool structures)", loc="left", fontsize="medium")
    valid = np.array([bool(r["valid"]) for r in levels])
    for key, marker, label in (("train_energy_mae_meV", "o", "alff: training energy MAE"),
                               ("formation_mae_meV", "s", "alff: pool formation-energy MAE")):
        y = np.array([r[key] for r in levels], float)
        bx.plot(lv, y, color="C0", lw=0.8, alpha=0.5)
        bx.scatter(lv[valid], y[valid], marker=marker, color="C0", label=label, zorder=3)
        if (~valid).any():
            bx.scatter(lv[~valid], y[~valid], marker=marker, facecolors="none", edgecolors="C3", zorder=3,
                       label=f"{label.split(':')[0]}: level not valid" if key == "formation_mae_meV" else None)
    bx.plot(lv, [p[1] for p in paper], "^--", color="0.4", label="paper: training energy MAE")
    bx.axhline(2.0, color="C2", ls=":", lw=1.0, label="target at level 16 (2 meV/atom)")
    bx.set_xticks(lv)
    bx.set_xlabel("MTP level")
    bx.set_ylabel("energy error (meV/atom)")
    bx.set_ylim(bottom=0)
    bx.legend(frameon=False, fontsize="x-small")
    same = all(r["same_ground_states"] for r in levels)
    bx.set_title(f"(b) errors; ground states {'= oracle' if same else 'DIFFER from oracle'} "
                 f"({len(hull['oracle_ground_states'])})", loc="left", fontsize="medium")


def _melting_panel(cx, table):
    r = table[(table["experiment"] == "melting") & table["quantity"].str.startswith("Tm")].iloc[0]
    pts = [("alff MTP", r["alff"], r["alff_std"], "C0"), ("EMT (oracle)", r["oracle"], r["oracle_std"], "k"),
           ("paper MTP", r["paper"], None, "0.5"), ("paper DFT", r["paper_reference"], None, "0.3")]
    for i, (name, v, s, c) in enumerate(pts):
        if v is not None and np.isfinite(float(v)):
            cx.errorbar([i], [float(v)], yerr=[float(s)] if s is not None and np.isfinite(float(s)) else None,
                        fmt="o" if i < 2 else "s", color=c, capsize=4)
    if r["oracle"] is not None and np.isfinite(float(r["oracle"])):
        o = float(r["oracle"])
        cx.axhspan(0.98 * o, 1.02 * o, xmin=0.0, xmax=0.5, color="C2", alpha=0.15, label="oracle ± 2 % (target)")
        cx.legend(frameon=False, loc="upper left", fontsize="x-small")
    cx.axvline(1.5, color="0.7", lw=0.8)
    cx.text(0.25, 0.02, "alff (EMT oracle)", transform=cx.transAxes, ha="center", fontsize="x-small", color="0.4")
    cx.text(0.75, 0.02, "paper (DFT)", transform=cx.transAxes, ha="center", fontsize="x-small", color="0.4")
    cx.set_xticks(range(4), [p[0] for p in pts], rotation=15)
    cx.set_xlim(-0.5, 3.5)
    cx.set_ylabel("$T_m$ (K)")
    cx.set_title("(c) Al melting point (coexistence, 0 GPa)", loc="left", fontsize="medium")
    if not r["valid"]:
        _invalid_note(cx, f"alff MTP Tm NOT VALID: {r['note']}", 0.75)


def _elastic_panel(dx, elastic):
    names = ("C11", "C12", "C44")
    x = np.arange(len(names))
    d = elastic["constants"]
    if elastic["valid"]:
        dx.bar(x - 0.2, [d[c]["mean"] for c in names], yerr=[2 * d[c]["std"] for c in names], width=0.38,
               color="C0", capsize=3, label=f"alff ensemble of {elastic['n_valid']} (2$\\sigma$)")
    dx.scatter(x - 0.2, [d[c]["oracle"] for c in names], marker="D", facecolors="none", edgecolors="k", zorder=4,
               label="oracle (SNAP)")
    dx.bar(x + 0.2, [d[c]["paper"]["mtp_mean"] for c in names], yerr=[2 * d[c]["paper"]["mtp_std"] for c in names],
           width=0.38, color="0.6", capsize=3, label="paper MTP ensemble (2$\\sigma$)")
    dx.scatter(x + 0.2, [d[c]["paper"]["dft"] for c in names], marker="D", color="0.2", zorder=4, label="paper DFT")
    dx.set_xticks(x, [f"$C_{{{c[1:]}}}$" for c in names])
    dx.set_ylabel("elastic constant (GPa)")
    dx.set_ylim(0, 1.45 * max(d["C11"]["paper"]["mtp_mean"], d["C11"]["oracle"]))
    dx.legend(frameon=False, fontsize="x-small", ncol=2, loc="upper right")
    met = "target met" if elastic["target_met"] else "target MISSED"
    dx.set_title(f"(d) Mo elastic constants ({met})", loc="left", fontsize="medium")
    if not elastic["valid"]:
        _invalid_note(dx, "alff ensemble NOT VALID: " + "; ".join(elastic.get("reasons", [])), 0.8)


def paper_mlip_figure(hull, table, elastic, stem, title=None):
    """(a) Ag-Pd training-set size per MTP level, alff against the paper's
    Table 3; (b) the energy errors per level (training MAE as Table 3,
    and the pool's formation-energy MAE) with the level-16 target; (c) the
    Al melting point of the MTP and of its oracle beside the paper's; (d)
    Mo's C11, C12, C44: alff's ensemble and its oracle beside the paper's
    ensemble and DFT. Invalid results are drawn hollow or hatched and
    their reason written in the panel.

    Parameters
    ----------
    hull : dict
        The hull experiment's metrics.json.
    table : pandas.DataFrame
        :func:`alff.steps.paper_mlip.paper_mlip_step`'s table.
    elastic : dict
        The elastic experiment's metrics.json.
    stem : str or Path
        Output path without suffix (PNG and PDF).
    """
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(7.2, 5.8))
    _hull_panels(axes[0, 0], axes[0, 1], hull)
    _melting_panel(axes[1, 0], table)
    _elastic_panel(axes[1, 1], elastic)
    add_title(fig, title or "The MLIP paper's experiments (Novikov et al. 2021) with alff")
    fig.tight_layout()
    return save_figure(fig, stem)
