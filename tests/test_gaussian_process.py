"""GaussianProcess: physics checks, reference comparison, API and bad input."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from scipy.spatial.transform import Rotation

from alff.models import GaussianProcess
from conftest import label_emt, rattled_al, rattled_alcu
import reference_gp as ref

HYPS = {"sigma2": 0.05, "ls2": 0.9, "sigma3": 0.002, "ls3": 0.8, "sigma_n": 0.01,
        "sigma_e": 0.003, "sigma_s": 1e-3}

ALL = ("energy", "forces", "stress")


@pytest.fixture(scope="module")
def alcu_model():
    frames = [rattled_alcu(s) for s in range(3)]
    gp = GaussianProcess(cutoffs={"twobody": 5.0, "threebody": 4.0}, hyps=HYPS,
                         energy_labels=True, stress_labels=True)
    return gp.fit(frames, atom_indices=[range(0, 16, 2)] * 3, optimize=False)


def _open_cluster(seed):
    rng = np.random.default_rng(seed)
    base = np.array([[0, 0, 0], [2.7, 0, 0], [1.35, 2.3, 0], [1.35, 0.8, 2.2]], float)
    return label_emt(Atoms("Al4", positions=base + rng.uniform(-0.25, 0.25, base.shape)))


def test_matches_dense_numpy_reference():
    r2, r3 = 4.5, 3.5
    train = [_open_cluster(s) for s in (1, 2)]
    test = _open_cluster(3)
    # noise large against the finite-difference error (~1e-6) of the reference
    hyps = dict(HYPS, sigma_n=0.1, sigma_e=0.05)
    gp = GaussianProcess(cutoffs={"twobody": r2, "threebody": r3}, hyps=hyps, energy_labels=True)
    gp.fit(train, optimize=False)

    z = [13] * 4
    pos = [f.positions for f in train]
    # rows per frame: 12 force components, then the energy
    blocks = []
    for X in pos:
        blocks.append(("F", X))
        blocks.append(("E", X))

    def cov(a, b):
        (ka, X), (kb, Y) = a, b
        if ka == "E" and kb == "E":
            return np.array([[ref.energy_kernel(X, z, Y, z, HYPS, r2, r3)]])
        if ka == "F" and kb == "E":
            return ref.force_energy_kernel(X, z, Y, z, HYPS, r2, r3)[:, None]
        if ka == "E" and kb == "F":
            return ref.force_energy_kernel(Y, z, X, z, HYPS, r2, r3)[None, :]
        return ref.force_force_kernel(X, z, Y, z, HYPS, r2, r3)

    K = np.block([[cov(a, b) for b in blocks] for a in blocks])
    e0 = gp.e0_[13]
    y = np.concatenate([np.r_[f.get_forces().ravel(), f.get_potential_energy() - 4 * e0] for f in train])
    noise = np.concatenate([np.r_[np.full(12, hyps["sigma_n"] ** 2), (4 * hyps["sigma_e"]) ** 2]] * 2)
    Ky = K + np.diag(noise)
    alpha = np.linalg.solve(Ky, y)
    loglik = -0.5 * y @ alpha - 0.5 * np.linalg.slogdet(Ky)[1] - 0.5 * len(y) * np.log(2 * np.pi)
    assert gp.log_likelihood_ == pytest.approx(loglik, rel=1e-6)

    X = test.positions
    kF = np.hstack([cov(("F", X), b) for b in blocks])
    kE = np.hstack([cov(("E", X), b) for b in blocks])
    res = gp.predict(test, ALL, return_std=True)
    np.testing.assert_allclose(res["forces"].ravel(), kF @ alpha, rtol=1e-5, atol=1e-7)
    assert res["energy"] == pytest.approx(float((kE @ alpha)[0]) + 4 * e0, abs=1e-6)
    # local energies sum to the total; their std is positive
    assert res["energies"].sum() == pytest.approx(res["energy"])
    assert res["energies_std"].shape == (4,) and np.all(res["energies_std"] > 0)
    kFF = cov(("F", X), ("F", X))
    var = np.diag(kFF) - np.einsum("ij,ji->i", kF, np.linalg.solve(Ky, kF.T))
    np.testing.assert_allclose(res["forces_std"].ravel(), np.sqrt(np.clip(var, 0, None)), rtol=1e-4, atol=1e-6)


def _fd_forces(gp, atoms, idx, h=1e-4):
    fd = np.zeros((len(idx), 3))
    for n, a in enumerate(idx):
        for x in range(3):
            p, m = atoms.copy(), atoms.copy()
            p.positions[a, x] += h
            m.positions[a, x] -= h
            fd[n, x] = -(gp.predict(p, ALL)["energy"] - gp.predict(m, ALL)["energy"]) / (2 * h)
    return fd


def test_forces_are_minus_energy_gradient(alcu_model):
    atoms = rattled_alcu(7)
    res = alcu_model.predict(atoms, ALL)
    idx = [0, 5, 11]
    np.testing.assert_allclose(res["forces"][idx], _fd_forces(alcu_model, atoms, idx), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(res["forces"].sum(axis=0), 0.0, atol=1e-9)
    assert res["energies"].sum() == pytest.approx(res["energy"])


def test_forces_in_cell_smaller_than_cutoff(alcu_model):
    """Atoms neighbour their own images: forces still the energy gradient."""
    atoms = Atoms("AlCu", positions=[[0, 0, 0], [1.3, 1.5, 1.2]], cell=[[2.9, 0.2, 0], [0.1, 2.8, 0.3], [0, 0.2, 3.0]],
                  pbc=True)
    res = alcu_model.predict(atoms, ALL)
    np.testing.assert_allclose(res["forces"], _fd_forces(alcu_model, atoms, [0, 1]), rtol=1e-6, atol=1e-7)


def test_stress_is_strain_derivative_of_energy(alcu_model):
    atoms = rattled_alcu(8)
    stress = alcu_model.predict(atoms, ALL)["stress"]
    h = 1e-5
    voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    fd = np.zeros(6)
    for k, (a, b) in enumerate(voigt):
        e = []
        for s in (h, -h):
            eps = np.zeros((3, 3))
            eps[a, b] += s / (1 if a == b else 2)
            eps[b, a] += 0 if a == b else s / 2
            at = atoms.copy()
            at.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            e.append(alcu_model.predict(at, ALL)["energy"])
        fd[k] = (e[0] - e[1]) / (2 * h) / atoms.get_volume()
    np.testing.assert_allclose(stress, fd, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("labels", ["forces", "all"])
def test_likelihood_gradient_matches_finite_difference(labels):
    frames = [rattled_alcu(s) for s in range(2)]
    full = labels == "all"
    gp = GaussianProcess(hyps=HYPS, energy_labels=full, stress_labels=full)
    gp.fit(frames, atom_indices=[range(0, 16, 3)] * 2, optimize=False)
    names = gp._active_hyps()
    assert ("sigma_e" in names) == full and ("sigma_s" in names) == full
    theta = np.log([gp.hyps_[k] for k in names])
    f0, g = gp.neg_log_likelihood(theta, names)
    h = 1e-5
    for k in range(len(theta)):
        tp, tm = theta.copy(), theta.copy()
        tp[k] += h
        tm[k] -= h
        fd = (gp.neg_log_likelihood(tp, names)[0] - gp.neg_log_likelihood(tm, names)[0]) / (2 * h)
        assert g[k] == pytest.approx(fd, rel=1e-5, abs=1e-6 * max(1.0, abs(f0))), names[k]


def test_rotation_translation_permutation_invariance(alcu_model):
    atoms = rattled_alcu(9)
    base = alcu_model.predict(atoms, ALL, return_std=True)

    R = Rotation.from_euler("zyx", [0.3, -1.1, 2.0]).as_matrix()
    rot = atoms.copy()
    rot.set_cell(atoms.cell.array @ R.T)
    rot.positions = atoms.positions @ R.T
    r = alcu_model.predict(rot, ALL, return_std=True)
    assert r["energy"] == pytest.approx(base["energy"], abs=1e-9)
    np.testing.assert_allclose(r["forces"], base["forces"] @ R.T, atol=1e-9)
    # total force variance per atom is the trace of a rotated covariance
    np.testing.assert_allclose((r["forces_std"] ** 2).sum(1), (base["forces_std"] ** 2).sum(1), rtol=1e-6, atol=1e-12)

    tr = atoms.copy()
    tr.positions += [1.7, -0.4, 3.3]
    t = alcu_model.predict(tr, ALL, return_std=True)
    assert t["energy"] == pytest.approx(base["energy"], abs=1e-9)
    np.testing.assert_allclose(t["forces"], base["forces"], atol=1e-9)
    np.testing.assert_allclose(t["forces_std"], base["forces_std"], atol=1e-9)

    perm = np.random.default_rng(0).permutation(len(atoms))
    p = alcu_model.predict(atoms[perm], ALL, return_std=True)
    assert p["energy"] == pytest.approx(base["energy"], abs=1e-9)
    np.testing.assert_allclose(p["forces"], base["forces"][perm], atol=1e-9)
    np.testing.assert_allclose(p["forces_std"], base["forces_std"][perm], atol=1e-9)
    np.testing.assert_allclose(p["stress"], base["stress"], atol=1e-12)


def test_learns_emt_aluminium(al_frames):
    gp = GaussianProcess(cutoffs={"twobody": 5.0, "threebody": 4.0})
    gp.fit(al_frames[:2], atom_indices=[range(0, 32, 2)] * 2)
    test = al_frames[3]
    r = gp.predict(test, return_std=True)
    f, std = r["forces"], r["forces_std"]
    ref_f = test.get_forces()
    rmse = np.sqrt(np.mean((f - ref_f) ** 2))
    assert rmse < 0.05 * np.sqrt(np.mean(ref_f ** 2))
    # errors are of the size the model says they are (within a factor 3)
    assert 1 / 3 < rmse / np.sqrt(np.mean(std ** 2 + gp.hyps_["sigma_n"] ** 2)) < 3
    # a far-from-training structure is more uncertain
    odd = rattled_al(11, amp=0.6)
    assert gp.predict(odd, return_std=True)["forces_std"].mean() > 2 * std.mean()


def test_update_equals_full_fit(al_frames):
    idx = [range(0, 32, 4), range(1, 32, 5)]
    e0 = {"Al": -0.01}
    full = GaussianProcess(hyps=HYPS, energy_labels=True, reference_energies=e0)
    full.fit(al_frames[:2], idx, optimize=False)
    inc = GaussianProcess(hyps=HYPS, energy_labels=True, reference_energies=e0)
    inc.fit(al_frames[:1], idx[:1], optimize=False)
    inc.update(al_frames[1:2], idx[1:])
    # the two paths evaluate some energy/force entries with different (equally
    # exact, ~1e-13 apart) kernels; the Cholesky amplifies that to ~1e-11
    np.testing.assert_allclose(inc.L_, full.L_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(inc.alpha_, full.alpha_, rtol=1e-6)
    assert inc.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-9)
    a, b = inc.predict(al_frames[3], ALL, return_std=True), full.predict(al_frames[3], ALL, return_std=True)
    np.testing.assert_allclose(a["forces"], b["forces"], atol=1e-9)
    np.testing.assert_allclose(a["forces_std"], b["forces_std"], atol=1e-9)


def test_save_load_roundtrip(tmp_path, alcu_model):
    path = alcu_model.save(tmp_path / "gp")
    assert path.exists() and path.with_suffix(".npz").exists()
    back = GaussianProcess.load(tmp_path / "gp.json")
    atoms = rattled_alcu(12)
    a, b = alcu_model.predict(atoms, ALL, return_std=True), back.predict(atoms, ALL, return_std=True)
    for k in ("forces", "forces_std", "stress", "energies"):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-14)
    assert back.hyps_ == alcu_model.hyps_
    # the loaded model keeps learning
    back.update([rattled_alcu(13)], [[0, 1]])
    assert back.n_envs_ == alcu_model.n_envs_ + 2


def test_ase_calculator(alcu_model):
    atoms = rattled_alcu(14)
    atoms.calc = alcu_model.calculator()
    e = atoms.get_potential_energy()
    f = atoms.get_forces()
    s = atoms.get_stress()
    assert np.isfinite(e) and f.shape == (16, 3) and s.shape == (6,)
    std = atoms.calc.results["forces_std"]
    assert std.shape == (16, 3) and np.all(std >= 0)
    np.testing.assert_allclose(f, alcu_model.predict(atoms)["forces"], atol=1e-12)


def test_energy_path_matches_full_rows(alcu_model):
    """Energies without stress take the vectorised energy-row kernels; they
    must equal the all-rows (generic kernel) prediction, std included."""
    atoms = rattled_alcu(15)
    full = alcu_model.predict(atoms, ALL, return_std=True)
    fast = alcu_model.predict(atoms, ("energy", "forces"), return_std=True)
    for k in ("forces", "forces_std", "energies", "energies_std"):
        np.testing.assert_allclose(fast[k], full[k], rtol=1e-8, atol=1e-10)
    assert "stress" not in fast
    # the calculator computes forces first and adds the energy on request
    atoms.calc = alcu_model.calculator()
    f = atoms.get_forces()
    assert "energy" not in atoms.calc.results
    assert atoms.get_potential_energy() == pytest.approx(full["energy"], rel=1e-10)
    np.testing.assert_allclose(atoms.calc.results["forces"], f)


def test_optimization_increases_likelihood(al_frames):
    gp = GaussianProcess().fit(al_frames[:1], [range(0, 32, 3)], optimize=False)
    before = gp.log_likelihood_
    gp.optimize()
    assert gp.log_likelihood_ > before


# ----------------------------------------------------------------- bad input
def test_unseen_species_at_prediction(al_frames):
    gp = GaussianProcess(hyps=HYPS).fit(al_frames[:1], [[0, 1]], optimize=False)
    atoms = al_frames[2].copy()
    atoms.numbers[3] = 29
    with pytest.raises(ValueError, match=r"species Cu \(Z=29\).*not known"):
        gp.predict(atoms)


def test_empty_training_data():
    with pytest.raises(ValueError, match="no training data"):
        GaussianProcess().fit([])
    with pytest.raises(ValueError, match="no training data"):
        GaussianProcess().fit([rattled_al(0)], atom_indices=[[]])


def test_atoms_too_close_names_frame_and_pair(al_frames):
    bad = al_frames[1].copy()
    bad.positions[7] = bad.positions[4] + [0.2, 0.1, 0.0]
    bad.calc = al_frames[1].calc
    with pytest.raises(ValueError, match=r"atoms 4 and 7 are 0\.224 A apart in frame 1"):
        GaussianProcess(hyps=HYPS).fit([al_frames[0], bad], optimize=False)


def test_nan_labels_name_frame_and_atom(al_frames):
    bad = al_frames[2].copy()
    forces = al_frames[2].get_forces().copy()
    forces[5, 1] = np.nan
    from ase.calculators.singlepoint import SinglePointCalculator
    bad.calc = SinglePointCalculator(bad, forces=forces, energy=np.nan)
    with pytest.raises(ValueError, match="frame 1: force label of atom 5 is not finite"):
        GaussianProcess(hyps=HYPS).fit([al_frames[0], bad], optimize=False)
    bad.calc = SinglePointCalculator(bad, forces=al_frames[2].get_forces(), energy=np.nan)
    with pytest.raises(ValueError, match="frame 1: energy label is not finite"):
        GaussianProcess(hyps=HYPS, energy_labels=True).fit([al_frames[0], bad], optimize=False)


def test_missing_forces_and_bad_settings(al_frames):
    with pytest.raises(ValueError, match="frame 0 has no forces"):
        GaussianProcess().fit([bulk("Al", cubic=True)])
    with pytest.raises(ValueError, match="unknown cutoff keys"):
        GaussianProcess(cutoffs={"two_body": 5.0})
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        GaussianProcess(hyps={"sigma": 1.0})
    with pytest.raises(RuntimeError, match="not trained"):
        GaussianProcess().predict(al_frames[0])



def test_energy_covariance_matches_local_energy_variance_and_is_invariant():
    """The total-energy covariance: a one-atom cell's variance equals its
    local-energy variance; symmetric; translation leaves it unchanged;
    energy differences of nearby structures are better known than totals."""
    rng = np.random.default_rng(0)
    frames = []
    for k in range(3):
        a = bulk("Al", "fcc", a=4.05, cubic=True)
        a.rattle(0.1, seed=k)
        frames.append(label_emt(a))
    gp = GaussianProcess(cutoffs={"twobody": 4.5, "threebody": 3.5}, species=["Al"])
    gp.fit(frames, optimize=False)
    one = bulk("Al", "fcc", a=4.0)
    one.rattle(0.05, seed=3)
    C1 = gp.energy_covariance([one])
    var = gp.predict(one, ("energy",), return_std=True)["energies_std"][0] ** 2
    assert C1[0, 0] == pytest.approx(var, rel=1e-8)
    test = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 1, 1))
    test.positions += rng.normal(0, 0.05, test.positions.shape)
    moved = test.copy()
    moved.positions += 0.01 * rng.normal(size=moved.positions.shape)
    shifted = test.copy()
    shifted.positions += [0.3, -0.2, 0.7]
    C = gp.energy_covariance([test, moved, shifted])
    np.testing.assert_allclose(C, C.T, rtol=1e-10, atol=1e-14)
    assert np.all(np.linalg.eigvalsh(C) > -1e-10 * C.max())
    assert C[2, 2] == pytest.approx(C[0, 0], rel=1e-8) and C[0, 2] == pytest.approx(C[0, 0], rel=1e-8)
    diff_var = C[0, 0] + C[1, 1] - 2 * C[0, 1]
    assert 0 <= diff_var < 0.01 * C[0, 0]
