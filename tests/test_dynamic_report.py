"""The dynamic-training report: per-scheme analysis and the comparison of the
criteria (tables, figures, validity), on a harmonic oracle; and the whole
DAG from a config (seed, two criteria, test set, report) on Al/EMT."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from ase.build import bulk

from alff.learning import CALL_COLUMNS, LOG_COLUMNS
from alff.models.linear.fc_model import ForceConstantModel
from alff.steps.dynamic import dynamic_report, scheme_analysis, structures_to_reach
from alff.structure_io import write_frames
from test_force_constants import Springs, _labelled

SECTION = {"enabled": True, "curve_points": 4, "subset_ratio": 2.0, "k": 100,
           "nvt": {"steps": 200, "score_every": 10, "temperature_K": None}, "paper": None}
EXPLORE = {"timestep_fs": 2.0, "friction_per_fs": 0.05, "schedule": [{"temperature_K": 300.0}]}


def _scheme(tmp, ref, oracle, n_learn, seed):
    """A scheme's files: final model, training set (2 seed + n_learn), calls, log."""
    tmp.mkdir()
    train = _labelled(ref, oracle, 2 + n_learn, noise=0.01, seed=seed)
    for k, f in enumerate(train):
        f.info["purpose"] = "seed" if k < 2 else "learn"
    model = {"kind": "force_constants", "reference": ref, "cutoffs": [3.0]}
    ForceConstantModel(reference=ref, cutoffs=[3.0]).fit(train).save(tmp / "final.json")
    write_frames(tmp / "train.extxyz", train)
    calls = pd.DataFrame([{"trajectory": "main", "step": 10 * (k + 1), "time_ps": 0.02 * (k + 1), "phase": "solid",
                           "status": "ok", "reason": "", "walltime_s": 0.0, "max_uncertainty": 0.001,
                           "n_added": 32, "cached": False} for k in range(n_learn)], columns=CALL_COLUMNS)
    calls.to_csv(tmp / "calls.csv", index=False)
    log = pd.DataFrame([{c: 0.0 for c in LOG_COLUMNS} | {"step": s, "time_ps": 0.002 * s, "phase": "solid",
                         "max_uncertainty": np.nan if s % 20 else 1e-3 * (1 + 0.1 * np.sin(s)),
                         "threshold": 3e-3, "event": ""} for s in range(0, 400, 10)], columns=LOG_COLUMNS)
    log.to_csv(tmp / "log.csv", index=False)
    return model


def test_scheme_analysis_and_the_comparison(tmp_path):
    ref = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    oracle = Springs(ref)
    tests = _labelled(ref, oracle, 4, noise=0.01, seed=50)
    write_frames(tmp_path / "test.extxyz", tests)
    files, selectors = {}, {}
    for name, n_learn, seed in (("avg", 10, 1), ("few", 3, 3), ("never", 0, 2)):
        d = tmp_path / name
        model = _scheme(d, ref, oracle, n_learn, seed)
        out = {k: str(d / f"{k}.{e}") for k, e in (("curve", "csv"), ("z", "npz"), ("nvt", "csv"),
                                                     ("summary", "json"))}
        s = scheme_analysis(d / "final.json", model, d / "train.extxyz", [tmp_path / "test.extxyz"], d / "calls.csv",
                            SECTION, EXPLORE, out)
        assert s["n_structures"] == 2 + n_learn and s["n_seed"] == 2 and s["nvt"]["valid"]
        curve = pd.read_csv(out["curve"])
        assert curve["n_structures"].iloc[0] == 2 and curve["n_structures"].iloc[-1] == 2 + n_learn
        assert curve["noise"].iloc[-1] == pytest.approx(s["test"]["noise"])
        assert len(np.load(out["z"])["full"]) == 4 * 96 and len(pd.read_csv(out["nvt"])) == 20
        files[name] = dict(out, log=str(d / "log.csv"), calls=str(d / "calls.csv"))
        selectors[name] = {"kind": "trajectory_average"}
    rep = {"table": tmp_path / "t.csv", "markdown": tmp_path / "t.md", "metrics": tmp_path / "m.json"}
    rep.update({n: str(tmp_path / "fig" / n) for n in ("bayesian_error", "convergence", "z_distribution")})
    paper = {"label": "Si", "structures": 60, "rmse_meV_A": 11.6, "noise_meV_A": 10.1, "eps_b_meV_A": 2.6}
    table = dynamic_report(selectors, files, dict(SECTION, paper=paper), rep, title="Al fcc")
    row = table.set_index("scheme")
    assert row.loc["avg", "valid"] and row.loc["avg", "structures"] == 12
    assert not row.loc["never", "valid"] and "never fired" in row.loc["never", "reason"]
    # the common eps_B is the larger final one of the valid schemes (the 5-structure fit's); the invalid
    # scheme (a seed fit) takes no part and gets no count
    assert row.loc["few", "structures_to_common_eps_b"] == pytest.approx(5.0)
    assert 4 <= row.loc["avg", "structures_to_common_eps_b"] <= 6.5
    assert pd.isna(row.loc["never", "structures_to_common_eps_b"])
    md = Path(rep["markdown"]).read_text()
    assert "paper: Si" in md and "INVALID: the criterion never fired" in md
    assert json.loads(Path(rep["metrics"]).read_text())["common_eps_b_meV_A"] > 0
    for n in ("bayesian_error", "convergence", "z_distribution"):
        assert (tmp_path / "fig" / f"{n}.png").stat().st_size > 5000


