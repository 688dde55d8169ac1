"""The MLIP scheme (an MTP with the D-optimality selector) through the
on-the-fly and batch pipelines: grades in the learning log, whole
configurations labelled, select-add within the iteration's budget."""

import json

import pandas as pd
import yaml

from test_pipeline import snakemake, tiny_config

MLIP = {"model": {"kind": "mtp", "level": 8, "r_max": 5.0, "r_min": 2.0},
        "selector": {"kind": "maxvol", "gamma_select": 2.0, "gamma_break": 6.0}}


def _config(tmp_path, mode):
    path, cfg = tiny_config(tmp_path, mode)
    cfg["schemes"] = {"mlip": MLIP}
    cfg["learn"]["schemes"] = ["mlip"]
    cfg["run"] = f"mlip_{mode}"
    path.write_text(yaml.safe_dump(cfg))
    return path, cfg


def test_mlip_scheme_on_the_fly(tmp_path):
    cfg_path, cfg = _config(tmp_path, "otf")
    # the MTP has no spline mapping: the validation runs on the model itself,
    # in the compiled MD loop (here the RDF only, tiny)
    cfg["validate"] = {"enabled": True, "neb": {"enabled": False}, "diffusion": {"enabled": False},
                       "melting": {"enabled": False},
                       "rdf": {"conditions": [{"name": "solid", "temperature_K": 300.0}], "repeat": [2, 2, 2],
                               "equilibrate_steps": 20, "steps": 60, "every": 20, "rmax": 5.0}}
    cfg_path.write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, cfg_path)
    run = tmp_path / "results" / "mlip_otf"
    assert not (run / "potential").exists()
    rows = pd.read_csv(run / "validation" / "summary.csv")
    peak = rows[rows["observable"] == "rdf_first_peak_position"]
    assert len(peak) == 1 and peak["valid"].all() and abs(peak["model_value"].iloc[0] - 4.05 / 2 ** 0.5) < 0.15
    log_text = (run / "logs" / "validate_rdf.log").read_text()
    assert "model alff (MTP level 8)" in log_text
    assert "Mapped potential" not in (run / "report.md").read_text()
    m = json.loads((run / "metrics.json").read_text())
    assert m["scheme"] == "mlip" and m["model"]["kind"] == "mtp" and m["n_oracle_calls"] >= 1
    log = pd.read_csv(run / "learn" / "log.csv")
    assert log["threshold"].eq(2.0).all()              # gamma_select
    calls = pd.read_csv(run / "learn" / "calls.csv")
    assert (calls["max_uncertainty"] > 2.0).all()      # labelled because the grade exceeded gamma_select
    assert (calls.loc[calls["status"] == "ok", "n_added"] == 8).all()  # whole 8-atom configurations


def test_mlip_scheme_in_batch_mode(tmp_path):
    cfg_path, cfg = _config(tmp_path, "batch")
    snakemake(tmp_path, cfg_path)
    run = tmp_path / "results" / "mlip_batch"
    m = json.loads((run / "metrics.json").read_text())
    assert m["scheme"] == "mlip" and m["n_oracle_calls"] >= 1
    for status in sorted(run.glob("iter_*/status.json")):
        s = json.loads(status.read_text())
        assert s["n_selected"] <= cfg["learn"]["max_selected"]
    calls = pd.read_csv(run / "learn" / "calls.csv")
    assert (calls.loc[calls["status"] == "ok", "n_added"] == 8).all()
