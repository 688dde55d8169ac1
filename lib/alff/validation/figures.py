"""Validation figures: model (solid lines) against the reference (dashed or
open symbols), PNG and PDF. Panel functions draw on a given axis so the
``paper`` figure reuses them. A result that is not valid (its protocol
failed: see validation/summary.csv) is drawn as such: "not valid" in its
legend entry, no value line, grey crosses for invalid diffusion
coefficients."""

from __future__ import annotations

import numpy as np
from ase import units

from ..plotting import _plt, add_title, save_figure

__all__ = ["rdf_panel", "neb_panel", "msd_panel", "arrhenius_panel", "rdf_figure", "neb_figure",
           "diffusion_figure", "melting_figure", "paper_figure"]

MODEL = {"color": "C0", "lw": 1.2}
REF = {"color": "k", "lw": 1.0, "ls": "--"}
INVALID = " (not valid)"


def _invalid(data, engine):
    """Whether ``data`` (rows of one panel) marks ``engine``'s result invalid."""
    if "valid" not in data:
        return False
    v = data[data["engine"] == engine]["valid"]
    return bool(len(v)) and not v.astype(bool).all()


def rdf_panel(ax, data, condition):
    """Total g(r) of one condition, model and reference."""
    sub = data[(data["condition"] == condition) & (data["pair"] == "all-all")]
    for eng, style, label in (("model", MODEL, "alff"), ("oracle", REF, "oracle")):
        s = sub[sub["engine"] == eng]
        if len(s):
            ax.plot(s["r"], s["g"], label=label + (INVALID if _invalid(sub, eng) else ""), **style)
    ax.axhline(1.0, color="0.7", lw=0.5)
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    ax.set_title(condition)


def neb_panel(ax, data, case):
    """Model energies with the GP band, reference points on the model's
    images, and the reference's own band."""
    sub = data[data["case"] == case]
    m = sub[sub["engine"] == "model"]
    ax.plot(m["coordinate"], m["energy"], "o-", ms=3, label="alff" + (INVALID if _invalid(sub, "model") else ""),
            **MODEL)
    if np.isfinite(m["std"]).any():
        ax.fill_between(m["coordinate"], m["energy"] - 2 * m["std"], m["energy"] + 2 * m["std"], color="C0",
                        alpha=0.25, lw=0, label="alff ±2σ")
    o = sub[sub["engine"] == "oracle_on_model_images"]
    if len(o):
        ax.plot(o["coordinate"], o["energy"], "s", ms=4, mfc="none", color="k", label="oracle on alff images")
    o = sub[sub["engine"] == "oracle"]
    if len(o):
        ax.plot(o["coordinate"], o["energy"], ":", color="0.4", lw=1.0,
                label="oracle NEB" + (INVALID if _invalid(sub, "oracle") else ""))
    ax.set_xlabel("reaction coordinate (Å)")
    ax.set_ylabel("energy (eV)")
    ax.set_title({"vacancy": "vacancy migration", "adatom": "adatom hcp → fcc"}.get(case, case))


def msd_panel(ax, msd):
    """MSD against time at each temperature."""
    temps = sorted(msd["temperature_K"].unique())
    for k, T in enumerate(temps):
        for eng, ls in (("model", "-"), ("oracle", "--")):
            s = msd[(msd["temperature_K"] == T) & (msd["engine"] == eng)]
            if len(s):
                ax.plot(s["time_ps"], s["msd"], ls, color=f"C{k}", lw=1.0,
                        label=f"{T:g} K" if eng == "model" else None)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("MSD (Å$^2$)")
    ax.plot([], [], "-", color="0.3", lw=1.0, label="alff")
    ax.plot([], [], "--", color="0.3", lw=1.0, label="oracle")
    ax.set_title("vacancy diffusion")


def arrhenius_panel(ax, coeffs, fits):
    """ln D against 1000/T with the fits and their activation energies."""
    import matplotlib.transforms as mtransforms
    bottom = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    for eng, style, mk in (("model", MODEL, "o"), ("oracle", REF, "s")):
        c = coeffs[coeffs["engine"] == eng]
        if not len(c):
            continue
        name = "alff" if eng == "model" else "oracle"
        ok = c["valid"].astype(bool).to_numpy() if "valid" in c else (c["D"] > 0).to_numpy()
        x = 1000.0 / c["temperature_K"]
        ax.errorbar(x[ok], c["D"][ok], yerr=c["D_err"][ok], fmt=mk, ms=4, color=style["color"],
                    mfc="none" if eng == "oracle" else style["color"], capsize=2)
        if (~ok).any():
            # not a measurement (too few jumps, D <= 0): a cross at the
            # bottom of the panel, at its temperature, and no error bar
            ax.plot(x[~ok], np.full((~ok).sum(), 0.04), "x", ms=5, color=style["color"], transform=bottom,
                    label=f"{name}: D not valid")
        f = fits.get(eng)
        if f and f.get("valid", np.isfinite(f.get("Ea", np.nan))):
            xx = np.linspace(x[ok].min(), x[ok].max(), 50)
            ax.plot(xx, f["D0"] * np.exp(-f["Ea"] * xx / (1000.0 * units.kB)),
                    label=f"{name}: $E_a$ = {f['Ea']:.3f}±{f['Ea_err']:.3f} eV", **style)
        elif f is not None:
            ax.plot([], [], label=f"{name}: $E_a$ not valid", **style)
    if not (coeffs["D"] > 0).any():
        ax.set_ylim(1e-6, 1.0)  # nothing to scale the log axis by
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D (Å$^2$/ps)")


