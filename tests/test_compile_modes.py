"""Results do not depend on how numba got its machine code (issue 12).

The same small computation (GP kernel matrices of every kernel path, a GP
fit with two hyperparameter iterations, predictions with stds, a coarse
mapped potential and a few steps of the compiled MD loop) runs in
subprocesses with (a) an empty numba cache, (b) the cache (a) filled,
(c) that cache with the MD module's and the vectorised kernels' entries
deleted, (d) the full cache with one numba thread; every array must be
bitwise the same. Before the fix, (b) differed from (a) in the last bits of
the force/force kernels (and so of everything downstream): a compiled
``fastmath`` callee ran its own machine code in (a) and its caller's
re-optimised copy in (b).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import alff

SCRIPT = r'''
import sys
import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from alff.kernels import blocks as bl
from alff.clusters import frame_clusters
from alff.md import MD
from alff.models import GaussianProcess
from alff.models.mapped import MappedPotential

def labelled(seed):
    rng = np.random.default_rng(seed)
    a = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 2, 1))
    a.positions += rng.normal(0, 0.12, a.positions.shape)
    a.calc = EMT()
    res = dict(energy=a.get_potential_energy(), forces=a.get_forces(), stress=a.get_stress())
    a.calc = SinglePointCalculator(a, **res)
    return a

out = {}
frames = [labelled(s) for s in range(2)]
# every kernel path: force/force, (force or energy)/energy, generic (energy+stress, atom blocks)
specs = []
for f in frames:
    fc = frame_clusters(f, np.zeros(len(f), int), 5.0, 4.0)
    specs += [(fc, "force", a, bl.FORCE_ROWS) for a in (0, 5, 9)]
    specs += [(fc, "es", 0, [(3, 1.0)])]
    specs += [(fc, "es", 0, [(3, 1.0)] + [(r, 1.0 / fc.volume) for r in range(4, 10)])]
    specs += [(fc, "atom", 2, [(r, 1.0) for r in range(10)])]
B = bl.build_blocks(specs, 1)
for k, v in zip(("K2", "K3", "dK2", "dK3"), bl.kernel_matrix(B, None, 0.9, 0.8, grad=True)):
    out[k] = v
out["d2"], out["d3"] = bl.self_kernel_diag(B, 0.9, 0.8)
gp = GaussianProcess(cutoffs={"twobody": 5.0, "threebody": 4.0}, energy_labels=True, maxiter=2)
gp.fit(frames, [range(0, 16, 3)] * 2, optimize=True)
out.update({"hyp_" + k: np.array(v) for k, v in gp.hyps_.items()})
out["alpha"] = gp.alpha_
test = labelled(7)
out.update({"gp_" + k: np.asarray(v) for k, v in gp.predict(test, ("energy", "forces"), return_std=True).items()})
mp = MappedPotential.from_model(gp, grid={"twobody": 0.1, "threebody": 0.5}, bounds={"rmin": 1.9})
for ens, kw in (("langevin", {}), ("bussi", {"pressure_GPa": 1.0})):
    a = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 2, 2))
    a.rattle(0.05, seed=3)
    MD(a, mp, timestep_fs=1.0, ensemble=ens, temperature_K=300.0, seed=1, **kw).run(10, thermo_every=10)
    out["md_" + ens] = np.concatenate([a.positions.ravel(), a.get_velocities().ravel(), a.cell[:].ravel()])
out.update({"map_" + k: np.asarray(v) for k, v in mp.predict(test).items()})
np.savez(sys.argv[1], **out)
'''


def _run(tmp_path, name, cache, threads=2):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), ALFF_NUMBA_CACHE_DIR=str(cache),
               NUMBA_NUM_THREADS=str(threads), NUMBA_DEBUG_CACHE="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(Path(alff.__file__).resolve().parents[1]))
    env.pop("SLURM_JOB_ID", None)
    out = tmp_path / f"{name}.npz"
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], env=env, capture_output=True, text=True,
                       cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    log = p.stdout
    return dict(np.load(out)), log.count("data loaded"), log.count("data saved")


def _differing(a, b):
    assert a.keys() == b.keys()
    return [k for k in a if a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes()]


def test_fresh_cached_and_partly_cached_kernels_give_bitwise_the_same_results(tmp_path):
    cache = tmp_path / "numba"
    fresh, loaded, saved = _run(tmp_path, "fresh", cache)
    assert loaded == 0 and saved > 0
    cached, loaded, saved = _run(tmp_path, "cached", cache)
    assert loaded > 0 and saved == 0, (loaded, saved)  # every function came from the cache
    diff = _differing(fresh, cached)
    assert not diff, f"fresh vs cached: {diff}"
    # a partial cache: the compiled MD loop's module and the vectorised kernels compile again,
    # everything they call comes from the cache
    gone = [p for p in cache.rglob("*") if p.is_file() and p.name.startswith(("compiled.", "vectorised."))]
    assert any(p.name.startswith("compiled.") for p in gone) and any(p.name.startswith("vectorised.") for p in gone)
    for p in gone:
        p.unlink()
    partial, loaded, saved = _run(tmp_path, "partial", cache)
    assert loaded > 0 and saved > 0, (loaded, saved)
    diff = _differing(fresh, partial)
    assert not diff, f"fresh vs partly cached: {diff}"
    one, _, _ = _run(tmp_path, "one_thread", cache, threads=1)
    diff = _differing(fresh, one)
    assert not diff, f"2 vs 1 numba threads: {diff}"
