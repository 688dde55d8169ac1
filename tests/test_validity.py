"""Every validation number is valid or flagged with its reason (issue 13):
each protocol failure on a small synthetic case."""

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk

from alff.analysis import coexistence_temperature, ramp_transition
from alff.analysis.diffusion import nearest_sites, site_jumps
from alff.analysis.melting import coexistence_validity, ramp_validity
from alff.analysis.neb import neb_validity
from alff.validation.diffusion import arrhenius_validity, diffusion_validity
from alff.validation.rdf import phase_mismatch
from alff.validation.rows import COLUMNS, invalid_rows, read_rows, row, write_rows
from alff.validation.setups import shell_cutoff


def test_row_valid_and_invalid_sides(tmp_path):
    ok = row("neb_barrier", "vacancy", 0.40, 0.38, "eV")
    assert list(ok) == COLUMNS and ok["valid"] and ok["note"] == "" and ok["abs_error"] == pytest.approx(0.02)
    bad = row("melting_Tm_ramp_energy", "ramp", 1200.0, 1200.0, "K", "no transition inside the window", None)
    # the failed side is NaN, the error is not 0 but NaN, the reason is named
    assert not bad["valid"] and np.isnan(bad["model_value"]) and bad["oracle_value"] == 1200.0
    assert np.isnan(bad["abs_error"]) and bad["note"] == "model: no transition inside the window"
    both = row("x", "y", 1.0, 2.0, "K", "a", "b")
    assert both["note"] == "model: a; oracle: b" and np.isnan(both["oracle_value"])
    nan = row("x", "y", float("nan"), 1.0, "K")
    assert not nan["valid"] and "no value" in nan["note"]
    noref = row("x", "y", 1.0, None, "K")
    assert noref["valid"] and np.isnan(noref["abs_error"])
    remark = row("x", "y", 1.0, 1.5, "K", note="model: crystalline")
    assert remark["valid"] and remark["abs_error"] == 0.5 and remark["note"] == "model: crystalline"
    write_rows([ok, bad], tmp_path / "rows.csv")
    back = read_rows([tmp_path / "rows.csv"])
    assert back["valid"].tolist() == [True, False] and back["note"].iloc[0] == ""
    assert list(invalid_rows(back)["observable"]) == ["melting_Tm_ramp_energy"]
    pd.DataFrame([{"observable": "x"}]).to_csv(tmp_path / "old.csv", index=False)
    with pytest.raises(ValueError, match="columns .* missing .* rerun the validation"):
        read_rows([tmp_path / "old.csv"])


def _ramp(T, Tm, jump, noise, seed=0):
    rng = np.random.default_rng(seed)
    E = 3e-4 * T + jump * (T > Tm) + rng.normal(0, noise, len(T))
    f = np.where(T > Tm, 0.02, 0.97)
    return E, f


def test_ramp_without_a_transition_in_its_window_is_invalid():
    """The issue's Cu ramp: still solid at T_end, the two-line fit puts
    'Tm' in the middle of the window; both estimates must be invalid."""
    T = np.linspace(600, 1800, 13)
    E, f = _ramp(T, 5000.0, 0.0, 2e-4)
    res = ramp_transition(T, E)
    assert 600 < res["Tm"] < 1800  # the fit always "finds" something
    why = ramp_validity(T, f, res)
    assert why["energy"] and why["q6"] and "no transition inside the window 600-1800 K" in why["q6"]
    assert "raise validate.melting.ramp.T_end" in why["q6"]


def test_ramp_molten_from_the_start_and_a_real_transition():
    T = np.linspace(600, 1800, 13)
    E, f = _ramp(T, 400.0, 0.1, 2e-4)
    assert "molten from the start" in ramp_validity(T, f, ramp_transition(T, E))["energy"]
    E, f = _ramp(T, 1150.0, 0.1, 2e-4)
    res = ramp_transition(T, E)
    assert ramp_validity(T, f, res) == {"energy": None, "q6": None}
    assert res["Tm"] == pytest.approx(1150, abs=60) and res["residual_rms"] < 1e-3
    # the structure changed, but the energy shows no jump above its noise
    E, _ = _ramp(T, 1150.0, 0.0, 2e-4)
    why = ramp_validity(T, f, ramp_transition(T, E))
    assert why["q6"] is None and "no energy jump" in why["energy"]


