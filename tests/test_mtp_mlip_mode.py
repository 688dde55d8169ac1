"""The MTP's MLIP mode: radial functions trained by nonlinear least squares
with an analytic gradient, then frozen."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from pathlib import Path

from alff.config import ConfigError, validate_config
from alff.models import build_model, load_model
from alff.models.linear.mtp import MomentTensorPotential, read_mtp
from alff.models.linear.mtp_gradients import mtp_loss_gradient, pair_tangent, site_radial_rows
from alff.models.linear.mtp_kernels import mtp_energy_forces
from alff.models.linear.mtp_model import MTPModel
from alff.models.linear.mtp_radial_fit import fit_radial, training_loss

NO_SITES = np.zeros((0, 1, 1, 1, 1))


def emt_frames(n, seed, size=2, rattle=0.1, symbols=None):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = bulk("Cu", "fcc", a=3.61 * (1 + rng.uniform(-0.03, 0.03)), cubic=True).repeat(size)
        a.rattle(rattle, seed=int(rng.integers(2 ** 31)))
        if symbols is not None:
            a.symbols[rng.permutation(len(a))[: len(a) // 3]] = symbols
        a.calc = EMT()
        e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
        a.calc = SinglePointCalculator(a, energy=e, forces=f, stress=s)
        out.append(a)
    return out


def errors(model_or_pot, frames):
    ee, fe = [], []
    for a in frames:
        if isinstance(model_or_pot, MTPModel):
            p = model_or_pot.predict(a)
            e, f = p["energy"], p["forces"]
        else:
            site, f, _ = model_or_pot.evaluate(a)
            e = site.sum()
        ee.append(abs(e - a.get_potential_energy()) / len(a))
        fe.append(np.abs(f - a.get_forces()).mean())
    return 1000 * float(np.mean(ee)), float(np.mean(fe))


@pytest.fixture(scope="module")
def random_potential():
    """Two species, random radial and moment coefficients, level 12."""
    rng = np.random.default_rng(0)
    at = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    at.rattle(0.1, seed=1)
    at.symbols[[0, 3, 5]] = "Ag"
    pot = MomentTensorPotential.untrained(["Cu", "Ag"], 12, 2.0, 4.5)
    pot.radial_coeffs = rng.normal(size=pot.radial_coeffs.shape) * 0.3
    pot.moment_coeffs = rng.normal(size=pot.moment_coeffs.shape) * 0.1
    pot.species_coeffs = rng.normal(size=2)
    return pot, at


def _loss(pot, at, labels, w):
    e, f, v = mtp_energy_forces(*pot._kernel_args(at, True), pot.species_coeffs, pot.moment_coeffs)
    E0, F0, W0, mask = labels
    rf = np.where(mask[:, None], F0 - f, 0.0)
    return w[0] * (E0 - e.sum()) ** 2 + w[1] * np.sum(rf ** 2) + w[2] * np.sum((W0 - v) ** 2), (E0 - e.sum(), rf,
                                                                                                 W0 - v)


def test_loss_gradient_equals_finite_differences(random_potential):
    pot, at = random_potential
    rng = np.random.default_rng(1)
    W0 = rng.normal(size=(3, 3))
    mask = np.zeros(len(at), bool)
    mask[rng.permutation(len(at))[:20]] = True  # some atoms without force labels
    labels = (rng.normal(), rng.normal(size=(len(at), 3)), W0 + W0.T, mask)
    w = (0.7, 0.3, 0.2)
    _, (rE, rF, R) = _loss(pot, at, labels, w)
    nbr, basis, rad = pot._kernel_args(at, True)
    t = pair_tangent(nbr.first, nbr.j, nbr.D, rF, R, w[1], w[2])
    gr, gm = mtp_loss_gradient(nbr, basis, rad, pot.moment_coeffs, t, w[0] * rE, NO_SITES)
    gr, gm = -2 * gr, -2 * gm
    h = 1e-6
    for idx in [(0, 0, 0, 0), (0, 1, 1, 3), (1, 0, 2, 5), (1, 1, 0, 7), (0, 1, 2, 1)]:
        c = pot.radial_coeffs[idx]
        pot.radial_coeffs[idx] = c + h
        lp = _loss(pot, at, labels, w)[0]
        pot.radial_coeffs[idx] = c - h
        lm = _loss(pot, at, labels, w)[0]
        pot.radial_coeffs[idx] = c
        assert gr[idx] == pytest.approx((lp - lm) / (2 * h), rel=1e-5, abs=1e-6 * np.abs(gr).max())
    for a in [0, 7, len(gm) - 1]:
        c = pot.moment_coeffs[a]
        pot.moment_coeffs[a] = c + h
        lp = _loss(pot, at, labels, w)[0]
        pot.moment_coeffs[a] = c - h
        lm = _loss(pot, at, labels, w)[0]
        pot.moment_coeffs[a] = c
        assert gm[a] == pytest.approx((lp - lm) / (2 * h), rel=1e-5, abs=1e-6 * np.abs(gm).max())


def test_site_radial_rows_are_site_energy_derivatives(random_potential):
    pot, at = random_potential
    rows = site_radial_rows(*pot._kernel_args(at, True), pot.moment_coeffs)
    assert rows.shape == (len(at), pot.radial_coeffs.size)
    h = 1e-5
    for idx in [(0, 1, 1, 3), (1, 0, 2, 5), (1, 1, 0, 0)]:
        flat = np.ravel_multi_index(idx, pot.radial_coeffs.shape)
        c = pot.radial_coeffs[idx]
        pot.radial_coeffs[idx] = c + h
        ep = pot.evaluate(at)[0]
        pot.radial_coeffs[idx] = c - h
        em = pot.evaluate(at)[0]
        pot.radial_coeffs[idx] = c
        np.testing.assert_allclose(rows[:, flat], (ep - em) / (2 * h), rtol=1e-6, atol=1e-7 * np.abs(rows).max())


@pytest.fixture(scope="module")
def cu_data():
    return emt_frames(16, 0), emt_frames(8, 1)


def test_radial_fit_lowers_the_loss_and_the_test_error(cu_data):
    train, test = cu_data
    lin = MTPModel(level=8, r_max=5.0, r_min=1.6).fit(train)
    pot = MomentTensorPotential.untrained(["Cu"], 8, 1.6, 5.0)
    res = fit_radial(pot, train, max_iter=60)
    assert res.loss_start == pytest.approx(training_loss(lin.potential, train), rel=1e-6)  # starts at the linear mode
    assert res.loss < 0.1 * res.loss_start
    assert training_loss(pot, train) == pytest.approx(res.loss, rel=1e-9)
    e_lin, f_lin = errors(lin, test)
    e_mlip, f_mlip = errors(pot, test)
    assert f_mlip < 0.3 * f_lin and e_mlip < 0.5 * e_lin, (e_lin, f_lin, e_mlip, f_mlip)


def test_mlip_mode_model_freezes_radial_functions_and_round_trips(cu_data, tmp_path):
    train, test = cu_data
    m = MTPModel(level=8, r_max=5.0, r_min=1.6, mode="mlip", radial_fit={"max_iter": 40})
    m.fit(train[:10])
    assert m.radial_result.loss < m.radial_result.loss_start
    radial = m.potential.radial_coeffs.copy()
    coef = m.coef_.copy()
    m.update(train[10:])
    np.testing.assert_array_equal(m.potential.radial_coeffs, radial)  # frozen
    assert not np.allclose(m.coef_, coef)  # the linear part was refitted
    m.save(tmp_path / "m")
    m2 = load_model(tmp_path / "m")
    assert m2.mode == "mlip"
    a = test[0]
    np.testing.assert_allclose(m2.predict(a)["forces"], m.predict(a)["forces"], rtol=1e-12, atol=1e-12)
    m.write_mtp(tmp_path / "m.mtp")  # the trained radial functions go into the MLIP file
    e_file = read_mtp(tmp_path / "m.mtp", ["Cu"]).evaluate(a)[0].sum()
    assert e_file == pytest.approx(m.predict(a)["energy"], rel=1e-12)


def test_every_update_retrains_the_radial_functions(cu_data):
    train, _ = cu_data
    m = MTPModel(level=6, r_max=5.0, r_min=1.6, mode="mlip", radial_fit={"max_iter": 15, "every_update": True})
    m.fit(train[:6])
    radial = m.potential.radial_coeffs.copy()
    m.update(train[6:10])
    assert m.n_train_ == sum(len(a) for a in train[:10])
    assert not np.allclose(m.potential.radial_coeffs, radial)


def test_warm_start_retrains_from_the_current_radial_functions(cu_data):
    train, _ = cu_data
    opts = {"max_iter": 15, "every_update": True}
    cold = MTPModel(level=6, r_max=5.0, r_min=1.6, mode="mlip", radial_fit=opts).fit(train[:6]).update(train[6:10])
    warm = MTPModel(level=6, r_max=5.0, r_min=1.6, mode="mlip", radial_fit={**opts, "warm_start": True})
    warm.fit(train[:6])
    previous = warm.potential.radial_coeffs.copy()
    # the warm refit starts at the previous optimum: its start loss is that potential's loss on all 10 frames
    probe = MTPModel(level=6, r_max=5.0, r_min=1.6, mode="mlip", radial_fit={"max_iter": 1})
    probe._setup(train[:10])
    probe.potential.radial_coeffs = previous.copy()
    from alff.models.linear.mtp_radial_fit import fit_radial
    start = fit_radial(probe.potential, train[:10], max_iter=1, weights=tuple(probe.design.weights)).loss_start
    warm.update(train[6:10])
    assert warm.radial_result.loss_start == pytest.approx(start, rel=1e-9)
    assert warm.radial_result.loss_start < 0.5 * cold.radial_result.loss_start  # cold restarts untrained
    assert warm.radial_result.loss <= warm.radial_result.loss_start
    assert not np.allclose(warm.potential.radial_coeffs, previous)
    assert warm.n_train_ == cold.n_train_ == sum(len(a) for a in train[:10])
    assert len(warm._frames) == 10 and warm.design.X.shape == cold.design.X.shape


def test_mlip_mode_grade_rows_include_the_radial_derivatives(cu_data):
    train, _ = cu_data
    m = MTPModel(level=6, r_max=5.0, r_min=1.6, mode="mlip", radial_fit={"max_iter": 20}).fit(train)
    a = train[3]
    rows = m.grade_rows(a)
    p_lin = 1 + m.potential.basis.size
    assert rows.shape == (len(a), p_lin + m.potential.radial_coeffs.size)
    np.testing.assert_allclose(rows[:, p_lin:], site_radial_rows(*m.potential._kernel_args(a, True),
                                                                 m.potential.moment_coeffs))
    tol = m.active_set().tol
    assert max(m.grade(f).max() for f in train) <= 1 + tol + 1e-9
    squeezed = train[0].copy()
    squeezed.set_cell(squeezed.cell * 0.8, scale_atoms=True)
    assert m.grade(squeezed).max() > 10


def test_radial_fit_subset_and_build_from_config(cu_data):
    train, _ = cu_data
    m = build_model({"kind": "mtp", "level": 6, "r_max": 5.0, "r_min": 1.6, "mode": "mlip",
                     "radial_fit": {"max_iter": 5, "max_atoms": 100}})
    m.fit(train)
    assert m.radial_result.n_evaluations >= 2
    assert m.n_train_ == sum(len(a) for a in train)
    with pytest.raises(ValueError, match=r"model.radial_fit: unknown keys \['iters'\]"):
        MTPModel(mode="mlip", radial_fit={"iters": 3})
    with pytest.raises(ValueError, match="model.mode must be one of"):
        MTPModel(mode="bfgs")


def test_config_accepts_the_mlip_mode_and_rejects_bad_keys():
    schema = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
    cfg = validate_config({"schemes": {"mtp": {"model": {"kind": "mtp", "mode": "mlip"}}},
                           "learn": {"schemes": ["mtp"]}}, schema)
    m = cfg["schemes"]["mtp"]["model"]
    assert m["radial_fit"] == {"max_iter": 200, "tol": 1e-7, "max_atoms": None, "every_update": False,
                               "warm_start": False, "starts": 1, "seed": 0}
    with pytest.raises(ConfigError, match=r"schemes.mtp.model.mode: 'bfgs' is not one of"):
        validate_config({"schemes": {"mtp": {"model": {"kind": "mtp", "mode": "bfgs"}}}}, schema)
    with pytest.raises(ConfigError, match=r"schemes.mtp.model.radial_fit"):
        validate_config({"schemes": {"mtp": {"model": {"kind": "mtp", "radial_fit": {"iters": 2}}}}}, schema)


def test_two_species_radial_fit_lowers_the_loss():
    train = emt_frames(8, 3, symbols="Ag")
    pot = MomentTensorPotential.untrained(["Cu", "Ag"], 6, 1.6, 5.0)
    res = fit_radial(pot, train, max_iter=20)
    assert res.loss < 0.5 * res.loss_start
    # the two orders of a species pair are independent parameters
    assert not np.allclose(pot.radial_coeffs[0, 1], pot.radial_coeffs[1, 0])


def test_a_rank_deficient_basis_grades_in_its_row_space(cu_data):
    """One species at level 16 has an exactly dependent basis function: the
    active set is built in the row space of the training rows, and the
    compiled MD loop's grade (through the model's grade matrix) equals the
    model's."""
    from alff.md import MD
    train, _ = cu_data
    m = MTPModel(level=16, r_max=5.0, r_min=1.6).fit(train)
    m.active_set()
    assert m._projection is not None and m._projection.shape[1] < 1 + m.potential.basis.size
    tol = m.active_set().tol
    assert max(m.grade(f).max() for f in train) <= 1 + tol + 1e-9
    squeezed = train[0].copy()
    squeezed.set_cell(squeezed.cell * 0.85, scale_atoms=True)
    assert m.grade(squeezed).max() > 10
    a = train[2].copy()
    md = MD(a, m, grade=True, seed=1)
    md.run(3, thermo_every=3)
    assert md.grades[-1] == pytest.approx(m.grade(md.atoms).max(), rel=1e-8)


