"""Configuration schema: defaults, overrides from the command line, errors
that name the key."""

from pathlib import Path

import pytest
import yaml

from alff.config import ConfigError, load_config, validate_config
from alff.structures import build_structure

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"


def test_default_config_is_valid_and_complete():
    cfg = load_config(REPO / "config" / "config.yaml", SCHEMA)
    assert cfg["learn"]["mode"] == "otf" and cfg["oracle"]["kind"] == "emt"
    assert cfg["learn"]["max_iterations"] >= 1  # filled from the schema
    assert [s["phase"] for s in cfg["explore"]["schedule"]] == ["solid", "liquid"]
    assert len(build_structure(cfg["system"])) == 32


def test_empty_config_gets_every_default():
    cfg = validate_config({}, SCHEMA)
    assert cfg["run"] and cfg["learn"]["schemes"] == ["flare"]
    flare = cfg["schemes"]["flare"]
    assert flare["model"]["kind"] == "gp" and flare["model"]["cutoffs"] == {"twobody": 5.0, "threebody": 4.0}
    assert flare["selector"] == {"kind": "threshold", "std_tolerance_factor": 1.0, "absolute": None,
                                 "max_atoms_added": 4, "break_factor": 4.0}
    assert cfg["explore"]["scenarios"] == [{"name": "main", "strain": 0.0, "temperature_scale": 1.0}]


def test_command_line_strings_are_coerced():
    cfg = validate_config({"learn": {"max_iterations": "3", "max_oracle_calls": "7", "mode": "batch"},
                           "oracle": {"timeout_s": "null"}, "system": {"cubic": "false"}}, SCHEMA)
    assert cfg["learn"]["max_iterations"] == 3 and cfg["learn"]["max_oracle_calls"] == 7
    assert cfg["oracle"]["timeout_s"] is None and cfg["system"]["cubic"] is False


def test_every_error_is_reported_with_its_key_path():
    with pytest.raises(ConfigError) as err:
        validate_config({"learn": {"mode": "x", "max_atom_added": 2},
                         "explore": {"scenarios": [{"name": "a b"}]}}, SCHEMA)
    msg = str(err.value)
    assert "learn.mode: 'x' is not one of ['otf', 'batch']" in msg
    assert "learn: Additional properties are not allowed ('max_atom_added'" in msg
    assert "max_oracle_calls" in msg  # the known keys are listed
    assert "explore.scenarios[0].name" in msg


def test_semantic_errors(tmp_path):
    with pytest.raises(ConfigError, match="system.path: file not found"):
        validate_config({"system": {"kind": "file", "path": str(tmp_path / "none.xyz")}}, SCHEMA)
    with pytest.raises(ConfigError, match="explore.scenarios: names must be unique"):
        validate_config({"explore": {"scenarios": [{"name": "a"}, {"name": "a"}]}}, SCHEMA)
    with pytest.raises(ConfigError, match=r"learn.schemes: 'fast' is not a section of schemes \(defined: \['flare'\]\)"):
        validate_config({"learn": {"schemes": ["fast"]}}, SCHEMA)
    with pytest.raises(ConfigError, match=r"schemes.flare.model.kind: 'svm' is not one of \['force_constants', 'gp', 'mapped', 'mtp'\]"):
        validate_config({"schemes": {"flare": {"model": {"kind": "svm"}}}}, SCHEMA)
    with pytest.raises(ConfigError, match=r"schemes.flare.explore.timestep_fs: -1"):
        validate_config({"schemes": {"flare": {"explore": {"timestep_fs": -1}}}}, SCHEMA)


def test_legacy_keys_name_their_new_place():
    with pytest.raises(ConfigError) as err:
        validate_config({"model": {"cutoffs": {"twobody": 4.0}},
                         "learn": {"std_tolerance_factor": 2.0, "hyps_opt_every": 5}}, SCHEMA)
    msg = str(err.value)
    assert "model: moved to schemes.<name>.model" in msg
    assert "learn.std_tolerance_factor: moved to schemes.<name>.selector.std_tolerance_factor" in msg
    assert "learn.hyps_opt_every: moved to schemes.<name>.model.optimize_every" in msg