def test_ramp_that_melts_near_the_end_of_its_window():
    """al_mlip's MTP ramp (10 stages, 600-1500 K) superheated to the 8th
    stage: the fit must be able to split there (each branch >= 3 points),
    and a melt at the 9th stage is invalid with the fix named, never a
    latent heat from a misplaced split."""
    T = np.linspace(600, 1500, 10)
    E, f = _ramp(T, 1250.0, 0.05, 2e-4)  # first liquid stage 1300 K, index 7 = n - 3
    res = ramp_transition(T, E)
    assert res["split"] == 7 and res["latent_heat"] == pytest.approx(0.05, abs=0.005)
    assert ramp_validity(T, f, res) == {"energy": None, "q6": None}
    E, f = _ramp(T, 1350.0, 0.05, 2e-4)  # first liquid stage 1400 K: two liquid points
    why = ramp_validity(T, f, ramp_transition(T, E))
    assert why["q6"] is None and "within 3 stages of the window's end" in why["energy"]
    assert "raise validate.melting.ramp.T_end" in why["energy"]


def test_coexistence_in_which_one_phase_vanished_is_invalid():
    T = np.full(100, 1300.0) + np.random.default_rng(0).normal(0, 10, 100)
    melted = coexistence_temperature(T, np.linspace(0.5, 0.0, 100))
    why = coexistence_validity(melted, 0.3, 1100.0)
    assert not melted["coexisting"] and "one phase vanished: the cell melted" in why and "T_guess" in why
    froze = coexistence_temperature(T, np.full(100, 0.97))
    assert "the cell froze" in coexistence_validity(froze, 0.3, 1100.0)
    both = coexistence_temperature(T, np.full(100, 0.5))
    assert both["coexisting"] and coexistence_validity(both, 0.3, 1100.0) is None


def test_a_walk_without_vacancy_jumps_is_invalid():
    """Thermal vibration about the sites is no jump; one atom moving into
    the vacancy is one; a D from too few jumps (or D <= 0) is invalid."""
    crystal = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    sites, cell = crystal.positions, crystal.cell[:]
    start = np.delete(sites, 0, axis=0)
    rng = np.random.default_rng(1)
    walk = start[None] + rng.normal(0, 0.15, (50, len(start), 3))
    assert site_jumps(walk, sites, cell) == 0
    hop = walk.copy()
    j = int(np.argmin(np.linalg.norm(start - sites[0] - [1.8, 1.8, 0.0], axis=1)))
    hop[25:, j] += sites[0] - start[j]  # atom j moves onto the vacant site 0 at frame 25
    assert site_jumps(hop, sites, cell) == 1
    assert nearest_sites(hop, sites, cell)[-1, j] == 0
    # the minimum image: an atom across the boundary stays on its site
    wrapped = walk.copy()
    wrapped[:, 0] += cell[0]
    assert site_jumps(wrapped, sites, cell) == 0
    why = diffusion_validity(-1.5e-7, 0, 20, 200.0)
    assert "only 0 vacancy jumps in 200 ps (20 needed" in why and "hotter" in why
    assert "not positive" in diffusion_validity(-1e-4, 30, 20, 200.0)
    assert diffusion_validity(1e-3, 30, 20, 200.0) is None


def test_arrhenius_fit_negative_or_from_too_few_temperatures_is_invalid():
    assert "fewer than two" in arrhenius_validity({"Ea": np.nan, "Ea_err": np.nan}, 1)
    assert "not positive by two error bars" in arrhenius_validity({"Ea": -0.905, "Ea_err": 6.94}, 3)
    assert "not positive" in arrhenius_validity({"Ea": 0.5, "Ea_err": 0.3}, 3)
    assert arrhenius_validity({"Ea": 0.5, "Ea_err": 0.05}, 3) is None


