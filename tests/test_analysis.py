"""Analysis functions on cases with known answers."""

import numpy as np
import pytest
from ase import units
from ase.build import bulk

from alff.analysis import (arrhenius_fit, diffusion_coefficient, mean_squared_displacement, radial_distribution,
                           unwrap_positions)


def test_rdf_of_a_perfect_fcc_lattice():
    a0 = 4.05
    atoms = bulk("Al", "fcc", a=a0, cubic=True).repeat(4)
    r, g = radial_distribution([atoms], rmax=5.0, nbins=500)
    gaa = g[("Al", "Al")]
    np.testing.assert_array_equal(gaa, g[("all", "all")])
    rho = len(atoms) / atoms.get_volume()
    dr = r[1] - r[0]
    shells = [(a0 / np.sqrt(2), 12), (a0, 6), (a0 * np.sqrt(1.5), 24)]
    for d, n in shells:
        win = np.abs(r - d) < 0.05
        assert rho * np.sum(gaa[win] * 4 * np.pi * r[win] ** 2) * dr == pytest.approx(n, rel=1e-5)
        assert r[np.argmax(np.where(win, gaa, 0))] == pytest.approx(d, abs=dr)
    assert np.all(gaa[r < 2.5] == 0)


def test_partial_rdfs_of_rocksalt():
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2)
    r, g = radial_distribution([atoms], rmax=4.5, nbins=450)
    rho_cl = 0.5 * len(atoms) / atoms.get_volume()
    dr = r[1] - r[0]
    near = np.abs(r - 2.82) < 0.05
    assert rho_cl * np.sum(g[("Cl", "Na")][near] * 4 * np.pi * r[near] ** 2) * dr == pytest.approx(6.0, rel=1e-5)
    assert np.all(g[("Cl", "Cl")][near] == 0)  # like ions sit at a/sqrt(2)


def test_unwrap_then_msd_of_a_random_walk_gives_its_diffusion_coefficient():
    rng = np.random.default_rng(0)
    D_true, dt, T, N, L = 0.35, 0.01, 2000, 60, 6.0  # A^2/ps, ps
    steps = rng.normal(0, np.sqrt(2 * D_true * dt), (T, N, 3))
    x = np.cumsum(steps, axis=0)
    cell = np.eye(3) * L
    wrapped = x % L
    un = unwrap_positions(wrapped, cell)
    np.testing.assert_allclose(un - un[0], x - x[0], atol=1e-9)
    msd = mean_squared_displacement(un, max_lag=100)
    assert msd[0] == 0 and msd[100] == pytest.approx(6 * D_true * 100 * dt, rel=0.05)
    D, err = diffusion_coefficient(un, dt)
    assert 0 < err < 0.1 * D_true
    assert abs(D - D_true) < 4 * err + 0.02 * D_true


def test_arrhenius_fit_of_exact_and_noisy_data():
    T = np.array([600.0, 700.0, 800.0, 900.0, 1000.0])
    Ea, D0 = 0.62, 3.5
    D = D0 * np.exp(-Ea / (units.kB * T))
    fit = arrhenius_fit(T, D)
    assert fit["Ea"] == pytest.approx(Ea, rel=1e-10) and fit["D0"] == pytest.approx(D0, rel=1e-8)
    assert fit["Ea_err"] < 1e-8
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(200):
        err = 0.05 * D
        fit = arrhenius_fit(T, D + rng.normal(0, err), err)
        hits += abs(fit["Ea"] - Ea) < 2 * fit["Ea_err"]
    assert 0.88 < hits / 200 < 0.99  # ~95% coverage of the 2-sigma interval
    with pytest.raises(ValueError, match="positive"):
        arrhenius_fit([500, 600], [1.0, -1.0])


def test_melting_point_of_a_synthetic_energy_ramp():
    from alff.analysis import ramp_transition
    rng = np.random.default_rng(2)
    T = np.linspace(300, 1500, 241)
    Tm, L = 933.0, 0.11
    kB = units.kB
    E = -3.4 + 3 * kB * T + np.where(T > Tm, L + 0.5 * kB * (T - Tm), 0.0) + rng.normal(0, 0.004, T.size)
    res = ramp_transition(T, E)
    assert abs(res["Tm"] - Tm) <= max(2 * res["Tm_err"], 10.0)
    assert res["Tm_err"] < 30.0
    assert res["latent_heat"] == pytest.approx(L, abs=0.01)
    # superheated ramp without noise: the jump is located exactly between samples
    res = ramp_transition(T, -3.4 + 3 * kB * T + np.where(T > Tm, L, 0.0))
    assert T[res["split"] - 1] < Tm < T[res["split"]]
    with pytest.raises(ValueError, match="at least"):
        ramp_transition(T[:5], E[:5])