def test_an_nvt_that_blows_up_is_invalid(tmp_path):
    ref = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    tests = _labelled(ref, Springs(ref), 2, seed=5)
    write_frames(tmp_path / "test.extxyz", tests)
    d = tmp_path / "bad"
    model = _scheme(d, ref, Springs(ref, k=-0.5), 1, 3)  # negative springs: the expansion is unbounded
    out = {k: str(d / f"{k}.{e}") for k, e in (("curve", "csv"), ("z", "npz"), ("nvt", "csv"), ("summary", "json"))}
    s = scheme_analysis(d / "final.json", model, d / "train.extxyz", [tmp_path / "test.extxyz"], d / "calls.csv",
                        dict(SECTION, nvt={"steps": 5000, "score_every": 10, "temperature_K": None}), EXPLORE, out)
    assert not s["nvt"]["valid"] and "left its range" in s["nvt"]["reason"] and s["nvt"]["mean_eps_b"] is None


def test_structures_to_reach_interpolates_on_log_axes():
    curve = pd.DataFrame({"n_structures": [2, 8, 32], "mean_eps_b": [4.0, 2.0, 1.0]})
    assert structures_to_reach(curve, 2.0) == pytest.approx(8.0)
    assert structures_to_reach(curve, np.sqrt(2.0)) == pytest.approx(16.0)
    assert structures_to_reach(curve, 5.0) == 2.0 and structures_to_reach(curve, 0.5) is None


def test_the_dag_from_a_config_runs_both_criteria_and_the_report(tmp_path):
    """seed -> two force-constant schemes on the fly -> test set -> report,
    from one config through Snakemake (the si_dynamic layout, on Al/EMT)."""
    from test_pipeline import snakemake
    fc = {"kind": "force_constants", "cutoffs": [4.0, 3.0]}
    cfg = {"run": "dyn", "system": {"element": "Al", "a": 4.05, "repeat": [2, 2, 2]}, "oracle": {"kind": "emt"},
           "seed": {"method": "md", "temperature_K": 300.0, "steps": 20, "keep_every": 10, "init_atoms": 0},
           "schemes": {"avg": {"model": fc, "selector": {"kind": "trajectory_average", "min_steps": 20,
                                                          "score_every": 2}},
                       "refit": {"model": fc, "selector": {"kind": "eps_min", "score_every": 2}}},
           "learn": {"mode": "otf", "schemes": ["avg", "refit"], "max_oracle_calls": 4},
           "explore": {"ensemble": "langevin", "timestep_fs": 2.0, "friction_per_fs": 0.01,
                       "schedule": [{"temperature_K": 300.0, "steps": 80, "phase": "solid"},
                                    {"temperature_K": 900.0, "steps": 80, "phase": "solid"}]},
           "testset": {"frames": 3, "every": 10, "equilibrate_steps": 20},
           "validate": {"enabled": False},
           "dynamic": {"curve_points": 3, "k": 40, "nvt": {"steps": 60, "score_every": 10}}}
    path = tmp_path / "dyn.yaml"
    path.write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, path)
    run = tmp_path / "results" / "dyn"
    table = pd.read_csv(run / "dynamic" / "table.csv").set_index("scheme")
    assert list(table.index) == ["avg", "refit"]
    for s in ("avg", "refit"):
        summary = json.loads((run / s / "dynamic" / "summary.json").read_text())
        assert summary["n_seed"] == 3 and summary["nvt"]["valid"]
        assert table.loc[s, "structures"] == 3 + summary["n_ok_calls"]
        assert table.loc[s, "rmse_meV_A"] > 0 and table.loc[s, "noise_meV_A"] > 0
    assert table.loc["refit", "oracle_calls"] >= 1  # eps_min fires on any step above its post-refit mean
    for n in ("bayesian_error", "convergence", "z_distribution"):
        assert (run / "dynamic" / "figures" / f"{n}.png").stat().st_size > 5000
    for s in ("avg", "refit"):  # phonons of each model against EMT's
        rows = pd.read_csv(run / s / "validation" / "summary.csv").set_index("observable")
        x = rows.loc["highest phonon frequency at X"]
        assert x["valid"] and abs(x["model_value"] - x["oracle_value"]) < 0.15 * x["oracle_value"]
        assert (run / s / "figures" / "phonons.png").stat().st_size > 5000


