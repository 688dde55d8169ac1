"""Temperatures relative to the melting point ("1.6 Tm") and the oracle's
melting-point estimate (issue 13, item 1)."""

import time
from pathlib import Path

import pytest

from alff import melting_point as mp
from alff.config import ConfigError, resolve_config
from alff.melting_point import MeltingPointError, estimate_melting_point, parse_temperature

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"


def cu_config(**system):
    """Cu, EMT, Tm-relative temperatures everywhere (validation on)."""
    return {
        "system": dict({"element": "Cu", "a": 3.59}, **system),
        "explore": {"schedule": [{"temperature_K": "0.2 Tm", "steps": 10, "phase": "solid"},
                                 {"temperature_K": "2.5Tm", "steps": 10, "phase": "liquid"}]},
        "validate": {"rdf": {"conditions": [{"name": "liquid", "temperature_K": "2.5 Tm"}]},
                     "diffusion": {"temperatures": ["0.8 Tm", 1200]},
                     "melting": {"ramp": {"T_start": "0.5*Tm", "T_end": "2.4 Tm"},
                                 "coexistence": {"melt_T": "2.6 Tm", "T_guess": "Tm"}}},
    }


@pytest.fixture
def no_estimate(monkeypatch):
    """Fail the test if the MD estimate would run."""
    def boom(*args, **kwargs):
        raise AssertionError("the melting-point estimate ran")
    monkeypatch.setattr(mp, "_run", boom)
    mp._MEMO.clear()


@pytest.mark.parametrize("value, expected", [
    (2000, ("K", 2000.0)), ("2000", ("K", 2000.0)), (" 950.5 ", ("K", 950.5)), ("1.6 Tm", ("Tm", 1.6)),
    ("1.6Tm", ("Tm", 1.6)), ("0.75*Tm", ("Tm", 0.75)), ("0.75 * Tm", ("Tm", 0.75)), ("Tm", ("Tm", 1.0)),
    (".5 Tm", ("Tm", 0.5)), ("1e0 Tm", ("Tm", 1.0))])
def test_temperature_syntax(value, expected):
    assert parse_temperature(value, "k") == expected


def test_zero_kelvin_stays_what_the_schema_allows():
    """0 K is a number the schema judges (explore.schedule allows it; the
    validation keys do not); 0 Tm is no temperature."""
    assert parse_temperature(0, "k") == ("K", 0.0)


@pytest.mark.parametrize("value", ["1.6 tm", "1.6 T", "hot", "Tm 1.6", "1.6 Tm K", "-1 Tm", "0 Tm", "1.6 x Tm",
                                   True, -5.0, ""])
def test_bad_temperatures_name_the_key(value):
    with pytest.raises(ValueError, match=r"^explore.schedule\[1\].temperature_K: "):
        parse_temperature(value, "explore.schedule[1].temperature_K")


def test_bad_temperature_is_a_config_error_with_the_key_path(no_estimate):
    cfg = cu_config(melting_point_K=1400.0)
    cfg["validate"]["diffusion"]["temperatures"] = ["0.8 Tm", "0.9 TM"]
    with pytest.raises(ConfigError, match=r"validate.diffusion.temperatures\[1\]: '0.9 TM' is not a temperature"):
        resolve_config(cfg, SCHEMA)


def test_resolution_with_a_given_melting_point(no_estimate):
    cfg = cu_config(melting_point_K=1400.0)
    res = resolve_config(cfg, SCHEMA)
    assert [s["temperature_K"] for s in cfg["explore"]["schedule"]] == [280.0, 3500.0]
    v = cfg["validate"]
    assert v["rdf"]["conditions"][0]["temperature_K"] == 3500.0
    assert v["diffusion"]["temperatures"] == [1120.0, 1200.0]
    assert (v["melting"]["ramp"]["T_start"], v["melting"]["ramp"]["T_end"]) == (700.0, 3360.0)
    assert (v["melting"]["coexistence"]["melt_T"], v["melting"]["coexistence"]["T_guess"]) == (3640.0, 1400.0)
    rec = {r["key"]: r for r in res.records}
    assert rec["system.melting_point_K"]["source"] == "config"
    assert rec["explore.schedule[1].temperature_K"] == {
        "key": "explore.schedule[1].temperature_K", "value": 3500.0, "source": "system.melting_point_K",
        "detail": "'2.5 Tm' = 2.5 x 1400 K"}
    assert "validate.diffusion.temperatures[1]" not in rec  # given in K
    assert not any("temperatures" in w for w in res.warnings)  # no Al values left


def test_scheme_explore_overrides_are_resolved(no_estimate):
    cfg = cu_config(melting_point_K=1000.0)
    cfg["schemes"] = {"flare": {"explore": {"schedule": [{"temperature_K": "1.5 Tm", "steps": 5}]}}}
    resolve_config(cfg, SCHEMA)
    assert cfg["schemes"]["flare"]["explore"]["schedule"][0]["temperature_K"] == 1500.0


def test_window_checked_after_resolution(no_estimate):
    cfg = cu_config(melting_point_K=1000.0)
    cfg["validate"]["melting"]["ramp"] = {"T_start": "1.2 Tm", "T_end": 1100}
    with pytest.raises(ConfigError, match=r"validate.melting.ramp: T_start \(1200 K\) must be below T_end"):
        resolve_config(cfg, SCHEMA)


def test_default_config_runs_no_estimate(no_estimate):
    import yaml
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    res = resolve_config(cfg, SCHEMA)
    assert cfg["system"]["melting_point_K"] is None and cfg["explore"]["schedule"][1]["temperature_K"] == 2000.0
    assert not any(r["key"] == "system.melting_point_K" for r in res.records)


