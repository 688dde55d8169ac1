"""Figures of a learning run (PNG and PDF, paper-sized)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import atomic_path

__all__ = ["learning_figure", "hull_figure", "parity_figure", "calibration_figure", "save_figure", "figure_title", "add_title"]


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 9, "axes.labelsize": 9, "legend.fontsize": 8, "figure.dpi": 150,
                         "savefig.bbox": "tight"})
    return plt


def save_figure(fig, stem):
    """Write ``stem.png`` and ``stem.pdf``; returns both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:
        with atomic_path(p) as tmp:
            fig.savefig(tmp)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return paths


def figure_title(element, crystal=None, oracle=None, scheme=None):
    """What a figure shows, for its title: "Cu fcc · oracle emt · scheme
    flare" (parts that are None are left out).

    Parameters
    ----------
    element : str
    crystal : str, optional
    oracle : dict or str, optional
        The oracle section (its ``kind``, and ``calculator`` for kind
        calculator) or a label.
    scheme : str, optional
    """
    if isinstance(oracle, dict):
        kind = oracle.get("kind")
        oracle = str(oracle.get("calculator") or kind).rsplit(".", 1)[-1] if kind == "calculator" else kind
    parts = [" ".join(p for p in (element, crystal) if p)]
    parts += [f"oracle {oracle}"] if oracle else []
    parts += [f"scheme {scheme}"] if scheme else []
    return " · ".join(p for p in parts if p)


def add_title(fig, title):
    """``title`` above all panels of ``fig`` (nothing when None)."""
    if title:
        fig.suptitle(title, fontsize=9)


def learning_figure(log, calls, stem, title=None, score=None):
    """FLARE Fig. 3a,b: temperature vs time with oracle calls marked;
    cumulative oracle calls and the model's fitted label noise (FLARE's
    sigma_n); with ``score``, a panel (c) of the selector's score (the
    learning log's max_uncertainty: FLARE's force std, MLIP's extrapolation
    grade) against its threshold, calls marked at their score.

    Parameters
    ----------
    log : pandas.DataFrame
        Learning log (columns step, time_ps, temperature_K, noise,
        n_oracle_calls, event, phase, max_uncertainty, threshold; optional
        ``trajectory``).
    calls : pandas.DataFrame
        One row per oracle call (time_ps, status, max_uncertainty; optional
        ``trajectory``).
    score : (str, bool), optional
        The score's axis label and whether its axis is logarithmic.
    """
    plt = _plt()
    if score is None:
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(3.5, 4.6), sharex=True)
    else:
        fig, (ax1, ax2, ax4) = plt.subplots(3, 1, figsize=(3.5, 6.6), sharex=True)
    trajs = log["trajectory"].unique() if "trajectory" in log else [None]
    for tr in trajs:
        sub = log if tr is None else log[log["trajectory"] == tr]
        ax1.plot(sub["time_ps"], sub["temperature_K"], lw=0.8, label=str(tr) if tr is not None and len(trajs) > 1 else None)
    if len(calls):
        # mark each call on its own trajectory's temperature curve
        y = np.full(len(calls), np.nan)
        for tr in trajs:
            sub = log if tr is None or "trajectory" not in calls else log[log["trajectory"] == tr]
            sel = np.ones(len(calls), bool) if tr is None or "trajectory" not in calls else \
                (calls["trajectory"] == tr).to_numpy()
            order = np.argsort(sub["time_ps"].to_numpy(), kind="stable")
            y[sel] = np.interp(calls["time_ps"].to_numpy()[sel], sub["time_ps"].to_numpy()[order],
                               sub["temperature_K"].to_numpy()[order])
        ok = (calls["status"] == "ok").to_numpy()
        for sel, kw in ((ok, dict(marker="o", s=10, c="C3", label="oracle call", zorder=3)),
                        (~ok, dict(marker="x", s=14, c="k", label="failed call", zorder=3))):
            if sel.any():
                ax1.scatter(calls["time_ps"].to_numpy()[sel], y[sel], **kw)
    ax1.set_ylabel("temperature (K)")
    ax1.legend(frameon=False, loc="upper left")
    ax1.text(0.98, 0.05, "(a)", transform=ax1.transAxes, ha="right")
    if len(calls):
        c = calls.sort_values("time_ps", kind="stable")
        ax2.step(np.r_[0.0, c["time_ps"].to_numpy(), log["time_ps"].max()],
                 np.r_[0, np.arange(1, len(c) + 1), len(c)], where="post", color="C0")
    ax2.set_ylabel("cumulative oracle calls", color="C0")
    ax2.set_xlabel("time (ps)")
    ax3 = ax2.twinx()
    for k, tr in enumerate(trajs):
        sub = log if tr is None else log[log["trajectory"] == tr]
        sub = sub.sort_values("time_ps", kind="stable")
        ax3.plot(sub["time_ps"], sub["noise"] * 1000.0, color="C1", lw=1.0, ls=("-", "--", ":", "-.")[k % 4])
    ax3.set_ylabel(r"force noise $\sigma_n$ (meV/$\mathrm{\AA}$)", color="C1")
    ax2.text(0.98, 0.05, "(b)", transform=ax2.transAxes, ha="right")
    if score is not None:
        _score_panel(ax4, log, calls, trajs, *score)
        ax2.set_xlabel("")
    add_title(fig, title)
    fig.tight_layout()
    return save_figure(fig, stem)


