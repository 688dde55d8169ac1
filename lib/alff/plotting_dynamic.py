"""The dynamic-training figures (target ``dynamic``; Callsen, Lee, Chou 2025):
eps_B along training with mu_k and sigma_k (Fig. 2), test RMSE and
beta^-1/2 against the training-set size (Fig. 3), z_B distributions
(Fig. 4); phonon dispersion and DOS of the model against the oracle."""

from __future__ import annotations

import numpy as np

from .analysis.bayesian_convergence import skewness, trailing_stats
from .plotting import _plt, add_title, save_figure

__all__ = ["bayesian_error_figure", "convergence_figure", "z_figure", "phonon_figure"]

MEV = 1e3


def _finish(fig, panels, title, stem):
    """Panel letters (a), (b), ... at the top left (x offsets per panel),
    the title, and the PNG and PDF."""
    for (ax, x), letter in zip(panels, "abcdefgh"):
        ax.text(x, 0.97, f"({letter})", transform=ax.transAxes, va="top")
    add_title(fig, title)
    fig.tight_layout()
    return save_figure(fig, stem)


def _scored(log):
    """Log rows with an eps_B (scored steps), in time order."""
    sub = log[np.isfinite(log["max_uncertainty"])]
    return sub.sort_values("time_ps", kind="stable")


def bayesian_error_figure(data, selectors, k, stem, title=None):
    """Fig. 2: per scheme, eps_B of the logged steps, its running mean mu_k
    and mu_k +- sigma_k over the previous ``k`` MD steps, the criterion's
    threshold and the oracle calls (refits).

    Parameters
    ----------
    data : dict
        Scheme -> ``log`` and ``calls`` (DataFrames of the learning log and
        the oracle calls).
    selectors : dict
        Scheme -> selector section (its kind names the panel).
    k : int
        Window in MD steps.
    """
    plt = _plt()
    from matplotlib import ticker
    names = list(data)
    fig, axes = plt.subplots(len(names), 1, figsize=(6.0, 2.3 * len(names)), sharex=True, squeeze=False)
    for ax, name, letter in zip(axes[:, 0], names, "abcdefgh"):
        sub = _scored(data[name]["log"])
        t, eps = sub["time_ps"].to_numpy(), sub["max_uncertainty"].to_numpy() * MEV
        steps = sub["step"].to_numpy()
        stride = float(np.median(np.diff(steps))) if len(steps) > 1 else 1.0
        mu, sd = trailing_stats(eps, max(int(round(k / max(stride, 1.0))), 1))
        ax.plot(t, eps, color="0.6", lw=0.5, label=r"$\epsilon_B$")
        ax.plot(t, mu, color="C0", lw=1.2, label=rf"$\mu_k$ ($k$ = {k} steps)")
        ax.fill_between(t, mu - sd, mu + sd, color="C0", alpha=0.2, lw=0, label=r"$\mu_k \pm \sigma_k$")
        thr = sub["threshold"].to_numpy() * MEV
        if np.any(np.isfinite(thr)):
            ax.plot(t, thr, color="C3", lw=0.8, ls="--", label="threshold")
        calls = data[name]["calls"]
        ok = calls[calls["status"] == "ok"] if len(calls) else calls
        for x in ok["time_ps"] if len(ok) else []:
            ax.axvline(x, color="C1", lw=0.5, alpha=0.6)
        ax.plot([], [], color="C1", lw=0.8, label="oracle call")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
        ax.tick_params(axis="y", which="minor", labelsize=6)
        ax.set_ylabel(r"$\epsilon_B$ (meV/$\mathrm{\AA}$)")
        ax.set_title(f"({letter}) {name}: {selectors[name].get('kind', '')}, {len(ok)} oracle calls", fontsize=8,
                     loc="left")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=7, frameon=False)
    axes[-1, 0].set_xlabel("time (ps)")
    add_title(fig, title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save_figure(fig, stem)


def convergence_figure(data, stem, title=None):
    """Fig. 3: test RMSE, beta^-1/2 and sqrt(beta^-1 + <eps_B^2>) (the RMSE
    the model predicts for itself) against the number of training
    structures, per scheme; (b) the mean test eps_B."""
    plt = _plt()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(7.0, 3.0))
    for j, (name, d) in enumerate(data.items()):
        c = d["curve"]
        n = c["n_structures"]
        col = f"C{j}"
        ax.plot(n, c["rmse"] * MEV, "o-", color=col, ms=3, lw=1.0, label=f"{name}: test RMSE")
        ax.plot(n, c["noise"] * MEV, "s--", color=col, ms=3, lw=0.8, mfc="none", label=rf"{name}: $\beta^{{-1/2}}$")
        ax.plot(n, c["predicted_rmse"] * MEV, ":", color=col, lw=1.0,
                label=rf"{name}: $\sqrt{{\beta^{{-1}} + \langle\epsilon_B^2\rangle}}$")
        bx.plot(n, c["mean_eps_b"] * MEV, "o-", color=col, ms=3, lw=1.0, label=name)
    if len(data):
        n0 = max(float(d["curve"]["n_structures"].iloc[0]) for d in data.values())
        n1 = max(float(d["curve"]["n_structures"].iloc[-1]) for d in data.values())
        if n1 > n0:
            e0 = np.mean([float(d["curve"]["mean_eps_b"].iloc[0]) for d in data.values()]) * MEV
            nn = np.geomspace(n0, n1, 10)
            bx.plot(nn, e0 * np.sqrt(n0 / nn), color="0.5", lw=0.8, ls="--", label=r"$\propto N^{-1/2}$")
    from matplotlib import ticker
    for a in (ax, bx):
        a.set_xscale("log")
        a.xaxis.set_major_formatter(ticker.ScalarFormatter())
        a.xaxis.set_minor_formatter(ticker.NullFormatter())
        a.set_xlabel("training structures")
    bx.set_yscale("log")
    ax.set_ylabel(r"force error (meV/$\mathrm{\AA}$)")
    bx.set_ylabel(r"mean test $\epsilon_B$ (meV/$\mathrm{\AA}$)")
    ax.legend(fontsize=6)
    bx.legend(fontsize=7)
    return _finish(fig, ((ax, 0.02), (bx, 0.02)), title, stem)


