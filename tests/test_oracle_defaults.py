"""Defaults from the oracle and config-time oracle checks (issue 13, items 1
and 4): the lattice constant from an E-V fit of the oracle (cached,
recorded), element symbols normalised or rejected by name, the elements an
oracle supports checked before any job runs."""

import importlib.util
from pathlib import Path

import pytest
import yaml

from alff import defaults
from conftest import default_config
from alff.config import ConfigError, resolve_config, validate_config
from alff.oracle_elements import gpaw_errors, lammps_errors, pair_coeff_species
from alff.structures import build_structure, normalise_element

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"
EMBEDDED = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
HAS_GPAW = importlib.util.find_spec("gpaw") is not None


config = default_config


def resolve(**over):
    cfg = config(**over)
    return cfg, resolve_config(cfg, SCHEMA)


# --------------------------------------------------------------- elements
def test_fe_with_emt_fails_at_config_time_naming_emts_list():
    for over in ({"system.element": "Fe", "system.a": None},
                 {"system.element": "Fe", "system.crystal": "bcc", "system.a": 2.87}):
        with pytest.raises(ConfigError) as err:
            resolve(**over)
        msg = str(err.value)
        assert "oracle.kind: ASE's EMT has no parameters for ['Fe'] (system.element)" in msg
        assert "['Ag', 'Al', 'Au', 'C', 'Cu', 'H', 'N', 'Ni', 'O', 'Pd', 'Pt']" in msg


def test_validation_element_is_checked_against_the_oracle_too():
    with pytest.raises(ConfigError, match=r"EMT has no parameters for \['Fe'\] \(validate.element\)"):
        resolve(**{"validate.element": "Fe"})
    cfg, _ = resolve(**{"validate.element": "Fe", "validate.enabled": False})  # not labelled: no error
    assert cfg["validate"]["element"] == "Fe"


@pytest.mark.parametrize("symbol", ["cu", "CU", "cU", " Cu"])
def test_element_case_is_normalised_and_recorded(symbol):
    cfg, res = resolve(**{"system.element": symbol, "system.a": None})
    assert cfg["system"]["element"] == "Cu"
    assert {"key": "system.element", "value": "Cu", "source": "normalised",
            "detail": f"'{symbol}' read as the chemical symbol 'Cu'"} in res.records
    assert any(w.startswith(f"system.element: '{symbol}' read as") for w in res.warnings)
    assert len(build_structure(cfg["system"])) == 32  # no bare ValueError from ase/formula.py


def test_validate_and_adatom_elements_are_normalised():
    cfg, res = resolve(**{"validate.element": "AL", "system.kind": "slab", "system.cubic": False,
                          "system.adatom": {"element": "al", "site": "hcp"}})
    assert cfg["validate"]["element"] == "Al" and cfg["system"]["adatom"]["element"] == "Al"
    assert {r["key"] for r in res.records if r["source"] == "normalised"} == {"validate.element",
                                                                             "system.adatom.element"}


@pytest.mark.parametrize("key", ["system.element", "validate.element"])
def test_unknown_symbol_is_rejected_by_name_and_key(key):
    with pytest.raises(ConfigError, match=rf"{key}: 'Xx' is not a chemical symbol"):
        resolve(**{key: "Xx"})
    with pytest.raises(ValueError, match="system.element: 'X' is not a chemical symbol"):
        normalise_element("X")


# ---------------------------------------------------------------- LAMMPS
LAMMPSLIB = "ase.calculators.lammpslib.LAMMPSlib"


def test_pair_coeff_species():
    assert pair_coeff_species("pair_coeff * * Ni.snapcoeff Ni.snapparam Ni") == ["Ni"]
    assert pair_coeff_species("pair_coeff * * eam/alloy NiAl.eam.alloy Ni NULL Al  # hybrid") == ["Ni", "NULL", "Al"]
    assert pair_coeff_species("pair_coeff * * Cu_u3.eam") is None  # one species in the file: not named
    assert pair_coeff_species("pair_coeff 1 1 0.0104 3.4") is None