def _panel_row(panel, data, column, stem, legend_size=8, title=None):
    """One panel per distinct value of ``data[column]``, side by side."""
    plt = _plt()
    keys = list(dict.fromkeys(data[column]))
    fig, axes = plt.subplots(1, len(keys), figsize=(3.3 * len(keys), 2.8), squeeze=False)
    for ax, k in zip(axes[0], keys):
        panel(ax, data, k)
    axes[0][0].legend(frameon=False, fontsize=legend_size)
    add_title(fig, title)
    fig.tight_layout()
    return save_figure(fig, stem)


def rdf_figure(data, stem, title=None):
    return _panel_row(rdf_panel, data, "condition", stem, title=title)


def neb_figure(data, stem, title=None):
    return _panel_row(neb_panel, data, "case", stem, legend_size=7, title=title)


def diffusion_figure(msd, coeffs, fits, stem, title=None):
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(6.8, 2.8))
    msd_panel(a1, msd)
    a1.legend(frameon=False, fontsize=7)
    arrhenius_panel(a2, coeffs, fits)
    a2.legend(frameon=False, fontsize=7)
    add_title(fig, title)
    fig.tight_layout()
    return save_figure(fig, stem)


def _value_label(name, value, why, err=None):
    """Legend entry of a melting estimate: its value, or "not valid"."""
    if why or not np.isfinite(value):
        return f"{name}: not valid"
    return f"{name}: {value:.0f}±{err:.0f} K" if err is not None else f"{name}: {value:.0f} K"


def melting_figure(ramp, coex, results, stem, title=None):
    plt = _plt()
    n = 3 if len(coex) else 2
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 2.8))
    for eng, style, mk in (("model", MODEL, "o"), ("oracle", REF, "s")):
        r = ramp[ramp["engine"] == eng]
        if not len(r):
            continue
        name = "alff" if eng == "model" else "oracle"
        ramp_res = results[eng]["ramp"]
        why = ramp_res.get("invalid") or {}
        for ax, key, what, y in ((axes[0], "Tm", "energy", r["epot"] - r["epot"].iloc[0]),
                                 (axes[1], "Tm_structure", "q6", r["solid_fraction"])):
            ax.plot(r["T_set"], y, marker=mk, ms=3, mfc="none",
                    label=_value_label(name, ramp_res[key], why.get(what)), **style)
            if not why.get(what) and np.isfinite(ramp_res[key]):
                ax.axvline(ramp_res[key], color=style["color"], lw=0.6, ls=":")
        if len(coex) and (coex["engine"] == eng).any():
            c = coex[coex["engine"] == eng]
            res = results[eng]["coexistence"]
            axes[2].plot(c["time_ps"], c["T"], label=_value_label(name, res["Tm"], res.get("invalid"), res["Tm_err"]),
                         **style)
    axes[0].set_xlabel("T (K)")
    axes[0].set_ylabel("$E_{pot} - E_{pot}(T_0)$ (eV/atom)")
    axes[0].set_title("heating ramp")
    axes[0].legend(frameon=False, fontsize=7)
    axes[1].set_xlabel("T (K)")
    axes[1].set_ylabel("solid fraction (q6)")
    axes[1].set_ylim(-0.05, 1.05)
    axes[1].legend(frameon=False, fontsize=7)
    if n == 3:
        axes[2].set_xlabel("time (ps)")
        axes[2].set_ylabel("T (K)")
        axes[2].set_title("solid-liquid coexistence (NVE)")
        axes[2].legend(frameon=False, fontsize=7)
    add_title(fig, title)
    fig.tight_layout()
    return save_figure(fig, stem)


def paper_figure(rdf, neb, msd, coeffs, fits, stem, title=None):
    """FLARE-style validation figure (Vandermause et al. 2020, Fig. 3-4 for
    aluminium): RDF solid and liquid, vacancy MSD, vacancy and adatom NEB
    profiles, Arrhenius plot; ``title`` names the element, oracle and
    scheme."""
    plt = _plt()
    fig, axes = plt.subplots(2, 3, figsize=(9.6, 5.8))
    conds = list(dict.fromkeys(rdf["condition"]))[:2]
    for ax, c in zip(axes[0][:2], conds):
        rdf_panel(ax, rdf, c)
    axes[0][0].legend(frameon=False)
    msd_panel(axes[0][2], msd)
    axes[0][2].legend(frameon=False, fontsize=7)
    cases = list(dict.fromkeys(neb["case"]))[:2]
    for ax, c in zip(axes[1][:2], cases):
        neb_panel(ax, neb, c)
    axes[1][0].legend(frameon=False, fontsize=7)
    arrhenius_panel(axes[1][2], coeffs, fits)
    axes[1][2].legend(frameon=False, fontsize=7)
    for k, ax in enumerate(axes.flat):
        ax.text(-0.02, 1.04, "abcdef"[k], transform=ax.transAxes, fontweight="bold", ha="right")
    add_title(fig, title)
    fig.tight_layout()
    return save_figure(fig, stem)
