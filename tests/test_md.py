"""The compiled MD engine: neighbour lists, energy conservation, thermostats,
barostat, output, and the ASE path."""

import itertools

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from alff.md import MD, VerletList
from alff.md.compiled import _forces, _verlet_arrays
from alff.models import GaussianProcess
from alff.models.mapped import MappedPotential
from alff.models.mapped_kernels import NeighborArrays, mapped_energy_forces

from conftest import label_emt


@pytest.fixture(scope="module")
def pot():
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(3):
        a = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 2, 1))
        a.positions += rng.normal(0, 0.15, a.positions.shape)
        frames.append(label_emt(a))
    gp = GaussianProcess(cutoffs={"twobody": 5.0, "threebody": 4.0},
                         hyps={"sigma2": 0.3, "ls2": 0.8, "sigma3": 0.02, "ls3": 0.9, "sigma_n": 0.01})
    gp.fit(frames, [range(0, 16, 2)] * 3, optimize=False)
    return MappedPotential.from_model(gp, bounds={"rmin": 1.9})


def brute_force(mp, atoms):
    """Energy and forces from an explicit image loop (no binning)."""
    rc = mp.cutoff
    cell = atoms.cell[:]
    reps = [int(np.ceil(rc / (atoms.get_volume() / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])))))
            if atoms.pbc[k] else 0 for k in range(3)]
    rows = []
    for i in range(len(atoms)):
        for j in range(len(atoms)):
            for S in itertools.product(*[range(-r, r + 1) for r in reps]):
                D = atoms.positions[j] + np.array(S) @ cell - atoms.positions[i]
                d = np.linalg.norm(D)
                if (i != j or any(S)) and d < rc:
                    rows.append((i, j, D, d))
    first = np.searchsorted([r[0] for r in rows], np.arange(len(atoms) + 1)).astype(np.int64)
    nbr = np.array([r[1] for r in rows], np.int64)
    D = np.array([r[2] for r in rows])
    d = np.array([r[3] for r in rows])
    e, _, F, W, _ = mapped_energy_forces(len(atoms), mp.codes(atoms), NeighborArrays(first, nbr, D, d),
                                         mp.kernel_args())
    return e, F, W


@pytest.mark.parametrize("case", ["cubic", "small_triclinic", "slab"])
def test_verlet_list_forces_equal_brute_force(pot, case):
    rng = np.random.default_rng(1)
    if case == "cubic":
        a = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 2, 2))
    elif case == "small_triclinic":
        a = bulk("Al", "fcc", a=4.05)  # 1 atom, primitive cell << cutoff
        a = a.repeat((2, 1, 1))
    else:
        a = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 2, 1))
        a.pbc = [True, True, False]
        a.center(vacuum=5.0, axis=2)
    a.positions += rng.normal(0, 0.05, a.positions.shape)
    vl = VerletList(pot.cutoff, 0.7)
    x = np.array(a.positions)
    cell = np.array(a.cell[:])
    vl.build(x, cell, a.pbc)
    # move atoms inside the skin: the list stays valid
    x2 = x + rng.uniform(-0.15, 0.15, x.shape)
    b = a.copy()
    b.positions = x2
    e, _, F, W, bad = _forces(x2, cell, _verlet_arrays(vl), pot.codes(a), pot.kernel_args())
    eb, Fb, Wb = brute_force(pot, b)
    assert bad < 0
    assert e == pytest.approx(eb, abs=1e-10)
    np.testing.assert_allclose(F, Fb, atol=1e-10)
    np.testing.assert_allclose(W, Wb, atol=1e-9)


def test_nve_energy_drift(pot):
    a = bulk("Al", "fcc", a=4.05, cubic=True).repeat(3)
    md = MD(a, pot, timestep_fs=1.0, ensemble="nve", temperature_K=300.0, seed=1)
    rows = md.run(2000, thermo_every=50)
    t = np.array([r["time_ps"] for r in rows])
    E = np.array([r["total_energy_eV"] for r in rows]) / len(a)
    slope = np.polyfit(t, E, 1)[0]
    assert abs(slope) < 1e-4  # eV/atom/ps (target)
    assert np.ptp(E) < 2e-4
    assert md.vl.builds >= 1


