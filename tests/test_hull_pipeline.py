"""The convex-hull experiment through Snakemake (target hull) on a tiny
Ag-Pd pool with EMT: metrics, table and figure, the hull equal to EMT's."""

import json

import pandas as pd
import yaml

from alff.models import load_model
from alff.structure_io import read_frames
from test_pipeline import snakemake


def test_hull_target_on_a_tiny_pool(tmp_path):
    cfg = {"run": "tiny_hull", "oracle": {"kind": "emt"},
           "hull": {"lattices": ["fcc"], "max_atoms": 3, "a": 4.0, "levels": [8], "max_iterations": 14,
                    "max_selected": 10,
                    "model": {"kind": "mtp", "r_min": 2.0, "r_max": 5.0, "mode": "mlip",
                              "radial_fit": {"max_iter": 40, "every_update": True}}}}
    path = tmp_path / "hull.yaml"
    path.write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, path, "hull")
    out = tmp_path / "results" / "tiny_hull" / "hull"
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_pool"] == 10 and m["oracle_ground_states"] == ["Ag (fcc)", "Pd (fcc)"]
    row = m["levels"][0]
    assert row["level"] == 8 and row["converged"] and row["valid"] and row["same_ground_states"]
    assert row["formation_mae_meV"] < 5.0 and row["n_compared"] == 10
    assert row["formation_mae_at_oracle_structures_meV"] < 5.0
    assert row["n_oracle_calls"] == row["n_train"]
    model = load_model(out / "level_8" / "model")  # the saved model keeps its active set
    tol = model.active_set().tol
    assert max(model.grade(f).max() for f in read_frames(out / "level_8" / "training.extxyz")) <= 1 + tol + 1e-9
    table = pd.read_csv(out / "table.csv")
    assert list(table["level"]) == [8]
    assert (out / "figures" / "hull.png").stat().st_size > 5000
    # a rerun repeats nothing
    p = snakemake(tmp_path, path, "hull", "--dry-run")
    assert "Nothing to be done" in p.stdout + p.stderr