def test_lammpslib_pair_coeff_without_the_element_is_a_config_error():
    params = {"lmpcmds": ["pair_style snap", "pair_coeff * * Ni.snapcoeff Ni.snapparam Ni"]}
    with pytest.raises(ConfigError) as err:
        resolve(**{"system.element": "Cu", "system.a": 3.6, "oracle": {"kind": "calculator", "calculator": LAMMPSLIB,
                                                                       "params": params}})
    assert ("oracle.params.lmpcmds: the potential's pair_coeff maps species ['Ni'], not ['Cu'] (system.element); "
            "it supports ['Ni']") in str(err.value)
    cfg, _ = resolve(**{"system.element": "Ni", "system.a": 3.52, "validate.enabled": False,
                        "oracle": {"kind": "calculator", "calculator": LAMMPSLIB, "params": params}})
    assert cfg["system"]["a"] == 3.52


def test_lammps_types_must_map_to_the_elements_species():
    lines = ["pair_style eam/alloy", "pair_coeff * * NiAl.eam.alloy Ni Al"]
    assert lammps_errors(["Al", "Ni"], {"lmpcmds": lines, "atom_types": {"Ni": 1, "Al": 2}}) == []
    errs = lammps_errors(["Al", "Ni"], {"lmpcmds": lines, "atom_types": {"Al": 1, "Ni": 2}})
    assert "Al is LAMMPS type 1, which pair_coeff maps to Ni" in errs[0]
    assert "no LAMMPS type for ['Al']" in lammps_errors(["Al"], {"lmpcmds": lines, "atom_types": {"Ni": 1}})[0]
    # one element without atom_types is LAMMPSlib's type 1
    assert "Al is LAMMPS type 1, which pair_coeff maps to Ni" in lammps_errors(["Al"], {"lmpcmds": lines})[0]
    run = {"pair_coeff": ["* * NiAl.eam.alloy Ni Al"], "specorder": ["Ni", "Al"]}
    assert lammps_errors(["Al"], run, kind="lammpsrun") == []
    assert "oracle.params.pair_coeff" in lammps_errors(["Cu"], run, kind="lammpsrun")[-1]


# ------------------------------------------------------------------ GPAW
def _setups(tmp_path, *names):
    for n in names:
        (tmp_path / n).write_bytes(b"")
    return [str(tmp_path)]


def test_gpaw_setup_files_are_looked_for_in_the_setup_paths(tmp_path):
    paths = _setups(tmp_path, "Si.LDA.gz", "Cu.PBE.gz", "Cu.PBE.11.gz")
    assert gpaw_errors(["Si"], {"xc": "LDA"}, paths) == []
    assert gpaw_errors(["Cu"], {}, paths) == []  # xc defaults to PBE
    assert gpaw_errors(["Cu"], {"setups": {"Cu": "11"}}, paths) == []
    assert gpaw_errors(["Cu"], {"setups": "hgh"}, paths) == []  # built in: not a file
    err = gpaw_errors(["Cu", "Si"], {"xc": "LDA"}, paths)[0]
    assert "GPAW has no PAW setup ['Cu.LDA']" in err and "LDA setups there cover ['Si']" in err
    assert "Cu.PBE.gz" in err  # the functionals it does have
    assert "set GPAW_SETUP_PATH" in gpaw_errors(["Cu"], {}, [])[0]


def test_gpaw_setups_checked_through_the_config_with_a_stand_in_gpaw(tmp_path, monkeypatch):
    import sys
    import types
    fake = types.ModuleType("gpaw")
    fake.setup_paths = _setups(tmp_path, "Si.LDA.gz")
    monkeypatch.setitem(sys.modules, "gpaw", fake)
    monkeypatch.setenv("GPAW_SETUP_PATH", str(tmp_path / "more"))
    gp = {"kind": "gpaw", "params": {"xc": "LDA"}}
    resolve(**{"system.element": "Si", "system.crystal": "diamond", "system.a": 5.43, "validate.enabled": False,
               "oracle": gp})
    with pytest.raises(ConfigError) as err:
        resolve(**{"system.element": "Cu", "system.a": 3.6, "validate.enabled": False, "oracle": gp})
    assert "GPAW has no PAW setup ['Cu.LDA'] for system.element" in str(err.value)
    assert str(tmp_path / "more") in str(err.value)  # GPAW_SETUP_PATH is searched too


