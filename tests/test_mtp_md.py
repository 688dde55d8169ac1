"""The moment tensor potential in the compiled MD loop: forces, energy
conservation, thermostat and barostat, the extrapolation grade per step,
grade_break, and atoms closer than r_min."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from alff.md import MD, VerletList
from alff.md.compiled import _forces_graded, _verlet_arrays
from alff.md.mtp_forces import mtp_tables
from alff.models.linear.mtp import MTPInputError
from alff.models.linear.mtp_model import MTPModel

A_CU = 3.61


def emt_cu(n, seed, gold=0):
    """``n`` rattled, strained 32-atom fcc Cu cells labelled by EMT (with
    ``gold`` random atoms Au)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = bulk("Cu", "fcc", a=A_CU * rng.uniform(0.97, 1.04), cubic=True).repeat(2)
        a.symbols[rng.choice(len(a), gold, replace=False)] = "Au"
        a.rattle(rng.uniform(0.05, 0.15), seed=int(rng.integers(1 << 30)))
        a.calc = EMT()
        res = dict(energy=a.get_potential_energy(), forces=a.get_forces(), stress=a.get_stress())
        a.calc = SinglePointCalculator(a, **res)
        out.append(a)
    return out


@pytest.fixture(scope="module")
def model():
    return MTPModel(level=10, r_max=4.5).fit(emt_cu(12, 0))


def crystal(reps=3, rattle=0.05, seed=3):
    a = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat(reps)
    a.rattle(rattle, seed=seed)
    return a


def test_loop_forces_equal_the_potentials_evaluate(model):
    """The loop's force call on a Verlet list with a skin, at positions
    moved inside the skin, against MomentTensorPotential.evaluate (its own
    neighbour list at r_max); the grade against MTPModel.grade."""
    pot = model.potential
    rng = np.random.default_rng(1)
    a = crystal(2)
    vl = VerletList(pot.r_max, 1.0)
    x, cell = np.array(a.positions), np.array(a.cell[:])
    vl.build(x, cell, a.pbc)
    b = a.copy()
    b.positions = x + rng.uniform(-0.2, 0.2, x.shape)
    e, e_at, F, W, bad, grade = _forces_graded(b.positions, cell, _verlet_arrays(vl), pot.types(b),
                                               mtp_tables(pot, model.active_set()))
    e_ref, F_ref, s_ref = pot.evaluate(b)
    assert bad == -1
    assert e == pytest.approx(e_ref.sum(), abs=1e-10)
    np.testing.assert_allclose(e_at, e_ref, atol=1e-11)
    np.testing.assert_allclose(F, F_ref, atol=1e-10)
    np.testing.assert_allclose([W[0, 0], W[1, 1], W[2, 2], W[1, 2], W[0, 2], W[0, 1]], s_ref * b.get_volume(),
                               atol=1e-9)
    assert np.abs(F).max() > 0.1  # not a trivial comparison
    assert grade == pytest.approx(model.grade(b).max(), rel=1e-10)


@pytest.mark.parametrize("pressure", [None, 1.0])
def test_compiled_loop_follows_the_ase_calculator_path(model, pressure):
    """The same NVE trajectory (with a Berendsen barostat: the virial) through
    the model's ASE calculator in the Python loop and in the compiled loop."""
    out = []
    for potential in (model, model.calculator()):
        a = crystal(2)
        md = MD(a, potential, timestep_fs=2.0, ensemble="nve", temperature_K=300.0, pressure_GPa=pressure,
                tau_p_fs=50.0, compressibility_per_GPa=0.01, seed=4)
        md.run(40, thermo_every=40)
        out.append(np.concatenate([a.positions.ravel(), a.get_velocities().ravel(), a.cell[:].ravel()]))
    np.testing.assert_allclose(out[0], out[1], atol=1e-8)
    if pressure is not None:
        assert abs(out[0][-9] - A_CU * 2) > 1e-4  # the barostat did move the cell