@pytest.mark.parametrize("oracle", [{"kind": "gpaw"}, {"kind": "calculator", "calculator": "ase.calculators.emt.EMT"}])
def test_expensive_oracle_requires_the_melting_point(no_estimate, oracle):
    pytest.importorskip("gpaw") if oracle["kind"] == "gpaw" else None
    cfg = cu_config()
    cfg["oracle"] = oracle
    with pytest.raises(ConfigError, match=rf"system.melting_point_K: required with oracle.kind '{oracle['kind']}', "
                                          r"since explore.schedule\[0\].temperature_K.* use 'Tm'.*cheap oracles"):
        resolve_config(cfg, SCHEMA)
    cfg = cu_config(melting_point_K=1300.0)
    cfg["oracle"] = oracle
    resolve_config(cfg, SCHEMA)
    assert cfg["explore"]["schedule"][1]["temperature_K"] == 3250.0


def test_non_fcc_requires_the_melting_point(no_estimate):
    cfg = cu_config(crystal="bcc", a=2.87)
    with pytest.raises(ConfigError, match="system.melting_point_K: required with system.crystal 'bcc'"):
        resolve_config(cfg, SCHEMA)


def fake_run(calls, Tm=1234.5):
    def run(oracle_cfg, element, a, engine, protocol):
        calls.append(element)
        return {"Tm": Tm, "Tm_err": 5.0, "ramp_Tm": 1900.0, "E_coh": 3.5, "n_atoms": 288, "attempt": 1,
                "attempts": []}
    return run


def test_estimate_is_cached_on_disk_and_recorded(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(mp, "_run", fake_run(calls))
    mp._MEMO.clear()
    cfg = cu_config()
    res = resolve_config(cfg, SCHEMA, cache_dir=tmp_path)
    assert calls == ["Cu"] and cfg["system"]["melting_point_K"] == 1234.5
    assert cfg["explore"]["schedule"][1]["temperature_K"] == round(2.5 * 1234.5, 1)
    rec = next(r for r in res.records if r["key"] == "system.melting_point_K")
    assert rec["source"] == "oracle" and "1234 +- 5 K" in rec["detail"] and "cache " in rec["detail"]
    files = list(tmp_path.glob("melting_*.json"))
    assert len(files) == 1
    mp._MEMO.clear()  # a new process: read from disk
    res = resolve_config(cu_config(), SCHEMA, cache_dir=tmp_path)
    assert calls == ["Cu"]
    # the same record as when it was computed: resolved_config.yaml does not
    # change between parses (it is an input of validation_summary)
    assert next(r for r in res.records if r["key"] == "system.melting_point_K") == rec
    # another oracle section is another entry
    cfg = cu_config()
    cfg["oracle"] = {"kind": "emt", "params": {"asap_cutoff": True}}
    resolve_config(cfg, SCHEMA, cache_dir=tmp_path)
    assert calls == ["Cu", "Cu"] and len(list(tmp_path.glob("melting_*.json"))) == 2


def test_failed_estimate_gives_no_number(monkeypatch, tmp_path):
    def fail(*args, **kwargs):
        raise MeltingPointError("one phase vanished in each of 3 coexistence runs of 288 atoms")
    monkeypatch.setattr(mp, "_run", fail)
    mp._MEMO.clear()
    with pytest.raises(ConfigError, match=r"system.melting_point_K: required, since .* use 'Tm', and the oracle's "
                                          r"melting point could not be estimated: one phase vanished"):
        resolve_config(cu_config(), SCHEMA, cache_dir=tmp_path)
    assert not list(tmp_path.glob("melting_*.json"))


def test_cu_warning_suggests_the_tm_syntax(no_estimate):
    res = resolve_config({"system": {"element": "Cu", "a": 3.59}}, SCHEMA)
    w = next(w for w in res.warnings if "temperatures" in w)
    assert "'<factor> Tm'" in w and "system.melting_point_K" in w


@pytest.mark.slow
def test_emt_al_estimate(tmp_path):
    """The real protocol (asap3's EMT when installed): EMT Al melts near
    1000 K (README: 998 +- 1 K from a 768-atom coexistence at a = 4.05 A)."""
    mp._MEMO.clear()
    t0 = time.perf_counter()
    est = estimate_melting_point({"kind": "emt", "params": {}}, "Al", cache_dir=tmp_path)
    assert time.perf_counter() - t0 < 60
    assert 850 < est["Tm"] < 1150 and est["Tm_err"] < 50 and est["ramp_Tm"] > est["Tm"]
    assert est["n_atoms"] == 288 and not est["cached"]
    again = estimate_melting_point({"kind": "emt", "params": {}}, "Al", cache_dir=tmp_path)
    assert again["cached"] and again["Tm"] == est["Tm"]


def test_plain_kelvin_configs_are_left_as_written_and_their_window_checked(no_estimate):
    """Numbers are not rewritten (300 stays the int 300: the rules' params,
    and so what reruns, are unchanged); the ramp window is checked too when
    no key uses Tm."""
    from conftest import default_config
    cfg = default_config(**{"explore.schedule": [{"temperature_K": 300, "steps": 10, "phase": "solid"}]})
    resolve_config(cfg, SCHEMA)
    t = cfg["explore"]["schedule"][0]["temperature_K"]
    assert t == 300 and isinstance(t, int)
    cfg = default_config(**{"validate.melting.ramp": {"T_start": 1800.0, "T_end": 600.0}})
    with pytest.raises(ConfigError, match=r"validate.melting.ramp: T_start \(1800 K\) must be below T_end"):
        resolve_config(cfg, SCHEMA)
