"""The force-constant expansion (model kind force_constants): numba rows
against hiphive's fit matrix, forces against the energy, symmetry (acoustic
sum rule, rigid translation), recovery of a harmonic oracle, and the
Bayesian quantities of the dynamic-training scheme (beta^-1/2, eps_B)."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator

from alff.models import build_model, load_model
from alff.models.linear.fc_model import ForceConstantModel
from alff.models.linear.fc_tables import build_tables, cluster_space


@pytest.fixture(scope="module")
def si():
    """Diamond Si, 64-atom cell, orders 2-4 (cutoffs 4.0 / 3.0 / 3.0 A)."""
    from hiphive.force_constant_model import ForceConstantModel as HiphiveFCM
    sc = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)
    cs = cluster_space(sc, [4.0, 3.0, 3.0])
    fcm = HiphiveFCM(sc, cs)
    return sc, cs, build_tables(cs, sc, fcm), fcm


def _random_model(sc, tables, seed=0):
    m = ForceConstantModel(reference=sc, cutoffs=[4.0, 3.0, 3.0])
    m.tables = tables
    m.coef_ = np.random.default_rng(seed).normal(0, 1, tables.n_parameters)
    m.sigma_ = np.eye(tables.n_parameters) * 1e-4
    m.alpha_, m.lambda_, m.energy0_ = 1e4, 1.0, -10.0
    m._tensors = tables.family_tensors(m.coef_)
    return m


def _displaced(sc, u):
    a = sc.copy()
    a.positions += u
    a.wrap()  # the displacements are taken by minimum image
    return a


def test_rows_energy_row_and_forces_equal_hiphive(si):
    sc, cs, tab, fcm = si
    u = np.random.default_rng(0).normal(0, 0.05, (len(sc), 3))
    M = fcm.get_fit_matrix(u)
    rows = tab.rows(u)
    assert rows.shape == M.shape == (3 * len(sc), cs.n_dofs)
    np.testing.assert_allclose(rows, M, rtol=0, atol=1e-12 * np.abs(M).max())
    np.testing.assert_allclose(tab.energy_row(rows, u), fcm.get_energy_fit_vector(M, u), atol=1e-12)
    theta = np.random.default_rng(1).normal(0, 1, cs.n_dofs)
    fcm.parameters = theta
    forces, energy = tab.forces_energy(u, *tab.family_tensors(theta))
    np.testing.assert_allclose(forces, fcm.get_forces(u), atol=1e-12)
    np.testing.assert_allclose(forces.ravel(), rows @ theta, atol=1e-12)
    assert energy == pytest.approx(tab.energy_row(rows, u) @ theta, abs=1e-12)


def test_forces_are_minus_the_energy_gradient(si):
    sc, _, tab, _ = si
    m = _random_model(sc, tab)
    a = _displaced(sc, np.random.default_rng(2).normal(0, 0.08, (len(sc), 3)))
    f = m.predict(a, ("energy", "forces"))["forces"]
    h = 1e-5
    for i, c in [(0, 0), (5, 1), (33, 2), (63, 0)]:
        ap, am = a.copy(), a.copy()
        ap.positions[i, c] += h
        am.positions[i, c] -= h
        fd = -(m.predict(ap, ("energy",))["energy"] - m.predict(am, ("energy",))["energy"]) / (2 * h)
        assert f[i, c] == pytest.approx(fd, rel=1e-6, abs=1e-8)
    # the fast path (fitted tensors) and the rows agree
    std = m.predict(a, ("energy",), return_std=True)
    np.testing.assert_allclose(std["forces"], f, atol=1e-12)


def test_rigid_translation_gives_zero_forces(si):
    """Translational invariance (acoustic sum rules at every order): a rigid
    shift has no forces and no energy, whatever the parameters."""
    sc, _, tab, _ = si
    m = _random_model(sc, tab, seed=3)
    a = _displaced(sc, np.tile([0.11, -0.07, 0.05], (len(sc), 1)))
    p = m.predict(a, ("energy",))
    assert np.abs(p["forces"]).max() < 1e-10
    assert p["energy"] == pytest.approx(m.energy0_, abs=1e-10)


class Springs(Calculator):
    """Harmonic oracle: central nearest-neighbour springs (k eV/A^2) about
    the ideal positions of ``ref``; F = -Phi u exactly."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, ref, k=2.0, r_nn=3.0):
        super().__init__()
        from ase.neighborlist import neighbor_list
        self.ref, self.k = ref.copy(), k
        i, j, d = neighbor_list("ijD", ref, r_nn)
        keep = i < j
        self.i, self.j = i[keep], j[keep]
        self.e = d[keep] / np.linalg.norm(d[keep], axis=1)[:, None]

    def phi(self):
        n = len(self.ref)
        P = np.zeros((3 * n, 3 * n))
        for i, j, e in zip(self.i, self.j, self.e):
            b = self.k * np.outer(e, e)
            for x, y, s in ((i, i, 1), (j, j, 1), (i, j, -1), (j, i, -1)):
                P[3 * x:3 * x + 3, 3 * y:3 * y + 3] += s * b
        return P

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.positions - self.ref.positions
        frac = np.linalg.solve(self.ref.cell[:].T, d.T).T
        u = (frac - np.round(frac)) @ self.ref.cell[:]
        s = np.einsum("px,px->p", self.e, u[self.i] - u[self.j])
        f = np.zeros_like(u)
        np.add.at(f, self.i, -self.k * s[:, None] * self.e)
        np.add.at(f, self.j, self.k * s[:, None] * self.e)
        self.results = {"energy": 0.5 * self.k * float(s @ s), "forces": f}