def test_nve_conserves_energy(model):
    """108 atoms, 1 fs, 3 ps at ~300 K, a small skin (many list rebuilds).
    Measured (seeds 1-3): |drift| <= 1.3e-6 eV/atom/ps, peak-to-peak
    <= 1.4e-5 eV/atom; the bounds are 15x that (a wrong force sign or
    factor costs eV/atom)."""
    a = crystal(3)
    md = MD(a, model.potential, timestep_fs=1.0, ensemble="nve", temperature_K=300.0, skin=0.3, seed=1)
    rows = md.run(3000, thermo_every=25)
    t = np.array([r["time_ps"] for r in rows])
    E = np.array([r["total_energy_eV"] for r in rows]) / len(a)
    assert abs(np.polyfit(t, E, 1)[0]) < 2e-5  # eV/atom/ps
    assert np.ptp(E) < 2e-4
    assert np.mean([r["temperature_K"] for r in rows[20:]]) > 100.0  # the atoms did move
    assert md.vl.builds > 1


def test_langevin_reaches_its_temperature(model):
    a = crystal(3)
    md = MD(a, model, timestep_fs=2.0, ensemble="langevin", temperature_K=450.0, friction_per_fs=0.05, seed=2)
    rows = md.run(2500, thermo_every=5)
    T = np.mean([r["temperature_K"] for r in rows[100:]])
    assert T == pytest.approx(450.0, rel=0.05)


def test_the_loops_grade_is_the_models_grade(model):
    a = crystal(2)
    md = MD(a, model, timestep_fs=2.0, ensemble="langevin", temperature_K=600.0, seed=5, grade=True)
    rows = md.run(150, thermo_every=50)
    g = md.grades
    assert g.shape == (151,)
    assert g[-1] == pytest.approx(model.grade(md.atoms).max(), rel=1e-10)
    assert g[0] == pytest.approx(model.grade(crystal(2)).max(), rel=1e-10)
    assert [r["grade_max"] for r in rows] == [g[0], g[1:51].max(), g[51:101].max(), g[101:].max()]
    assert np.ptp(g) > 0.05  # the grade does change along the run
    rows = md.run(10, thermo_every=10)  # a second run continues the history
    assert md.grades.shape == (161,) and rows[0]["grade_max"] == pytest.approx(g[-1], rel=1e-10)
    assert md.stopped_by_grade is None