def test_phonons_of_a_harmonic_model_equal_the_oracle(tmp_path):
    """A force-constant model fitted to a harmonic oracle has its phonons:
    the same dispersion, DOS and force constants through phonopy; the rows
    and the figure are written; an oracle that fails flags its rows."""
    from alff.analysis.phonons import phonon_setup
    from alff.validation.phonons import phonon_rows, phonon_validation
    from alff.plotting_dynamic import phonon_figure
    unit = bulk("Al", "fcc", a=4.05, cubic=True)
    ref = unit.repeat(2)
    ph = phonon_setup(unit, [2, 2, 2])
    assert len(ph.supercell) == 32 and len(ph.primitive) == 1
    oracle = Springs(ref)

    from alff.analysis.phonons import _ase_atoms, order_map
    ideal = _ase_atoms(ph.supercell)
    assert not np.array_equal(order_map(ideal, ref), np.arange(32))  # phonopy orders the atoms otherwise
    on_phonopy_order = Springs(ideal)  # the same springs, built on phonopy's own order: no mapping involved

    class Labeller:
        def label(self, atoms):
            b = atoms.copy()
            b.calc = on_phonopy_order
            b.get_forces()
            return b

    model = ForceConstantModel(reference=ref, cutoffs=[3.0]).fit(_labelled(ref, oracle, 3))
    res = phonon_validation(model, unit, [2, 2, 2], Labeller())
    np.testing.assert_allclose(res["model"]["frequencies"], res["oracle"]["frequencies"], atol=1e-4)
    np.testing.assert_allclose(res["model"]["fc"], res["oracle"]["fc"], atol=1e-6)
    rows = {r["observable"]: r for r in phonon_rows(res)}
    assert rows["highest phonon frequency at X"]["valid"] and rows["highest phonon frequency at X"]["abs_error"] < 1e-4
    assert rows["relative RMS difference of the 2nd-order force constants"]["model_value"] < 1e-6
    phonon_figure(res, tmp_path / "phonons", "Al fcc")
    assert (tmp_path / "phonons.png").stat().st_size > 5000

    class Failing:
        def label(self, atoms):
            b = atoms.copy()
            b.info.update(oracle_status="failed", oracle_reason="SCF did not converge")
            return b

    res = phonon_validation(model, unit, [2, 2, 2], Failing())
    rows = phonon_rows(res)
    assert rows and not any(r["valid"] for r in rows if np.isfinite(r["oracle_value"]) or "at" in r["observable"])
    assert all("SCF did not converge" in r["note"] for r in rows if "at" in r["observable"])


def test_paper_dynamic_collects_the_experiments_and_judges_the_conclusion(tmp_path):
    from alff.steps.paper_dynamic import conclusion, experiment_paths, missing_outputs, paper_dynamic_step
    from alff.steps.dynamic import TABLE_COLUMNS
    section = {"experiments": {"Si": "si", "InP": "inp"}, "out": "pd"}
    assert "made by `snakemake --configfile config/systems/si.yaml" in missing_outputs(section, tmp_path)
    need = {"Si": (12.0, 30.0), "InP": (40.0, 20.0)}
    for exp, run in section["experiments"].items():
        d = tmp_path / run / "dynamic"
        (d / "figures").mkdir(parents=True)
        rows = [dict(dict.fromkeys(TABLE_COLUMNS), scheme=s, selector=s, structures=10, valid=True, reason="",
                     structures_to_common_eps_b=n) for s, n in zip(("trajectory_average", "eps_min"), need[exp])]
        pd.DataFrame(rows).to_csv(d / "table.csv", index=False)
        (d / "table.md").write_text(f"| {exp} table |\n")
        (d / "metrics.json").write_text(json.dumps({"paper": {"label": exp, "structures": 60}}))
        for f in ("bayesian_error", "convergence", "z_distribution"):
            (d / "figures" / f"{f}.png").write_bytes(b"png")
    assert missing_outputs(section, tmp_path) is None
    out = {"table": tmp_path / "t.csv", "markdown": tmp_path / "t.md", "figures_dir": tmp_path / "figs"}
    paper_dynamic_step(section, experiment_paths(section, tmp_path), out)
    t = pd.read_csv(out["table"])
    assert len(t) == 6 and set(t["experiment"]) == {"Si", "InP"}
    got = t[t["scheme"] == "trajectory_average"].set_index("experiment")["trajectory_average_fewer"]
    assert bool(got["Si"]) and not bool(got["InP"])
    md = Path(out["markdown"]).read_text()
    assert "| Si table |" in md and "structures than eps_min at the same eps_B: NO (40.0 against 20.0" in md
    assert (tmp_path / "figs" / "InP_convergence.png").exists()
    bad = pd.DataFrame([dict(selector="trajectory_average", valid=False, structures_to_common_eps_b=3.0),
                        dict(selector="eps_min", valid=True, structures_to_common_eps_b=9.0)])
    assert conclusion(bad) == (None, "needs a valid trajectory_average and eps_min scheme")
