"""The elastic-constant experiment through Snakemake (target elastic) on EMT
Cu with a 2-member ensemble: outputs, members that differ by their seed, the
oracle's constants equal to alff.analysis.elastic on the oracle itself; a
member whose calculator fails is an invalid row with its reason; unknown
keys of the elastic section are named."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from alff.analysis.elastic import cubic_constants, elastic_constants
from alff.config import ConfigError, resolve_config
from alff.learning.records import mark_training_atoms
from alff.steps import elastic as steps
from alff.structure_io import read_frames, write_frames
from test_pipeline import REPO, snakemake

CFG = {"run": "tiny_elastic", "system": {"element": "Cu", "crystal": "fcc"}, "oracle": {"kind": "emt"},
       "elastic": {"ensemble": 2, "scales": [0.98, 0.99, 1.0, 1.01, 1.02],
                   "model": {"kind": "mtp", "level": 8, "r_min": 2.0, "r_max": 5.0, "mode": "mlip",
                             "radial_fit": {"max_iter": 30}},
                   "training": {"source": "pool", "max_selected": 8, "max_iterations": 6,
                                "pool": {"size": 24, "repeat": [1, 1, 1], "volume_strain": 0.03,
                                         "shear_strain": 0.02, "rattle": 0.03}}}}
SYSTEM = {"element": "Cu", "crystal": "fcc", "a": 3.59}
PROTOCOL = {"strain": 0.005, "relax_fmax": None, "scales": [0.99, 1.0, 1.01, 1.02, 1.03]}


def test_elastic_target_on_emt_copper(tmp_path):
    path = tmp_path / "elastic.yaml"
    path.write_text(yaml.safe_dump(CFG))
    snakemake(tmp_path, path, "elastic")
    out = tmp_path / "results" / "tiny_elastic" / "elastic"
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_members"] == m["n_valid"] == 2 and m["valid"] and m["source"] == "pool"
    assert m["n_train"] == m["n_oracle_calls"] == m["n_oracle_calls_pool"] > 0
    assert m["pool_selection_converged"]
    members = m["members"]
    assert [p["seed"] for p in members] == [0, 1]
    # different random initial radial parameters: different models, different constants
    assert abs(members[0]["C44"] - members[1]["C44"]) > 1e-3
    radial = [np.load(out / f"member_{k}" / "model.npz")["radial"] for k in (0, 1)]
    assert not np.allclose(radial[0], radial[1])
    # the oracle's constants are alff.analysis.elastic's on the oracle at its zero-pressure cell
    o = json.loads((out / "oracle.json").read_text())
    direct = cubic_constants(elastic_constants(bulk("Cu", "fcc", a=o["a0"], cubic=True), EMT(), 0.005))
    assert np.allclose([o["C11"], o["C12"], o["C44"]], direct[:3], rtol=1e-9)
    assert abs(o["pressure_GPa"]) < 1e-3 and o["valid"]
    for c in steps.CONSTANTS:
        d = m["constants"][c]
        assert d["oracle"] == o[c] and d["std"] > 0
        assert d["relative_error"] == pytest.approx(abs(d["mean"] - o[c]) / o[c])
        assert d["met"] == (d["within_sigmas"] and d["within_tolerance"])
    assert m["target_met"] == all(m["constants"][c]["met"] for c in steps.CONSTANTS)
    table = pd.read_csv(out / "table.csv")
    assert list(table["row"][:5]) == ["member 0", "member 1", "ensemble mean", "ensemble std", "oracle"]
    assert table.loc[table["row"] == "paper DFT", "C11"].item() == 472.0
    assert (out / "figures" / "elastic.png").stat().st_size > 5000
    assert (out / "figures" / "elastic.pdf").exists()
    p = snakemake(tmp_path, path, "elastic", "--dry-run")
    assert "Nothing to be done" in p.stdout + p.stderr


class Failing(Calculator):
    """A calculator that fails (``mode`` raise) or returns NaN (``nan``)."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if self.mode == "raise":
            raise RuntimeError("SCF did not converge")
        n = len(self.atoms)
        self.results = {"energy": np.nan, "forces": np.full((n, 3), np.nan), "stress": np.full(6, np.nan)}