def _labelled(ref, oracle, n, amp=0.03, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = _displaced(ref, rng.normal(0, amp, (len(ref), 3)))
        a.calc = oracle
        f = a.get_forces() + rng.normal(0, noise, (len(a), 3))
        e = a.get_potential_energy()
        b = a.copy()
        b.calc = SinglePointCalculator(b, energy=e, forces=f)
        out.append(b)
    return out


@pytest.fixture(scope="module")
def al():
    ref = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)  # 32 atoms
    model = ForceConstantModel(reference=ref, cutoffs=[3.0])
    model._setup()
    return ref, model.tables


def test_recovers_the_force_constants_of_a_harmonic_oracle(al):
    ref, tab = al
    oracle = Springs(ref)
    m = ForceConstantModel(reference=ref, cutoffs=[3.0])
    m.tables = tab
    m.fit(_labelled(ref, oracle, 3))
    # the model's force-constant matrix, column by column from unit displacements
    n = len(ref)
    P = -np.stack([tab.rows(np.eye(3 * n)[c].reshape(n, 3)) @ m.coef_ for c in range(3 * n)], axis=1)
    np.testing.assert_allclose(P, oracle.phi(), atol=1e-8)
    blocks = P.reshape(n, 3, n, 3)
    assert np.abs(blocks.sum(axis=2)).max() < 1e-10  # acoustic sum rule: sum_j Phi_ij = 0
    test = _labelled(ref, oracle, 1, seed=9)[0]
    np.testing.assert_allclose(m.predict(test)["forces"], test.get_forces(), atol=1e-8)
    assert m.predict(test, ("energy",))["energy"] == pytest.approx(test.get_potential_energy(), abs=1e-8)


def test_noise_and_bayesian_error_with_label_noise(al):
    """Correct model, force noise sigma: beta^-1/2 -> sigma, and the mean
    eps_B on test structures falls like N^-1/2 with the training size."""
    ref, tab = al
    oracle, sigma = Springs(ref), 0.01
    test = _labelled(ref, oracle, 4, seed=99)
    eps = {}
    for n in (2, 32):
        m = ForceConstantModel(reference=ref, cutoffs=[3.0])
        m.tables = tab
        m.fit(_labelled(ref, oracle, n, noise=sigma, seed=n))
        assert m.noise_ == pytest.approx(sigma, rel=0.08)
        eps[n] = np.mean([m.bayesian_error(t) for t in test])
    assert eps[2] / eps[32] == pytest.approx(4.0, rel=0.2)