def test_grade_break_stops_at_the_first_step_at_or_above_it(model, tmp_path):
    def run(grade_break):
        md = MD(crystal(2), model, timestep_fs=2.0, ensemble="nve", temperature_K=800.0, seed=6, grade=True,
                grade_break=grade_break)
        return md, md.run(300, thermo_every=100, trajectory=tmp_path / f"{grade_break}.extxyz", traj_every=100)

    free, _ = run(None)
    g = free.grades
    brk = 0.5 * (g[0] + g.max())
    first = int(np.argmax(g >= brk))
    assert 0 < first < 300
    md, rows = run(brk)
    assert md.stopped_by_grade == first == md.step and md.stop_grade == g[first]
    np.testing.assert_array_equal(md.grades, g[:first + 1])
    assert rows[-1]["step"] == first and rows[-1]["grade_max"] == g[(first - 1) // 100 * 100 + 1:first + 1].max()
    assert model.grade(md.atoms).max() == pytest.approx(g[first], rel=1e-10)  # the atoms are left at that step
    from ase.io import read
    assert read(tmp_path / f"{brk}.extxyz", -1).info["step"] == first


def test_a_compressed_cell_stops_before_the_first_step(model):
    """The cell compressed by 15%: far outside the training data."""
    a = crystal(2)
    a.set_cell(a.cell[:] * 0.85, scale_atoms=True)
    x0 = a.positions.copy()
    md = MD(a, model, timestep_fs=1.0, temperature_K=300.0, grade=True, grade_break=5.0)
    rows = md.run(100, thermo_every=10)
    assert md.stopped_by_grade == 0 and md.step == 0 and len(rows) == 1
    assert md.stop_grade == rows[0]["grade_max"] > 5.0
    np.testing.assert_array_equal(a.positions, x0)


def test_atoms_closer_than_r_min_stop_the_run(model):
    r_min = model.potential.r_min
    a = crystal(2, rattle=0.0)
    a.positions[1] = a.positions[0] + [0.9 * r_min, 0.0, 0.0]
    with pytest.raises(MTPInputError, match=r"atoms (0 and 1|1 and 0) are .* closer than the MTP's r_min"):
        MD(a, model.potential, temperature_K=10.0).run(10)
    # in the loop: two neighbours fired at each other
    a = crystal(2, rattle=0.0)
    d = a.positions[1] - a.positions[0]
    v = np.zeros((len(a), 3))
    v[0], v[1] = 0.5 * d, -0.5 * d  # ASE velocity units: closing at ~1 A per 10 fs
    a.set_velocities(v)
    md = MD(a, model, timestep_fs=0.5, temperature_K=0.0)
    with pytest.raises(MTPInputError, match=r"atoms (0 and 1|1 and 0) are .* closer than the MTP's r_min"):
        md.run(200, thermo_every=200)
    assert 0 < md.step < 200


def test_arguments_of_the_grade(model):
    with pytest.raises(ValueError, match="needs an MTPModel"):
        MD(crystal(2), model.potential, grade=True)
    with pytest.raises(ValueError, match="grade_break needs grade"):
        MD(crystal(2), model, grade_break=2.0)
    md = MD(crystal(2), model.potential, grade=model.active_set())  # an active set given as is
    md.run(5, thermo_every=5)
    assert md.grades.shape == (6,) and md.compiled and not md.mapped


@pytest.mark.parametrize("species, gold", [(["Cu"], 0), (["Cu", "Au"], 8)])
def test_an_mlip_mode_model_grades_in_the_loop(species, gold):
    """The MLIP mode's fitted radial coefficients run in the same kernel, and
    its grade rows (with d E_i / d radial coefficients of each centre's
    species block, from the kernel's backward pass) give the loop the
    model's grade: one species and two."""
    train = emt_cu(6, 1, gold)
    mlip = MTPModel(species=species, level=6, r_max=4.5, r_min=1.6, mode="mlip",
                    radial_fit={"max_iter": 10}).fit(train)
    a = train[2].copy()
    vl = VerletList(mlip.potential.r_max, 1.0)
    vl.build(a.positions, a.cell[:], a.pbc)
    rng = np.random.default_rng(4)
    b = a.copy()
    b.positions = a.positions + rng.uniform(-0.3, 0.3, a.positions.shape)
    _, e_at, F, _, _, grade = _forces_graded(b.positions, np.array(a.cell[:]), _verlet_arrays(vl),
                                             mlip.potential.types(b),
                                             mtp_tables(mlip.potential, mlip.grade_matrix()))
    e_ref, F_ref, _ = mlip.potential.evaluate(b)
    np.testing.assert_allclose(F, F_ref, atol=1e-10)
    np.testing.assert_allclose(e_at, e_ref, atol=1e-11)
    assert grade == pytest.approx(mlip.grade(b).max(), rel=1e-9)
    assert grade > 1.0  # outside the training neighbourhoods: the radial rows matter
    md = MD(a, mlip, timestep_fs=1.0, temperature_K=300.0, seed=2, grade=True)
    md.run(20, thermo_every=20)
    assert md.step == 20
    assert md.grades[-1] == pytest.approx(mlip.grade(md.atoms).max(), rel=1e-9)
    with pytest.raises(ValueError, match="MLIP-mode grade rows"):
        mtp_tables(mlip.potential, np.zeros((len(species) + mlip.potential.basis.size + 1, 3)))


def test_a_model_refitted_between_runs_runs_its_new_coefficients():
    m = MTPModel(level=8, r_max=4.5).fit(emt_cu(6, 2))
    md = MD(crystal(2), m, timestep_fs=2.0, temperature_K=300.0, seed=7, grade=True)
    md.run(5, thermo_every=5)
    before = m.potential.moment_coeffs.copy()
    m.update(emt_cu(6, 3))
    assert not np.allclose(m.potential.moment_coeffs, before)
    rows = md.run(5, thermo_every=5)
    e_ref, _, _ = m.potential.evaluate(md.atoms)
    assert rows[-1]["potential_energy_eV"] == pytest.approx(e_ref.sum(), abs=1e-9)
    assert md.grades[-1] == pytest.approx(m.grade(md.atoms).max(), rel=1e-10)  # against the new active set