def test_scheme_sections_merge_the_explore_overrides():
    from alff.config import scheme_sections
    cfg = validate_config({"schemes": {"flare": {}, "hot": {"explore": {"timestep_fs": 2.0}}},
                           "learn": {"schemes": ["flare", "hot"]}}, SCHEMA)
    hot, flare = scheme_sections(cfg, "hot"), scheme_sections(cfg, "flare")
    assert hot["explore"]["timestep_fs"] == 2.0 and flare["explore"]["timestep_fs"] == 5.0
    assert hot["explore"]["schedule"] == flare["explore"]["schedule"] == cfg["explore"]["schedule"]
    assert hot["model"] == flare["model"] and hot["name"] == "hot"


@pytest.mark.parametrize("path", sorted((REPO / "config" / "systems").glob("*.yaml")), ids=lambda p: p.name)
def test_system_configs_are_valid(path):
    over = yaml.safe_load(path.read_text())
    cfg = load_config(REPO / "config" / "config.yaml", SCHEMA, overrides=over)
    assert len(build_structure(cfg["system"])) > 0


def test_structures():
    assert len(build_structure({"kind": "vacancy", "element": "Al", "repeat": [2, 2, 2]})) == 31
    slab = build_structure({"kind": "slab", "element": "Al", "miller": "111", "size": [2, 2, 3], "vacuum": 6.0,
                            "adatom": {"element": "Al", "site": "hcp", "height": 2.0}})
    assert len(slab) == 13 and slab.positions[:, 2].argmax() == 12
    with pytest.raises(ValueError, match="vacancy_index"):
        build_structure({"kind": "vacancy", "element": "Al", "repeat": [1, 1, 1], "vacancy_index": 9})


def test_seed_file_without_forces_is_rejected_naming_file_and_frame(tmp_path):
    from ase.io import write

    from alff.steps import seed_step

    a = bulk_al()
    write(tmp_path / "seed.extxyz", [a, a])
    cfg = validate_config({"seed": {"method": "file", "path": str(tmp_path / "seed.extxyz")}}, SCHEMA)
    with pytest.raises(ValueError, match=r"seed.extxyz: frame 0 has no forces"):
        seed_step(cfg["system"], cfg["seed"], cfg["oracle"], cfg["random_seed"], tmp_path / "train.extxyz",
                  tmp_path / "state.extxyz", tmp_path / "cache")
    assert not (tmp_path / "train.extxyz").exists()


def bulk_al():
    from ase.build import bulk
    return bulk("Al", "fcc", a=4.05, cubic=True)


def test_an_mtp_scheme_validates_with_its_defaults_and_rejects_bad_keys():
    cfg = validate_config({"schemes": {"mtp": {"model": {"kind": "mtp", "level": 12}}}, "learn": {"schemes": ["mtp"]}},
                          SCHEMA)
    m = cfg["schemes"]["mtp"]["model"]
    assert m["level"] == 12 and m["r_max"] == 5.0 and m["regression"] == "ridge" and m["weights"]["force"] == 0.01
    from alff.models import build_model
    assert build_model(m).level == 12
    with pytest.raises(ConfigError, match=r"schemes.mtp.model.level: 7 is not a multiple of 2"):
        validate_config({"schemes": {"mtp": {"model": {"kind": "mtp", "level": 7}}}}, SCHEMA)
    with pytest.raises(ConfigError, match=r"schemes.mtp.model.weighting: 'atoms' is not one of"):
        validate_config({"schemes": {"mtp": {"model": {"kind": "mtp", "weighting": "atoms"}}}}, SCHEMA)


def test_binary_crystals_take_a_formula():
    from alff.structures import normalise_system_element, system_species
    a = build_structure({"kind": "bulk", "element": "InP", "crystal": "zincblende", "a": 5.83, "repeat": [1, 1, 1]})
    assert len(a) == 8 and sorted(set(a.get_chemical_symbols())) == ["In", "P"]
    assert system_species({"element": "InP", "crystal": "zincblende"}) == ["In", "P"]
    assert system_species({"element": "Cu", "crystal": "fcc"}) == ["Cu"]
    for bad in ("In", "inp", "InIn", "InPAs"):
        with pytest.raises(ValueError, match=f"system.element: '{bad}' is not the formula of two species"):
            normalise_system_element(bad, "zincblende")
    with pytest.raises(ConfigError, match="system.element: 'In' is not the formula of two species"):
        validate_config({"system": {"element": "In", "crystal": "zincblende", "a": 5.8}}, SCHEMA)
