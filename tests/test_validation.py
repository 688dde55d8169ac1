"""Validation protocols: set-ups, references, rows and a tiny end-to-end run."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from ase.calculators.emt import EMT

from alff.validation.engines import reference_engine
from alff.validation.rdf import first_peak
from alff.validation.rows import COLUMNS, row
from alff.validation.setups import adatom_hop, shell_cutoff, vacancy_hop
from test_pipeline import snakemake, tiny_config


def test_vacancy_hop_moves_one_neighbour_into_the_vacancy():
    a = 4.05
    ini, fin = vacancy_hop("Al", a, (2, 2, 2))
    assert len(ini) == len(fin) == 31
    d = np.linalg.norm(ini.positions - fin.positions, axis=1)
    moved = np.flatnonzero(d > 1e-9)
    assert len(moved) == 1
    from ase.geometry import find_mic
    assert np.linalg.norm(find_mic(fin.positions[moved] - ini.positions[moved], ini.cell)[0]) == \
        pytest.approx(a / np.sqrt(2))
    # the end points are symmetric: equal energies
    for s in (ini, fin):
        s.calc = EMT()
    assert ini.get_potential_energy() == pytest.approx(fin.get_potential_energy(), abs=1e-10)


def test_adatom_hop_goes_from_hcp_to_the_neighbouring_fcc_site():
    a = 4.05
    hcp, fcc = adatom_hop("Al", a, (3, 3, 4), fixed_layers=2)
    assert len(hcp) == len(fcc) == 37
    lateral = fcc.positions[-1, :2] - hcp.positions[-1, :2]
    assert np.linalg.norm(lateral) == pytest.approx(a / np.sqrt(6), rel=1e-6)
    np.testing.assert_allclose(hcp.positions[:-1], fcc.positions[:-1])
    fixed = hcp.constraints[0].get_indices()
    assert len(fixed) == 18 and set(hcp.get_tags()[fixed]) == {3, 4}


def test_first_peak_of_fcc_and_shell_cutoff():
    from ase.build import bulk
    from alff.analysis import radial_distribution
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(3)
    atoms.rattle(0.05, seed=0)
    r, g = radial_distribution([atoms], rmax=5.0, nbins=100)
    pos, height = first_peak(r, g[("all", "all")])
    assert pos == pytest.approx(4.05 / np.sqrt(2), abs=0.03) and height > 3
    assert 4.05 / np.sqrt(2) < shell_cutoff(4.05) < 4.05
    with pytest.raises(ValueError, match="zero everywhere"):
        first_peak(r, np.zeros_like(r))


def test_reference_engines_and_their_errors():
    assert reference_engine({"kind": "emt"}, "none", "validate.rdf") is None
    ref = reference_engine({"kind": "emt"}, "oracle", "validate.rdf")
    assert ref.name == "oracle" and isinstance(ref.calculator(), EMT)
    with pytest.raises(ValueError, match=r"validate.melting.reference: 'asap3'.*oracle.kind is 'lj'"):
        reference_engine({"kind": "lj"}, "asap3", "validate.melting")
    lj = reference_engine({"kind": "lj"}, "auto", "validate.melting")
    assert type(lj.calculator()).__name__ == "LennardJones"
    pytest.importorskip("asap3")
    assert reference_engine({"kind": "emt"}, "auto", "validate.melting").label == "EMT (asap3)"


def test_summary_rows():
    r = row("neb_barrier", "vacancy", 0.40, 0.38, "eV")
    assert list(r) == COLUMNS and r["abs_error"] == pytest.approx(0.02)
    assert np.isnan(row("x", "y", 1.0, None, "K")["abs_error"])


def test_validate_end_to_end_on_a_tiny_config(tmp_path):
    """A tiny learning run, then every validation rule with tiny sizes:
    data, figures, summary rows and the report page."""
    cfg_path, cfg = tiny_config(tmp_path, "otf")
    cfg["oracle"] = {"kind": "emt"}
    # the tiny model saw few close contacts: widen the mapped range so the
    # validation MD stays inside it
    cfg["map"]["margin"] = 0.8
    cfg["validate"] = {
        "rdf": {"conditions": [{"name": "solid", "temperature_K": 300.0}, {"name": "hot", "temperature_K": 900.0}],
                "repeat": [2, 2, 2], "equilibrate_steps": 20, "steps": 60, "every": 20, "rmax": 5.0},
        "neb": {"bulk_repeat": [2, 2, 2], "slab_size": [2, 2, 3], "n_images": 3, "fmax": 0.1, "max_steps": 100},
        "diffusion": {"temperatures": [400.0, 600.0], "repeat": [2, 2, 2], "equilibrate_steps": 20, "steps": 400,
                      "every": 5, "blocks": 2},
        "melting": {"ramp": {"repeat": [2, 2, 2], "T_start": 300.0, "T_end": 900.0, "stages": 7, "stage_steps": 40},
                    "coexistence": {"repeat": [2, 2, 4], "T_guess": 600.0, "melt_T": 900.0, "melt_steps": 30,
                                    "prep_steps": 20, "steps": 200, "every": 10, "attempts": 1}},
    }
    cfg_path.write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, cfg_path, "validate", "paper")
    run = tmp_path / "results" / "tiny_otf"
    s = pd.read_csv(run / "validation" / "summary.csv")
    assert list(s.columns) == COLUMNS
    obs = set(s["observable"])
    assert obs >= {"rdf_first_peak_position", "rdf_first_peak_height", "neb_barrier", "neb_reaction_energy",
                   "vacancy_diffusion_D", "vacancy_diffusion_Ea", "melting_Tm_ramp_energy", "melting_Tm_ramp_q6",
                   "melting_Tm_coexistence", "pressure"}
    # every row is valid with both values and their error, or flagged with
    # the reason and NaN where the protocol failed (never an error of 0)
    s["note"] = s["note"].fillna("")
    ok, bad = s[s["valid"]], s[~s["valid"]]
    assert ok["oracle_value"].notna().all() and ok["model_value"].notna().all() and (ok["note"] == "").all()
    np.testing.assert_allclose(ok["abs_error"], (ok["model_value"] - ok["oracle_value"]).abs(), rtol=1e-6, atol=1e-9)
    assert bad["abs_error"].isna().all() and (bad["note"].str.len() > 10).all()
    assert (bad["model_value"].isna() | bad["oracle_value"].isna()).all()
    # nothing melts in so short and cool a ramp, and no vacancy jumps in
    # 4 ps at 400-600 K: those rows must say so
    flagged = dict(zip(bad["observable"] + " " + bad["condition"], bad["note"]))
    ramp = [v for k, v in flagged.items() if k.startswith("melting_Tm_ramp_q6")]
    assert ramp and "no transition inside the window 300-900 K" in ramp[0]
    d = [v for k, v in flagged.items() if k.startswith("vacancy_diffusion_D 400 K")]
    assert d and "vacancy jumps" in d[0]
    assert {"rdf_first_peak_position", "neb_barrier"} <= set(ok["observable"])
    peaks = s[s["observable"] == "rdf_first_peak_position"]
    assert ((peaks["oracle_value"] - 4.05 / np.sqrt(2)).abs() < 0.15).all()
    for name in ("rdf", "neb", "diffusion", "melting", "paper"):
        for ext in ("png", "pdf"):
            assert (run / "figures" / f"{name}.{ext}").stat().st_size > 1000
    neb = pd.read_csv(run / "validation" / "neb.csv")
    assert set(neb["engine"]) == {"model", "oracle_on_model_images", "oracle"}
    m = neb[neb["engine"] == "model"]
    assert (m["std"] >= 0).all() and m.groupby("case")["std"].first().eq(0).all()
    report = (run / "report.md").read_text()
    assert "Validation against the oracle" in report and "neb_barrier" in report and "![rdf](figures/rdf.png)" in report
    assert f"**{len(bad)} of {len(s)} results are not valid.**" in report and "### Not valid" in report
    assert "## Defaults filled in" in report  # from results/<run>/resolved_config.yaml
    melt = json.loads((run / "validation" / "melting.json").read_text())
    assert set(melt) == {"model", "oracle"} and "coexistence" in melt["model"]