def z_figure(data, stem, title=None):
    """Fig. 4: z_B of the test forces with the full training set and with
    the subset of about twice its RMSE, against the standard normal; std
    and skewness in the legend."""
    plt = _plt()
    names = list(data)
    fig, axes = plt.subplots(1, len(names), figsize=(3.3 * len(names), 2.8), squeeze=False, sharey=True)
    x = np.linspace(-5, 5, 200)
    for ax, name, letter in zip(axes[0], names, "abcdefgh"):
        d = data[name]
        sub = d["summary"]["subset"]
        for key, col, what in (("full", "C0", f"all {d['summary']['n_structures']}"),
                               ("subset", "C3", f"first {sub['n_structures']} (RMSE x{sub['rmse_ratio']:.1f})")):
            z = np.asarray(d["z"][key])
            ax.hist(z, bins=np.linspace(-5, 5, 61), density=True, histtype="step", color=col, lw=1.0,
                    label=f"{what}: std {np.std(z):.2f}, skew {skewness(z):+.2f}")
        ax.plot(x, np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi), color="0.3", lw=0.8, ls="--", label="N(0, 1)")
        ax.set_ylim(0, 0.62)  # room for the legend above N(0, 1)'s peak of 0.40
        ax.set_xlabel(r"$z_B$")
        ax.text(0.02, 0.95, f"({letter}) {name}", transform=ax.transAxes, va="top", fontsize=8)
        ax.legend(fontsize=6, loc="upper right")
    axes[0, 0].set_ylabel("density")
    add_title(fig, title)
    fig.tight_layout()
    return save_figure(fig, stem)


def phonon_figure(res, stem, title=None):
    """(a) Dispersion along the special path, oracle (solid) and model
    (dashed); (b) the total DOS of both. A failed side is named in the
    legend instead of drawn."""
    plt = _plt()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(7.0, 3.0), sharey=True, gridspec_kw={"width_ratios": [3.0, 1.0]})
    styles = {"oracle": dict(color="k", lw=1.0, ls="-"), "model": dict(color="C0", lw=1.0, ls="--")}
    for side in ("oracle", "model"):
        d = res[side]
        if "error" in d:
            ax.plot([], [], **styles[side], label=f"{side}: failed ({d['error'][:60]})")
            continue
        for b in range(d["frequencies"].shape[1]):
            ax.plot(res["x"], d["frequencies"][:, b], **styles[side], label=side if b == 0 else None)
        bx.plot(d["dos"], d["dos_frequency"], **styles[side])
    for x0, label in res.get("special", []):
        ax.axvline(x0, color="0.8", lw=0.5)
    if res.get("special"):
        xs = [x for x, _ in res["special"]]
        ax.set_xticks(xs, [r"$\Gamma$" if lab == "G" else lab for _, lab in res["special"]])
        ax.set_xlim(min(xs), max(xs))
    ax.set_ylabel("frequency (THz)")
    ax.legend(fontsize=7, loc="lower right")
    bx.set_xlabel("DOS (1/THz)")
    bx.set_xlim(left=0)
    return _finish(fig, ((ax, 0.01), (bx, 0.05)), title, stem)