def _score_panel(ax, log, calls, trajs, label, log_scale):
    """(c): the selector's score per logged step, its threshold, the calls."""
    for k, tr in enumerate(trajs):
        sub = log if tr is None else log[log["trajectory"] == tr]
        sub = sub[np.isfinite(sub["max_uncertainty"])].sort_values("time_ps", kind="stable")  # scored steps
        ax.plot(sub["time_ps"], sub["max_uncertainty"], color="C0", lw=0.8, ls=("-", "--", ":", "-.")[k % 4])
        ax.plot(sub["time_ps"], sub["threshold"], color="0.4", lw=0.8, ls="--",
                label="threshold" if k == 0 else None)
    if len(calls) and "max_uncertainty" in calls:
        ok = (calls["status"] == "ok").to_numpy()
        ax.scatter(calls["time_ps"].to_numpy()[ok], calls["max_uncertainty"].to_numpy()[ok], marker="o", s=10,
                   c="C3", label="oracle call", zorder=3)
    if log_scale:
        from matplotlib import ticker
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_ylabel(label)
    ax.set_xlabel("time (ps)")
    ax.legend(frameon=False, loc="upper left", fontsize="small")
    ax.text(0.98, 0.05, "(c)", transform=ax.transAxes, ha="right")


def hull_figure(x, ef_ref, hull_ref, panels, species, stem):
    """The MLIP paper's Fig. 9: formation energies of the relaxed pool
    against composition, the oracle's and each model's, with both hulls;
    one panel per MTP level.

    Parameters
    ----------
    x, ef_ref : (n,) float arrays
        Composition (fraction of ``species[1]``) and the oracle's formation
        energies (eV/atom).
    hull_ref : list of int
    panels : dict
        level -> ((n,) model formation energies, model hull indices).
    species : list of str
    """
    plt = _plt()
    n = max(len(panels), 1)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 3.0), sharey=True, squeeze=False)
    for ax, (level, (ef, hull)) in zip(axes[0], sorted(panels.items())):
        ax.scatter(x, 1e3 * ef_ref, s=9, facecolors="none", edgecolors="0.45", lw=0.6, label="oracle")
        ax.scatter(x, 1e3 * ef, s=5, c="C0", label=f"MTP level {level}")
        ax.plot(x[hull_ref], 1e3 * ef_ref[hull_ref], color="0.3", lw=1.0, ls="--", label="oracle hull")
        ax.plot(x[hull], 1e3 * ef[hull], color="C3", lw=1.0, label="MTP hull")
        ax.set_xlabel(f"fraction of {species[1]} in {species[0]}-{species[1]}")
        ax.set_title(f"level {level}", fontsize="medium")
    axes[0][0].set_ylabel("formation energy (meV/atom)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    labels = ["MTP" if lab.startswith("MTP level") else lab for lab in labels]
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    # one legend below the panels, clear of the data (the structures fill every panel)
    fig.legend(handles, labels, frameon=False, fontsize="small", loc="lower center", ncol=4)
    return save_figure(fig, stem)


def parity_figure(per_phase, stem, title=None):
    """Predicted vs oracle force components, one panel per phase.

    Parameters
    ----------
    per_phase : dict
        phase -> dict with ``ref``, ``pred`` (M, 3) and ``metrics``.
    """
    plt = _plt()
    n = max(len(per_phase), 1)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.7), squeeze=False)
    for ax, (phase, d) in zip(axes[0], per_phase.items()):
        r, p = np.asarray(d["ref"]).ravel(), np.asarray(d["pred"]).ravel()
        lim = float(np.abs(np.r_[r, p, 0.1]).max()) * 1.05
        ax.plot([-lim, lim], [-lim, lim], color="0.6", lw=0.8)
        ax.scatter(r, p, s=3, alpha=0.5, lw=0)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        m = d["metrics"]
        if m.get("rmse") is not None:
            ax.text(0.04, 0.96, f"{phase}\nRMSE {1000 * m['rmse']:.1f} meV/$\\mathrm{{\\AA}}$\n"
                    f"RMSE/P95|F| {100 * m['rmse_over_p95']:.1f}%", transform=ax.transAxes, va="top")
        ax.set_xlabel(r"oracle force (eV/$\mathrm{\AA}$)")
    axes[0][0].set_ylabel(r"model force (eV/$\mathrm{\AA}$)")
    add_title(fig, title)
    fig.tight_layout()
    return save_figure(fig, stem)


