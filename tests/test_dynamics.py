"""MD integrators, temperature schedules and exact continuation of a state."""

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT

from alff.dynamics import Integrator, MDState, Schedule, kinetic_temperature, thermalize
from alff.structure_io import read_frames, write_frames


def run(integ, x, p, force, steps, ensemble, T, rng):
    f = force(x)
    for _ in range(steps):
        p = integ.half_kick(p, f)
        x, p = integ.drift_thermostat(x, p, ensemble, T, rng)
        f = force(x)
        p = integ.half_kick(p, f)
    return x, p


def test_thermalize_exact_temperature_zero_momentum():
    m = np.full(50, 26.98)
    p = thermalize(m, 450.0, np.random.default_rng(0))
    assert kinetic_temperature(p, m) == pytest.approx(450.0, rel=1e-12)
    np.testing.assert_allclose(p.sum(axis=0), 0.0, atol=1e-10)


def test_nve_conserves_energy_emt_aluminium():
    a = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    a.calc = EMT()
    m = a.get_masses()
    integ = Integrator(m, 2.0)
    p = thermalize(m, 600.0, np.random.default_rng(1))
    x = a.get_positions()

    def etot(x, p):
        a.set_positions(x)
        return a.get_potential_energy() + 0.5 * np.sum(p ** 2 / m[:, None])

    def force(x):
        a.set_positions(x)
        return a.get_forces()

    e0 = etot(x, p)
    energies = []
    for _ in range(10):
        x, p = run(integ, x, p, force, 40, "nve", 0.0, None)
        energies.append(etot(x, p))
    drift = np.abs(np.array(energies) - e0).max() / len(a)
    assert drift < 2e-4  # eV/atom over 0.8 ps at 2 fs
    np.testing.assert_allclose(p.sum(axis=0), 0.0, atol=1e-8)  # NVE keeps the momentum


def test_langevin_samples_the_set_temperature():
    """Independent harmonic oscillators: <T_kin> must equal the bath."""
    n, k, T = 200, 2.0, 800.0
    m = np.full(n, 12.0)
    integ = Integrator(m, 2.0, friction_per_fs=0.02)
    rng = np.random.default_rng(2)
    x, p = np.zeros((n, 3)), np.zeros((n, 3))
    temps = []
    for _ in range(200):
        x, p = run(integ, x, p, lambda y: -k * y, 10, "langevin", T, rng)
        temps.append(kinetic_temperature(p, m, n_constraints=0))
    assert np.mean(temps[50:]) == pytest.approx(T, rel=0.03)
    # equipartition in the positions too: <k x^2> = kB T
    assert np.mean(k * x ** 2) == pytest.approx(units.kB * T, rel=0.15)


def test_schedule_segments_and_scaling():
    s = Schedule.from_config({"schedule": [{"temperature_K": 300, "steps": 10, "phase": "solid"},
                                           {"temperature_K": 1500, "steps": 5, "phase": "liquid", "rescale": True}]})
    assert s.total_steps == 15 and s.phases() == ["solid", "liquid"]
    assert s.segment_at(9)[1].phase == "solid"
    k, seg, start = s.segment_at(10)
    assert (k, seg.phase, start, seg.rescale) == (1, "liquid", 10, True)
    assert s.segment_at(99)[1].phase == "liquid"
    assert s.scaled(2.0).segments[1].temperature_K == 3000


def test_md_state_round_trip_continues_identically(tmp_path):
    """A Langevin run split in two through a saved state (extxyz) ends where
    the uninterrupted run ends."""
    a = bulk("Al", "fcc", a=4.05, cubic=True)
    a.calc = EMT()
    m = a.get_masses()
    integ = Integrator(m, 5.0)

    def force(x):
        a.set_positions(x)
        return a.get_forces()

    x0 = a.get_positions()
    p0 = thermalize(m, 300.0, np.random.default_rng(3))
    xa, pa = run(integ, x0, p0, force, 40, "langevin", 300.0, np.random.default_rng(4))
    rng = np.random.default_rng(4)
    xb, pb = run(integ, x0, p0, force, 20, "langevin", 300.0, rng)
    b = a.copy()
    b.calc = None
    b.set_positions(xb)
    b.set_momenta(pb)
    write_frames(tmp_path / "state.extxyz", [MDState(b, 20, 0.1, rng).to_atoms()])
    st = MDState.from_atoms(read_frames(tmp_path / "state.extxyz")[0])
    assert st.step == 20 and st.time_ps == pytest.approx(0.1)
    xc, pc = run(integ, st.atoms.get_positions(), st.atoms.get_momenta(), force, 20, "langevin", 300.0, st.rng)
    # extended XYZ keeps 8 decimals of positions and momenta
    np.testing.assert_allclose(xc, xa, atol=1e-5)
    np.testing.assert_allclose(pc, pa, atol=1e-5)
