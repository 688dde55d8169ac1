"""Benchmark: alff's GaussianProcess against FLARE's reference GP, same run.

fcc Al 2x2x2 (a = 4.046 A), positions perturbed uniformly by up to 5% of a,
labelled by ASE's EMT, cutoffs 5.0 / 4.0 A. For each number of training
environments (all atoms of consecutive frames): hyperparameter optimisation
time (whole fit: descriptors, kernels, L-BFGS-B), force + std prediction time
per atom on an independent 32-atom structure, and the test force RMSE.

FLARE (mir-flare 1.4.0, its pure-Python ``flare.bffs.gp``) is measured on
the same data from the same initial hyperparameters. Its source is fetched
with ``pip download --no-deps --no-binary :all: mir-flare==1.4.0`` into
bench/.flare unless ``--flare-src`` points at an unpacked copy.

Usage::

    python bench/gp.py --json bench/results/gp.json
    python bench/gp.py --sizes 20 40 --flare-sizes 20 --big 0   # quick

Writes JSON (one record per size, plus ``big`` and ``kernel_check``) and
prints a table. Ratios are FLARE time / alff time from the same run.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402
from ase.calculators.singlepoint import SinglePointCalculator  # noqa: E402

from alff.models import GaussianProcess  # noqa: E402

A = 4.046
CUTOFFS = {"twobody": 5.0, "threebody": 4.0}
HERE = Path(__file__).resolve().parent


def structure(seed):
    rng = np.random.default_rng(seed)
    atoms = bulk("Al", "fcc", a=A, cubic=True).repeat(2)
    atoms.positions += rng.uniform(-0.05 * A, 0.05 * A, atoms.positions.shape)
    atoms.calc = EMT()
    res = dict(energy=atoms.get_potential_energy(), forces=atoms.get_forces(), stress=atoms.get_stress())
    atoms.calc = SinglePointCalculator(atoms, **res)
    return atoms


def training_set(n_envs, seed0=1000):
    frames, idx = [], []
    left, s = n_envs, seed0
    while left > 0:
        frames.append(structure(s))
        idx.append(list(range(min(32, left))))
        left -= 32
        s += 1
    return frames, idx


def flare_source(path):
    if path:
        return Path(path)
    dest = HERE / ".flare"
    found = glob.glob(str(dest / "mir_flare-1.4.0"))
    if not found:
        dest.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "mir-flare==1.4.0", "-d", str(dest), "-q"], check=True)
        with tarfile.open(next(dest.glob("mir_flare-1.4.0.tar.gz"))) as tar:
            tar.extractall(dest, filter="data")
    return dest / "mir_flare-1.4.0"


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def run_alff(frames, idx, test, hyps0, repeat=3):
    t0 = time.perf_counter()
    gp = GaussianProcess(cutoffs=CUTOFFS, hyps=hyps0)
    gp.fit(frames, idx, optimize=True)
    t_opt = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = gp.predict(test, return_std=True)
        f, std = r["forces"], r["forces_std"]
        times.append(time.perf_counter() - t0)
    return gp, t_opt, min(times) / len(test) * 1e3, f, std


def flare_gp(frames, idx, hyps, maxiter):
    from flare.atoms import FLARE_Atoms
    from flare.bffs.gp import GaussianProcess as FlareGP

    gp = FlareGP(kernels=["twobody", "threebody"], component="mc", cutoffs=dict(CUTOFFS),
                 hyps=np.array(hyps), hyp_labels=["sig2", "ls2", "sig3", "ls3", "noise"],
                 maxiter=maxiter, parallel=False, n_cpus=1)
    for fr, ix in zip(frames, idx):
        st = FLARE_Atoms.from_ase_atoms(fr)
        gp.update_db(st, fr.get_forces(), custom_range=ix)
    return gp


def run_flare(frames, idx, test, hyps, maxiter, repeat=1):
    from flare.atoms import FLARE_Atoms
    from flare.bffs.gp.predict import predict_on_structure

    t0 = time.perf_counter()
    gp = flare_gp(frames, idx, hyps, maxiter)
    res = gp.train()
    t_opt = time.perf_counter() - t0
    st = FLARE_Atoms.from_ase_atoms(test)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f, std = predict_on_structure(st, gp, n_cpus=1, write_to_structure=False)
        times.append(time.perf_counter() - t0)
    return gp, res, t_opt, min(times) / len(test) * 1e3, f, std


def kernel_check(hyps):
    """Both codes' force/force covariance at identical hyperparameters."""
    frames, idx = training_set(20)
    ours = GaussianProcess(cutoffs=CUTOFFS, hyps=hyps).fit(frames, idx, optimize=False)
    K_ours = ours.L_ @ ours.L_.T
    fl = flare_gp(frames, idx, [hyps[k] for k in ("sigma2", "ls2", "sigma3", "ls3", "sigma_n")], 1)
    fl.set_L_alpha()
    K_fl = np.asarray(fl.ky_mat)
    return float(np.abs(K_ours - K_fl).max() / np.abs(K_fl).max())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 40, 100, 200, 400])
    ap.add_argument("--flare-sizes", type=int, nargs="*", default=[20, 40, 100, 200],
                    help="sizes at which FLARE runs too (FLARE's cost grows ~N^2: 400 takes hours)")
    ap.add_argument("--flare-src", default=None, help="unpacked mir-flare 1.4.0 source")
    ap.add_argument("--flare-maxiter", type=int, default=10, help="FLARE's default is 10")
    ap.add_argument("--big", type=int, default=1000, help="alff-only fit+optimise size (0: skip)")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()

    use_flare = bool(args.flare_sizes)
    if use_flare:
        sys.path.insert(0, str(flare_source(args.flare_src)))
        import logging
        logging.disable(logging.WARNING)

    test = structure(7)
    ref = test.get_forces()
    # warm up numba (compilation is not part of any timing)
    w_frames, w_idx = training_set(8, seed0=1)
    GaussianProcess(cutoffs=CUTOFFS).fit(w_frames, w_idx, optimize=True).predict(test, return_std=True)

    out = {"system": "fcc Al 2x2x2, a=4.046, 5% uniform perturbation, EMT labels",
           "cutoffs": CUTOFFS, "threads": {"numba": int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count())),
                                           "blas": 1, "flare_cpus": 1},
           "sizes": []}
    for n in args.sizes:
        frames, idx = training_set(n)
        # same starting hyperparameters for both codes (alff's data-based guess)
        hyps0 = GaussianProcess(cutoffs=CUTOFFS).fit(frames, idx, optimize=False).hyps_
        gp, t_opt, t_pred, f, std = run_alff(frames, idx, test, hyps0)
        rec = {"n_envs": n, "alff_opt_s": t_opt, "alff_nfev": int(gp.optimize_result_.nfev),
               "alff_predict_ms_per_atom": t_pred, "alff_rmse": rmse(f, ref),
               "alff_mean_std": float(std.mean()), "alff_hyps": gp.hyps_,
               "alff_log_likelihood": gp.log_likelihood_,
               "flare_opt_s": None, "flare_predict_ms_per_atom": None, "flare_rmse": None}
        if n in args.flare_sizes:
            start = [hyps0[k] for k in ("sigma2", "ls2", "sigma3", "ls3", "sigma_n")]
            fgp, res, ft_opt, ft_pred, ff, fstd = run_flare(frames, idx, test, start, args.flare_maxiter)
            rec.update(flare_opt_s=ft_opt, flare_nfev=int(res.nfev), flare_predict_ms_per_atom=ft_pred,
                       flare_rmse=rmse(ff, ref), flare_mean_std=float(np.mean(fstd)),
                       flare_hyps=[float(x) for x in fgp.hyps],
                       flare_log_likelihood=float(fgp.likelihood),
                       opt_speedup=ft_opt / t_opt, predict_speedup=ft_pred / t_pred,
                       rmse_ratio=rmse(f, ref) / rmse(ff, ref))
        out["sizes"].append(rec)
        _row(rec)
        if args.json:
            _dump(out, args.json)
    if args.big:
        frames, idx = training_set(args.big)
        t0 = time.perf_counter()
        gp = GaussianProcess(cutoffs=CUTOFFS).fit(frames, idx, optimize=True)
        dt = time.perf_counter() - t0
        f = gp.predict(test)["forces"]
        out["big"] = {"n_envs": args.big, "alff_fit_opt_s": dt, "alff_nfev": int(gp.optimize_result_.nfev),
                      "alff_rmse": rmse(f, ref), "kernel_s": gp.timings_.get("kernel_s")}
        print(f"\n{args.big} environments: fit + optimise {dt:.1f} s "
              f"({gp.optimize_result_.nfev} likelihood evaluations), test RMSE {rmse(f, ref):.4f} eV/A")
    if use_flare:
        h = out["sizes"][0].get("alff_hyps")
        out["kernel_check"] = {"max_rel_diff_Ky_vs_flare_20envs": kernel_check(h)}
        print(f"max |K_alff - K_flare| / max |K_flare| at 20 envs, same hyperparameters: "
              f"{out['kernel_check']['max_rel_diff_Ky_vs_flare_20envs']:.2e}")
    if args.json:
        _dump(out, args.json)
        print(f"wrote {args.json}")


HEADER = False


def _row(r):
    global HEADER
    if not HEADER:
        print(f"{'n_envs':>6} | {'opt s alff':>10} {'flare':>8} {'x':>6} | {'pred ms/atom alff':>17} "
              f"{'flare':>8} {'x':>6} | {'RMSE alff':>9} {'flare':>8} {'ratio':>6}")
        HEADER = True
    fmt = (lambda v, s: f"{v:{s}}" if v is not None else f"{'-':>{s.split('.')[0]}}")
    print(f"{r['n_envs']:>6} | {r['alff_opt_s']:10.2f} {fmt(r['flare_opt_s'], '8.1f')} "
          f"{fmt(r.get('opt_speedup'), '6.1f')} | {r['alff_predict_ms_per_atom']:17.3f} "
          f"{fmt(r['flare_predict_ms_per_atom'], '8.2f')} {fmt(r.get('predict_speedup'), '6.1f')} | "
          f"{r['alff_rmse']:9.4f} {fmt(r['flare_rmse'], '8.4f')} {fmt(r.get('rmse_ratio'), '6.3f')}",
          flush=True)


def _dump(out, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