@pytest.mark.skipif(not HAS_GPAW, reason="gpaw is not installed (pip install '.[dft]')")
def test_gpaw_setups_checked_through_the_config(tmp_path, monkeypatch):
    import gpaw
    monkeypatch.setattr(gpaw, "setup_paths", _setups(tmp_path, "Si.LDA.gz"), raising=False)
    monkeypatch.delenv("GPAW_SETUP_PATH", raising=False)
    gp = {"kind": "gpaw", "params": {"xc": "LDA"}}
    resolve(**{"system.element": "Si", "system.crystal": "diamond", "system.a": 5.43, "validate.enabled": False,
               "oracle": gp})
    with pytest.raises(ConfigError, match=r"GPAW has no PAW setup \['Cu.LDA'\]"):
        resolve(**{"system.element": "Cu", "system.a": 3.6, "validate.enabled": False, "oracle": gp})


# ---------------------------------------------------------- E-V default
def test_emt_cu_lattice_constant_from_the_oracle(tmp_path):
    cfg = config(**{"system.element": "Cu", "system.a": None})
    res = resolve_config(cfg, SCHEMA, cache_dir=tmp_path)
    a = cfg["system"]["a"]
    assert abs(a / 3.59 - 1) < 0.005
    rec = next(r for r in res.records if r["key"] == "system.a")
    assert rec["source"] == "oracle" and "E-V fit of fcc Cu" in rec["detail"] and str(tmp_path) in rec["detail"]
    # every consumer sees the number: the structure and the validation's fallback
    assert build_structure(cfg["system"]).cell[0, 0] == pytest.approx(2 * a)
    from alff.validation.steps import lattice
    assert lattice({"element": None, "a": None, "system": cfg["system"]}) == ("Cu", a)


def test_fit_is_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(defaults, "_MEMO", {})
    oracle = {"kind": "emt", "params": {}, "calculator": None}
    first = defaults.fitted_lattice_constant(oracle, "Al", "fcc", tmp_path)
    files = list(tmp_path.glob("lattice_*.json"))
    assert not first["cached"] and len(files) == 1 and first["seconds"] < 10
    assert abs(first["a"] - 3.995) < 0.01  # ASE's EMT Al: 3.995 A (config.yaml's 4.05 is experiment's)
    monkeypatch.setattr(defaults, "_MEMO", {})
    monkeypatch.setattr(defaults, "_fit", lambda *a: pytest.fail("refitted instead of reading the cache"))
    again = defaults.fitted_lattice_constant(oracle, "Al", "fcc", tmp_path)
    assert again["cached"] and again["a"] == first["a"]
    # the record reads the same computed or cached: resolved_config.yaml does
    # not change between parses (it is an input of validation_summary)
    assert defaults._describe(again) == defaults._describe(first)
    other = defaults._cache_key(dict(oracle, params={"asap_cutoff": True}), "Al", "fcc")
    assert other != defaults._cache_key(oracle, "Al", "fcc")


def test_fit_for_other_crystals_and_lennard_jones():
    cfg, _ = resolve(**{"system.element": "Ni", "system.crystal": "hcp", "system.cubic": False, "system.a": None})
    assert 2.3 < cfg["system"]["a"] < 2.6  # hcp Ni, nearest-neighbour distance ~ fcc's a / sqrt(2)
    assert cfg["validate"]["a"] == pytest.approx(3.487, abs=0.01)  # validation's fcc Ni: its own fit
    lj = {"kind": "lj", "params": {"sigma": 2.3, "epsilon": 0.4, "rc": 7.0}}
    cfg, _ = resolve(**{"system.element": "Ar", "system.a": None, "oracle": lj, "validate.enabled": False})
    nn = cfg["system"]["a"] / 2 ** 0.5
    assert 1.07 < nn / 2.3 < 1.11  # fcc LJ: 1.09 sigma