def test_bayesian_error_is_the_rms_of_the_committee_spread(al):
    """eps_B = sqrt(mean_r (A Sigma A^T)_rr): the RMS over force components
    of the std of forces from coefficients drawn from the posterior."""
    ref, tab = al
    m = ForceConstantModel(reference=ref, cutoffs=[3.0])
    m.tables = tab
    m.fit(_labelled(ref, Springs(ref), 2, noise=0.01))
    a = _labelled(ref, Springs(ref), 1, seed=5)[0]
    p = m.predict(a, return_std=True)
    assert p["bayesian_error"] == pytest.approx(np.sqrt(np.mean(p["forces_std"] ** 2)), rel=1e-12)
    draws = np.random.default_rng(0).multivariate_normal(m.coef_, m.sigma_, 4000)
    rows = tab.rows(tab.displacements(a))
    spread = (draws @ rows.T).std(axis=0)
    assert p["bayesian_error"] == pytest.approx(np.sqrt(np.mean(spread ** 2)), rel=0.05)


def test_save_load_and_registry(al, tmp_path):
    ref, tab = al
    m = build_model({"kind": "force_constants", "reference": ref, "cutoffs": [3.0]})
    m.tables = tab
    m.fit(_labelled(ref, Springs(ref), 2, noise=0.01))
    from alff.models import Model
    assert isinstance(m, Model) and m.describe()["n_train"] == 64
    a0 = _labelled(ref, Springs(ref), 1, seed=3)[0]
    a0.calc = m.calculator()
    np.testing.assert_allclose(a0.get_forces(), m.predict(a0)["forces"], atol=1e-12)
    m.save(tmp_path / "fc")
    b = load_model(tmp_path / "fc")
    a = _labelled(ref, Springs(ref), 1, seed=4)[0]
    pa, pb = m.predict(a, ("energy",), return_std=True), b.predict(a, ("energy",), return_std=True)
    for k in ("energy", "forces", "forces_std", "bayesian_error"):
        np.testing.assert_allclose(pb[k], pa[k], rtol=1e-12, atol=1e-14)
    assert b.noise_ == m.noise_ and b.n_train_ == 64
    # the training set travels with the model: an update after loading equals one without the round trip
    more = _labelled(ref, Springs(ref), 1, noise=0.01, seed=7)
    m.update(more)
    b.update(more)
    np.testing.assert_allclose(b.coef_, m.coef_, rtol=1e-12, atol=1e-14)
    assert b.n_train_ == m.n_train_ == 96 and b.energy0_ == pytest.approx(m.energy0_, abs=1e-12)


def test_bad_input_is_named(al):
    ref, tab = al
    m = ForceConstantModel(reference=ref, cutoffs=[3.0])
    m.tables = tab
    m.fit(_labelled(ref, Springs(ref), 2))
    with pytest.raises(ValueError, match="supercell has 32 atoms"):
        m.predict(ref.repeat((2, 1, 1)))
    with pytest.raises(ValueError, match="every force of a structure"):
        m.update(_labelled(ref, Springs(ref), 1), [np.arange(4)])
    with pytest.raises(ValueError, match="energy and forces only"):
        m.predict(ref, ("stress",))
    with pytest.raises(ValueError, match="model.cutoffs"):
        ForceConstantModel(reference=ref, cutoffs=[])
    with pytest.raises(ValueError, match=r"model.cutoffs \[3.0\]: a cutoff must be below half the "
                                         r"supercell.s narrowest width \(2.03 A\)"):
        ForceConstantModel(reference=bulk("Al", "fcc", a=4.05, cubic=True), cutoffs=[3.0])._setup()