@pytest.mark.parametrize("ensemble", ["langevin", "bussi"])
def test_thermostats_reach_the_set_temperature(pot, ensemble):
    a = bulk("Al", "fcc", a=4.05, cubic=True).repeat(3)
    md = MD(a, pot, timestep_fs=2.0, ensemble=ensemble, temperature_K=500.0, friction_per_fs=0.02, tau_fs=50.0,
            seed=2)
    rows = md.run(6000, thermo_every=10)
    T = np.mean([r["temperature_K"] for r in rows[100:]])
    assert T == pytest.approx(500.0, rel=0.05)


@pytest.mark.parametrize("barostat, pressure", [("isotropic", 2.0), ("anisotropic", -1.0)])
def test_barostat_reaches_the_set_pressure(pot, barostat, pressure):
    a = bulk("Al", "fcc", a=4.05, cubic=True).repeat(3)
    a.set_cell(a.cell[:] * 1.02, scale_atoms=True)  # start away from the target
    md = MD(a, pot, timestep_fs=2.0, ensemble="bussi", temperature_K=300.0, pressure_GPa=pressure,
            barostat=barostat, tau_p_fs=200.0, seed=3)
    rows = md.run(5000, thermo_every=10)
    P = np.mean([r["pressure_GPa"] for r in rows[200:]])
    assert P == pytest.approx(pressure, abs=0.15)
    L = a.cell.lengths()
    if barostat == "anisotropic":
        assert np.ptp(L) < 0.02 * L.mean()  # cubic stays cubic on average
    assert abs(rows[-1]["volume_A3"] / rows[0]["volume_A3"] - 1) > 1e-3  # the cell did move


def test_output_and_seeded_reproducibility(pot, tmp_path):
    runs = []
    for k in range(2):
        a = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
        md = MD(a, pot, timestep_fs=2.0, ensemble="langevin", temperature_K=400.0, seed=7)
        md.run(100, thermo_every=20, trajectory=tmp_path / f"t{k}.extxyz", traj_every=50,
               thermo_csv=tmp_path / f"t{k}.csv")
        runs.append(a.positions.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    import pandas as pd
    from ase.io import read
    df = pd.read_csv(tmp_path / "t0.csv")
    assert list(df["step"]) == [0, 20, 40, 60, 80, 100]
    assert len(read(tmp_path / "t0.extxyz", ":")) == 3


def test_ase_calculator_path_matches_the_compiled_path(pot):
    """The same NVE trajectory through the mapped potential's ASE
    calculator (Python loop) and the compiled loop."""
    out = []
    for compiled in (True, False):
        a = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
        md = MD(a, pot if compiled else pot.calculator(), timestep_fs=2.0, ensemble="nve", temperature_K=300.0,
                seed=4)
        md.run(50, thermo_every=50)
        out.append(a.positions.copy())
    np.testing.assert_allclose(out[0], out[1], atol=1e-8)
    # and any ASE calculator runs
    a = bulk("Al", "fcc", a=4.05, cubic=True)
    rows = MD(a, EMT(), timestep_fs=2.0, ensemble="langevin", temperature_K=300.0).run(20, thermo_every=10)
    assert len(rows) == 3


def test_leaving_the_mapped_range_stops_with_a_clear_error(pot):
    a = Atoms("Al2", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[20, 20, 20], pbc=True)
    a.set_momenta([[8.0, 0, 0], [-8.0, 0, 0]])  # fast head-on collision (1.2 eV each)
    md = MD(a, pot, timestep_fs=1.0, ensemble="nve", temperature_K=0.0)
    with pytest.raises(ValueError, match="below the mapped range"):
        md.run(200, thermo_every=100)