@pytest.mark.parametrize("oracle", [{"kind": "gpaw", "params": {"xc": "LDA"}},
                                    {"kind": "calculator", "calculator": "ase.calculators.emt.EMT"}])
def test_expensive_oracles_require_the_lattice_constant(oracle):
    with pytest.raises(ConfigError) as err:
        resolve(**{"system.a": None, "oracle": oracle})
    msg = str(err.value)
    assert f"system.a: required with oracle.kind '{oracle['kind']}'" in msg
    assert "an E-V fit would run the reference method while Snakemake parses the workflow" in msg


def test_default_run_is_unchanged_and_recorded():
    cfg, res = resolve()
    assert cfg["system"]["a"] == 4.05 and cfg["validate"]["a"] is None
    assert res.warnings == []  # 4.05 is within 2% of EMT's 3.995
    rec = next(r for r in res.records if r["key"] == "system.a")
    assert rec["source"] == "config" and "the oracle's is 3.99" in rec["detail"]
    assert "learn.max_iterations" in res.from_schema and "system.a" not in res.from_schema


def test_far_lattice_constant_and_al_temperatures_are_warned_about():
    cfg, res = resolve(**{"system.element": "Cu"})
    assert cfg["system"]["a"] == 4.05
    far = "system.a = 4.05 A is +12.8% from the oracle's equilibrium 3.5899 A for fcc Cu"
    assert any(far in w for w in res.warnings)
    temps = next(w for w in res.warnings if "temperatures" in w)
    assert "system.element is Cu" in temps and "explore.schedule = [300.0, 2000.0]" in temps
    assert "validate.melting.ramp.T_end = 1800.0" in temps
    cfg, res = resolve(**{"system.element": "Cu", "validate.enabled": False,
                          "explore.schedule": [{"temperature_K": 2500.0, "steps": 10, "phase": "liquid"}]})
    assert not any("temperatures" in w for w in res.warnings)


def test_al_temperatures_are_those_of_the_default_config():
    cfg, _ = resolve()
    for key, values in defaults.AL_TEMPERATURES.items():
        assert defaults._temperatures(cfg, key) in values, key
    empty = validate_config({}, SCHEMA)
    for key, values in defaults.AL_TEMPERATURES.items():
        assert defaults._temperatures(empty, key) in values, key


def test_config_yaml_lattice_constant_is_dropped_when_an_overlay_changes_the_element():
    for overlay in ({"system": {"element": "Cu"}}, {"system": {"element": "cu"}}):
        cfg = config(**{"system.element": overlay["system"]["element"]})
        res = resolve_config(cfg, SCHEMA, embedded=EMBEDDED, overlay=overlay)
        assert abs(cfg["system"]["a"] / 3.59 - 1) < 0.005
        assert res.records[0]["source"] == "config/config.yaml's value dropped"
    overlay = {"system": {"element": "Cu", "a": 3.61}}
    cfg = config(**{"system.element": "Cu", "system.a": 3.61})
    resolve_config(cfg, SCHEMA, embedded=EMBEDDED, overlay=overlay)
    assert cfg["system"]["a"] == 3.61
    cfg = config()
    resolve_config(cfg, SCHEMA, embedded=EMBEDDED, overlay={"run": "x"})
    assert cfg["system"]["a"] == 4.05


def test_resolved_config_file(tmp_path):
    cfg, res = resolve(**{"system.element": "cu", "system.a": None})
    path = tmp_path / "run" / "resolved_config.yaml"
    assert defaults.write_resolved_config(cfg, res, path)
    doc = yaml.safe_load(path.read_text())
    assert list(doc) == ["defaults", "warnings", "from_schema", "config"]
    assert doc["config"] == cfg and doc["config"]["system"]["element"] == "Cu"
    assert [d["key"] for d in doc["defaults"]][:2] == ["system.element", "system.a"]
    assert not defaults.write_resolved_config(cfg, res, path)  # unchanged: not rewritten