def test_a_failing_member_is_an_invalid_row_with_its_reason(tmp_path):
    good = steps.crystal_properties(EMT(), SYSTEM, PROTOCOL)
    assert good["valid"] and good["reason"] == ""
    raised = steps.crystal_properties(Failing("raise"), SYSTEM, PROTOCOL)
    nan = steps.crystal_properties(Failing("nan"), SYSTEM, PROTOCOL)
    assert not raised["valid"] and "RuntimeError: SCF did not converge" in raised["reason"]
    assert raised["reason"].startswith("zero-pressure lattice parameter")
    assert not nan["valid"] and "non-finite pressure" in nan["reason"]
    # the report keeps the failed member as a row and the ensemble as invalid, with the reason
    paths = []
    for k, props in enumerate([good, dict(good, seed=1), dict(raised, seed=2)]):
        paths.append(tmp_path / f"member_{k}.json")
        paths[-1].write_text(json.dumps(dict(props, seed=props.get("seed", 0))))
    (tmp_path / "oracle.json").write_text(json.dumps(good))
    pd.DataFrame([{"iteration": 0, "n_train": 3, "n_candidates": 3, "n_selected": 3, "n_labelled": 3,
                   "n_failed": 0, "max_grade": np.nan, "converged": True}]).to_csv(tmp_path / "h.csv", index=False)
    write_frames(tmp_path / "t.extxyz", [])
    elastic = {"training": {"source": "pool"}, "model": {}, "target": {"tolerance": 0.05, "sigmas": 2.0},
               **PROTOCOL}
    out = {"metrics": tmp_path / "metrics.json", "table": tmp_path / "table.csv", "figure": tmp_path / "fig"}
    steps.elastic_report_step(elastic, SYSTEM, {"kind": "emt"}, paths, tmp_path / "oracle.json", tmp_path / "h.csv",
                              tmp_path / "t.extxyz", out)
    m = json.loads(out["metrics"].read_text())
    assert m["n_members"] == 3 and m["n_valid"] == 2 and not m["valid"] and not m["target_met"]
    assert any(r.startswith("member 2: zero-pressure lattice parameter") for r in m["reasons"])
    table = pd.read_csv(out["table"])
    row = table[table["row"] == "member 2"].iloc[0]
    assert not row["valid"] and "SCF did not converge" in row["reason"] and np.isnan(row["C11"])
    assert (tmp_path / "fig.png").stat().st_size > 5000


def test_learn_source_takes_the_learned_set_and_the_members_seeds(tmp_path):
    frames = []
    for k in range(3):
        a = bulk("Cu", "fcc", a=3.6, cubic=True)
        a.rattle(0.02, seed=k)
        a.calc = EMT()
        a.get_potential_energy()
        mark_training_atoms(a, [0, 1])
        a.info["purpose"] = "learn"
        frames.append(a)
    frames[1].info["oracle_status"] = "failed"
    write_frames(tmp_path / "learned.extxyz", frames)
    out = {"training": tmp_path / "training.extxyz", "history": tmp_path / "history.csv"}
    steps.training_step({"training": {"source": "learn"}, "model": {}}, {"kind": "emt"}, None, None,
                        tmp_path / "learned.extxyz", out)
    got = read_frames(out["training"])
    assert len(got) == 2 and all(f.arrays["train_mask"].sum() == 2 for f in got)  # the failed label left out
    hist = pd.read_csv(out["history"])
    assert hist.empty and "converged" in hist.columns  # no pool selection
    # source both: the pool selection starts from the learned set (its force masks kept) and adds pool cells
    from alff.models import build_model
    from alff.oracle import Oracle
    from alff.selection import build_selector
    pool = steps.strained_pool(SYSTEM, 8, [1, 1, 1], 0.03, 0.02, 0.03, seed=1)
    model = build_model({"kind": "mtp", "level": 8, "r_min": 2.0, "r_max": 5.0})
    train, history, converged, n_calls = steps.learn_on_candidates(
        pool, model, build_selector({"kind": "maxvol"}), Oracle.from_config({"kind": "emt"}), 4, 3, got)
    assert train[:2] == got and n_calls == len(train) - 2 == sum(h["n_labelled"] for h in history)
    assert all(h["n_selected"] <= 3 for h in history) and converged == (history[-1]["n_candidates"] == 0)
    cfg = steps.member_config({"level": 8, "radial_fit": {"max_iter": 5, "seed": 9}}, 3)
    assert cfg["kind"] == "mtp" and cfg["radial_fit"] == {"max_iter": 5, "seed": 3}


@pytest.mark.parametrize("section, key", [({"bogus": 1}, "bogus"), ({"training": {"pool": {"sise": 3}}}, "sise"),
                                          ({"model": {"levle": 8}}, "levle"),
                                          ({"training": {"selector": {"gama_select": 2.0}}}, "gama_select")])
def test_unknown_keys_of_the_elastic_section_are_named(section, key):
    cfg = {"elastic": section}
    with pytest.raises(ConfigError) as err:
        resolve_config(cfg, REPO / "config" / "schema.yaml")
    msg = str(err.value)
    assert "elastic" in msg and key in msg and "known keys" in msg, msg


def test_the_experiment_config_is_valid():
    cfg = yaml.safe_load((REPO / "config" / "systems" / "mo_elastic.yaml").read_text())
    resolve_config(cfg, REPO / "config" / "schema.yaml")
    e = cfg["elastic"]
    assert e["ensemble"] == 5 and e["model"]["level"] == 16 and e["model"]["mode"] == "mlip"
    assert cfg["oracle"]["kind"] == "lammps" and "Mo_Zuo_JPCA2020.snapcoeff" in cfg["oracle"]["params"]["pair_coeff"][0]
    assert not cfg["validate"]["enabled"]