def test_neb_not_converged_or_without_a_transition_is_invalid():
    good = {"converged": True, "endpoints_converged": True, "end_separation": 2.5,
            "energies": np.array([0.0, 0.3, 0.5, 0.3, 0.0]), "saddle": 2}
    assert neb_validity(good, 0.01, 100) is None
    assert "band did not converge" in neb_validity(dict(good, converged=False), 0.01, 100)
    assert "end point did not relax" in neb_validity(dict(good, endpoints_converged=False), 0.01, 100)
    assert "same state" in neb_validity(dict(good, end_separation=0.01), 0.01, 100)
    assert "highest image is an end point" in neb_validity(dict(good, saddle=4), 0.01, 100)


def test_a_crystalline_liquid_is_flagged():
    a = 3.6
    crystal = bulk("Cu", "fcc", a=a, cubic=True).repeat(3)
    rng = np.random.default_rng(2)
    frames = []
    for _ in range(5):
        b = crystal.copy()
        b.positions += rng.normal(0, 0.1, b.positions.shape)
        frames.append(b)
    why = phase_mismatch("liquid", frames, crystal, "validate.rdf.conditions[1].temperature_K")
    assert "'liquid' stayed crystalline" in why and "raise validate.rdf.conditions[1].temperature_K" in why
    assert phase_mismatch("solid", frames, crystal, "k") is None
    assert phase_mismatch("hot", frames, crystal, "k") is None  # a neutral name is not checked
    gas = crystal.copy()
    gas.positions = rng.uniform(0, 3 * a, gas.positions.shape)
    assert "'solid' melted" in phase_mismatch("solid", [gas], crystal, "k")
    assert phase_mismatch("liquid", [gas], crystal, "k") is None


def test_melting_q6_cutoff_follows_the_cell_volume():
    """Under a barostat the hot cell expands: the q6 cutoff scales with it,
    so an expanded crystal still reads as solid (a fixed cutoff would find
    no first shell and call it liquid)."""
    from alff.analysis import solid_fraction
    from alff.validation.melting import _solid_fraction
    a = 3.6
    crystal = bulk("Cu", "fcc", a=a, cubic=True).repeat(3)
    expanded = crystal.copy()
    expanded.set_cell(crystal.cell * 1.3, scale_atoms=True)
    cut = shell_cutoff(a)
    assert solid_fraction(expanded, cut)[0] == 0.0
    assert _solid_fraction(expanded, cut, crystal.get_volume())[0] == 1.0
    assert _solid_fraction(crystal, cut, crystal.get_volume())[0] == solid_fraction(crystal, cut)[0] == 1.0


def test_review_cases_energy_jump_elsewhere_two_points_same_end_states():
    """An energy kink away from the structural transition is not its Tm; a
    two-point Arrhenius line without error bars has no error; end points
    relaxed into one state give no reaction energy."""
    from alff.validation.neb import reaction_validity
    T = np.linspace(600, 1800, 13)
    E, _ = _ramp(T, 900.0, 0.1, 2e-4)  # the energy jumps at 900 K ...
    _, f = _ramp(T, 1500.0, 0.1, 2e-4)  # ... the structure changes at 1500 K
    why = ramp_validity(T, f, ramp_transition(T, E))
    assert why["q6"] is None and "not at the structural transition" in why["energy"]
    from alff.analysis import arrhenius_fit
    two = dict(arrhenius_fit([800.0, 1000.0], [1e-4, 1e-3]), weighted=False)
    assert two["Ea_err"] < 1e-10  # a line through two points: no scatter, no error
    assert "no error bar" in arrhenius_validity(two, 2)
    weighted = dict(arrhenius_fit([800.0, 1000.0], [1e-4, 1e-3], [1e-5, 1e-4]), weighted=True)
    assert arrhenius_validity(weighted, 2) is None
    same = {"converged": True, "endpoints_converged": True, "end_separation": 0.01,
            "energies": np.zeros(5), "saddle": 2}
    why = neb_validity(same, 0.01, 100)
    assert reaction_validity(same, why) == why
    unconverged_band = dict(same, end_separation=2.5, converged=False)
    assert reaction_validity(unconverged_band, neb_validity(unconverged_band, 0.01, 100)) is None