def test_random_starts_keep_the_lowest_loss_and_seeds_make_different_models():
    from alff.models.linear.mtp_radial_fit import fit_radial_starts
    frames = emt_frames(4, seed=3)
    opts = dict(max_iter=8, tol=1e-9)

    def fitted(starts, seed):
        pot = MomentTensorPotential.untrained(["Cu"], 8, 2.0, 5.0)
        return pot, fit_radial_starts(pot, frames, starts=starts, seed=seed, **opts)

    one, r1 = fitted(1, 0)
    ref = MomentTensorPotential.untrained(["Cu"], 8, 2.0, 5.0)
    r0 = fit_radial(ref, frames, **opts)
    # one start of seed 0 is the plain fit from the linear-mode start
    assert r1.loss == pytest.approx(r0.loss, rel=1e-12) and r1.start_losses == (r1.loss,)
    np.testing.assert_allclose(one.radial_coeffs, ref.radial_coeffs, rtol=1e-12, atol=1e-14)
    pot, r3 = fitted(3, 0)
    assert len(r3.start_losses) == 3 and r3.loss == min(r3.start_losses) == r3.start_losses[r3.start]
    assert r3.start_losses[0] == pytest.approx(r0.loss, rel=1e-12)
    # the kept coefficients are the kept start's: the loss recomputed from them
    assert training_loss(pot, frames) == pytest.approx(r3.loss, rel=1e-9)
    other, r5 = fitted(1, 5)
    assert not np.allclose(other.radial_coeffs, one.radial_coeffs)
    again, r5b = fitted(1, 5)
    np.testing.assert_array_equal(again.radial_coeffs, other.radial_coeffs)  # seeded
    with pytest.raises(ValueError, match="radial_fit.starts must be >= 1"):
        fitted(0, 0)