def calibration_figure(per_phase, stem, title=None):
    """Uncertainty calibration: |error| against the epistemic std (binned RMS
    error; sigma_n as a dotted line), and the z-score histogram (error over
    the total std, epistemic and noise) against the unit normal.

    Parameters
    ----------
    per_phase : dict
        phase -> dict with ``calibration`` (see
        :func:`alff.evaluation.calibration`), ``ref``, ``pred``, ``std``.
    """
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(6.4, 2.8))
    lo, hi = np.inf, 0.0
    for k, (phase, d) in enumerate(per_phase.items()):
        c = d["calibration"]
        err = np.abs(np.asarray(d["pred"]) - np.asarray(d["ref"])).ravel()
        s = np.asarray(d["std"]).ravel()
        ax1.scatter(s, err, s=2, alpha=0.15, lw=0, color=f"C{k}")
        ax1.plot(c["bin_std"], c["bin_rmse"], "o-", color=f"C{k}", ms=3, label=f"{phase} (binned RMS)")
        if len(s):
            lo, hi = min(lo, max(s.min(), 1e-6), max(err.min(), 1e-6)), max(hi, s.max(), err.max())
        z = np.asarray(c["z"])
        if len(z):
            ax2.hist(np.clip(z, -6, 6), bins=60, range=(-6, 6), density=True, histtype="step", color=f"C{k}",
                     label=f"{phase} (std {c['z_std']:.2f})")
    # sigma_n: one line when the phases share it (one model), else one
    # line style per phase, so coinciding lines cannot hide each other
    noises = {phase: d["noise"] for phase, d in per_phase.items() if d.get("noise")}
    if noises and np.ptp(list(noises.values())) <= 1e-9 * max(noises.values()):
        ax1.axhline(next(iter(noises.values())), color="0.3", lw=0.8, ls=":", label=r"$\sigma_n$ (model noise)")
    else:
        for j, (phase, v) in enumerate(noises.items()):
            k = list(per_phase).index(phase)
            ax1.axhline(v, color=f"C{k}", lw=0.8, ls=(":", "-.", (0, (1, 3)))[j % 3], label=rf"{phase} $\sigma_n$")
    if np.isfinite(lo) and hi > 0:
        ax1.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, ls="--", label="error = std")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel(r"epistemic std (eV/$\mathrm{\AA}$)")
    ax1.set_ylabel(r"|error| (eV/$\mathrm{\AA}$)")
    # legends below the panels, clear of the data
    ax1.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize=7)
    x = np.linspace(-6, 6, 400)
    ax2.plot(x, np.exp(-x ** 2 / 2) / np.sqrt(2 * np.pi), color="k", lw=0.8, label="unit normal")
    ax2.set_xlabel(r"z = error / $\sqrt{\mathrm{std}^2+\sigma_n^2}$")
    ax2.set_ylabel("density")
    ax2.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize=7)
    add_title(fig, title)
    fig.tight_layout()
    return save_figure(fig, stem)
