"""Target paper_mlip: the three MLIP-paper experiments' outputs (written here
in the formats their own steps write) collected into one table and figure;
targets judged, invalid results kept invalid, a missing experiment named
with its command."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from alff.steps.elastic import ensemble_summary
from alff.steps.paper_mlip import experiment_paths, missing_outputs, paper_mlip_step
from alff.validation.rows import row
from test_pipeline import snakemake

SECTION = {"hull": "agpd_hull", "melting": "al_mlip", "elastic": "mo_elastic", "out": "paper_mlip",
           "hull_level": 16, "hull_mae_meV": 2.0, "melting_tolerance": 0.02}


def _png(path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = plt.figure(figsize=(1, 1))
    fig.savefig(path)
    plt.close(fig)


def _hull_level(level, n_train, mae, valid=True, same=True):
    return {"level": level, "n_train": n_train, "n_oracle_calls": n_train, "iterations": 5, "converged": valid,
            "train_energy_mae_meV": 0.5 * mae, "formation_mae_meV": mae, "formation_rmse_meV": 1.5 * mae,
            "n_compared": 100, "n_out_of_range": 0, "formation_mae_at_oracle_structures_meV": mae,
            "ground_states_model": "Ag (fcc); Pd (fcc)" if same else "Ag (fcc); AgPd (fcc); Pd (fcc)",
            "ground_states_oracle": "Ag (fcc); Pd (fcc)", "same_ground_states": same, "valid": valid,
            "note": "" if valid else "learning did not converge in 30 iterations"}


def _member(c11, c12, c44):
    return {"C11": c11, "C12": c12, "C44": c44, "B": (c11 + 2 * c12) / 3, "B_eos": 260.0, "a0": 3.17, "V0": 15.9,
            "E0": -11.0, "valid": True, "reason": ""}


def write_experiments(root, hull_mae16=1.5, tm_model=830.0, melting_valid=True, elastic_spread=8.0):
    """The outputs the three experiments write, under root/results."""
    paths = experiment_paths(SECTION, root / "results")
    h, m, e = paths["hull"], paths["melting"], paths["elastic"]
    for group in paths.values():
        for p in group.values():
            Path(p).parent.mkdir(parents=True, exist_ok=True)
    for p in (h["figure"], m["figure"], m["learning"], e["figure"]):
        _png(Path(p))
    hull = {"species": ["Ag", "Pd"], "n_pool": 1595, "oracle_ground_states": ["Ag (fcc)", "Pd (fcc)"],
            "levels": [_hull_level(12, 180, 3.0), _hull_level(16, 300, hull_mae16), _hull_level(20, 500, 1.0)]}
    Path(h["metrics"]).write_text(json.dumps(hull))
    coex_model = {"Tm": tm_model if melting_valid else np.nan, "Tm_err": 12.0,
                  "invalid": "" if melting_valid else "ONE PHASE VANISHED"}
    coex_oracle = {"Tm": 820.0, "Tm_err": 17.0, "invalid": ""}
    Path(m["melting"]).write_text(json.dumps(
        {"model": {"coexistence": coex_model}, "oracle": {"coexistence": coex_oracle}}))
    rows = [row("melting_Tm_ramp_energy", "heating ramp", 1150.0, 1150.0, "K"),
            row("melting_Tm_coexistence", "NVE coexistence; 288 atoms; 0 GPa", coex_model["Tm"], 820.0, "K",
                coex_model["invalid"] or None, None)]
    pd.DataFrame(rows).to_csv(m["summary"], index=False)
    pd.DataFrame({"iteration": [1] * 15 + [2] * 16 + [3] * 8 + [3], "status": ["ok"] * 39 + ["failed"]}).to_csv(
        m["calls"], index=False)
    Path(m["metrics"]).write_text(json.dumps(
        {"n_oracle_calls": 40, "n_seed_oracle_calls": 3, "n_training_envs": 2808,
         "test": {"solid": {"rmse": 0.013}, "liquid": {"rmse": 0.020}}}))
    members = [_member(450 + elastic_spread * k, 160 - k, 105 + elastic_spread * (k - 2)) for k in range(5)]
    oracle = _member(456.6, 158.4, 109.2)
    summary = ensemble_summary(members, oracle, 0.05, 2.0)
    Path(e["metrics"]).write_text(json.dumps(
        {**summary, "n_oracle_calls": 175, "n_train": 159, "oracle_properties": oracle}))
    return paths


def run_step(root, paths):
    out_dir = root / "results" / "paper_mlip"
    out = {"table": out_dir / "table.csv", "markdown": out_dir / "table.md", "figure": out_dir / "figures" / "paper",
           "figures_dir": out_dir / "figures"}
    out["table"].parent.mkdir(parents=True, exist_ok=True)
    table = paper_mlip_step(SECTION, paths, out)
    return table, out


def _one(table, quantity):
    r = table[table["quantity"].str.startswith(quantity)]
    assert len(r) == 1, quantity
    return r.iloc[0]


def test_targets_are_judged_and_the_paper_numbers_stand_beside(tmp_path):
    paths = write_experiments(tmp_path)
    table, out = run_step(tmp_path, paths)
    assert set(table["experiment"]) == {"hull", "melting", "elastic"}
    r = _one(table, "pool formation-energy MAE, level 16")
    assert r["alff"] == 1.5 and r["met"] and r["target"] == "<= 2"
    assert pd.isna(_one(table, "pool formation-energy MAE, level 12")["met"])   # only level 16 is a target
    r = _one(table, "training configurations, level 20")
    assert r["alff"] == 500 and r["paper"] == 920
    assert _one(table, "training energy MAE, level 12")["paper"] == 2.8
    assert _one(table, "hull ground states, level 20")["met"]
    tm = _one(table, "Tm")
    assert tm["alff"] == 830.0 and tm["oracle"] == 820.0 and tm["paper"] == 885.0 and tm["paper_reference"] == 888
    assert tm["met"] and tm["valid"] and "1.2 %" in tm["note"]
    assert _one(table, "configurations selected per iteration")["alff"] == "15, 16, 8"   # failed calls left out
    c44 = _one(table, "C44")
    assert c44["oracle"] == 109.2 and c44["paper"] == 98.0 and c44["paper_std"] == 14.0 and c44["paper_reference"] == 95
    assert c44["alff"] == pytest.approx(105.0) and c44["met"]
    md = out["markdown"].read_text()
    n_judged = int(table["met"].notna().sum())
    assert f"**{n_judged} of {n_judged} targets met; 0 of {len(table)} rows not valid.**" in md
    # the experiments' own figures are copied beside the summary figure
    for name, src in (("hull", paths["hull"]["figure"]), ("melting", paths["melting"]["figure"]),
                      ("learning_al", paths["melting"]["learning"]), ("elastic", paths["elastic"]["figure"])):
        assert (out["figures_dir"] / f"{name}.png").read_bytes() == Path(src).read_bytes()
    assert (out["figures_dir"] / "paper.pdf").stat().st_size > 5000
    assert (out["figures_dir"] / "paper.png").stat().st_size > 20000


def test_missed_and_invalid_results_are_not_agreement(tmp_path):
    paths = write_experiments(tmp_path, hull_mae16=2.6, melting_valid=False, elastic_spread=0.5)
    table, out = run_step(tmp_path, paths)
    assert not _one(table, "pool formation-energy MAE, level 16")["met"]
    tm = _one(table, "Tm")
    assert not tm["valid"] and pd.isna(tm["met"]) and pd.isna(tm["alff"]) and "ONE PHASE VANISHED" in tm["note"]
    assert tm["oracle"] == 820.0
    # a narrow ensemble that misses the oracle: the elastic experiment's own judgement is kept
    assert not _one(table, "C44")["met"]
    md = out["markdown"].read_text()
    assert "targets met; 1 of" in md and "**NO**" in md
    assert (out["figures_dir"] / "paper.png").stat().st_size > 20000


def test_missing_experiments_are_named_with_their_commands(tmp_path):
    assert "hull (run `agpd_hull`)" in missing_outputs(SECTION, tmp_path / "results")
    write_experiments(tmp_path)
    assert missing_outputs(SECTION, tmp_path / "results") is None
    (tmp_path / "results" / "mo_elastic" / "elastic" / "metrics.json").unlink()
    msg = missing_outputs(SECTION, tmp_path / "results")
    assert "elastic (run `mo_elastic`)" in msg and "config/systems/mo_elastic.yaml" in msg and "hull" not in msg


def test_the_rule_collects_the_experiments(tmp_path):
    cfg = tmp_path / "paper.yaml"
    cfg.write_text(yaml.safe_dump({"paper_mlip": {"out": "paper_check"}}))
    p = snakemake(tmp_path, cfg, "paper_mlip", "--dry-run", check=False)
    assert p.returncode != 0 and "snakemake hull --configfile config/systems/agpd_hull.yaml" in p.stdout + p.stderr
    write_experiments(tmp_path)
    snakemake(tmp_path, cfg, "paper_mlip")
    out = tmp_path / "results" / "paper_check"
    table = pd.read_csv(out / "table.csv")
    assert len(table) > 20 and (out / "figures" / "paper_mlip.pdf").stat().st_size > 5000
    assert "targets met" in (out / "table.md").read_text()