class CurvedValley:
    """E(x, y) = (x^2 - 1)^2 + k (y - x^2)^2 for one atom (z free): minima
    at (+-1, 1), saddle at (0, 0) with E = 1; the straight line between the
    minima crosses (0, 1) at E = 1 + k, so the band has to bend."""

    def __new__(cls, k=2.0):
        from ase.calculators.calculator import Calculator, all_changes

        class _Calc(Calculator):
            implemented_properties = ["energy", "forces"]

            def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
                super().calculate(atoms, properties, system_changes)
                x, y, _ = self.atoms.positions[0]
                self.results["energy"] = (x * x - 1) ** 2 + k * (y - x * x) ** 2
                dx = 4 * x * (x * x - 1) - 4 * k * x * (y - x * x)
                dy = 2 * k * (y - x * x)
                self.results["forces"] = np.array([[-dx, -dy, 0.0]])

        return _Calc()


def test_climbing_image_neb_finds_the_saddle_of_a_curved_valley():
    from ase import Atoms

    from alff.analysis import neb_path
    a = Atoms("H", positions=[[-0.9, 1.1, 0.0]])
    b = Atoms("H", positions=[[0.95, 0.8, 0.0]])
    res = neb_path(a, b, CurvedValley, n_images=7, fmax=1e-3, steps=3000)
    assert res["converged"]
    assert res["barrier"] == pytest.approx(1.0, abs=2e-3)
    assert res["reaction_energy"] == pytest.approx(0.0, abs=1e-5)  # relaxed end points: both minima
    x, y, _ = res["images"][res["saddle"]].positions[0]
    assert abs(x) < 0.02 and abs(y) < 0.02
    assert np.all(np.diff(res["coordinate"]) > 0)


def test_steinhardt_q6_of_ideal_lattices_and_solid_fraction():
    from alff.analysis import solid_fraction, steinhardt_q
    fcc = bulk("Al", "fcc", a=4.05, cubic=True).repeat(3)
    np.testing.assert_allclose(steinhardt_q(fcc, 3.4), 0.57452, atol=1e-4)
    hcp = bulk("Mg", "hcp", a=3.2, c=3.2 * np.sqrt(8 / 3)).repeat((3, 3, 3))
    np.testing.assert_allclose(steinhardt_q(hcp, 3.6), 0.48476, atol=1e-4)
    bcc = bulk("Fe", "bcc", a=2.87, cubic=True).repeat(3)  # 8 + 6 neighbours
    np.testing.assert_allclose(steinhardt_q(bcc, 3.3), 0.51069, atol=1e-4)
    # rotation invariance
    rot = fcc.copy()
    rot.rotate(37, (1, 2, 3), rotate_cell=True)
    np.testing.assert_allclose(steinhardt_q(rot, 3.4), 0.57452, atol=1e-4)
    assert solid_fraction(fcc, 3.4)[0] == 1.0
    # an ideal gas at liquid density is not solid
    rng = np.random.default_rng(1)
    gas = fcc.copy()
    gas.positions = rng.uniform(0, 12.15, (len(gas), 3))
    assert solid_fraction(gas, 3.4)[0] < 0.05


def test_coexistence_temperature_of_synthetic_runs():
    from alff.analysis import coexistence_temperature
    rng = np.random.default_rng(2)
    T = np.concatenate([np.linspace(1100, 950, 60), 933 + rng.normal(0, 15, 440)])
    f = np.concatenate([np.linspace(0.5, 0.6, 60), 0.55 + rng.normal(0, 0.05, 440)])
    res = coexistence_temperature(T, f, discard=0.2)
    assert abs(res["Tm"] - 933) < 4 * res["Tm_err"] + 1 and 0 < res["Tm_err"] < 5
    assert res["coexisting"]
    # the solid melted away: flagged
    assert not coexistence_temperature(T, np.linspace(0.5, 0.0, 500))["coexisting"]
    with pytest.raises(ValueError, match="at least 10 samples"):
        coexistence_temperature(T[:8], f[:8], discard=0.0)
