"""The final model mapped to cubic B-splines, exported for LAMMPS."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..jobs import write_json
from ..models import load_model
from ..structure_io import read_frames

__all__ = ["map_step"]

log = logging.getLogger("alff.pipeline")


def map_step(map_cfg, model_path, test_paths, out):
    """Map the final model to splines, export LAMMPS files, report the
    mapping error on the test frames.

    Parameters
    ----------
    map_cfg : dict
        The ``map`` section (knot spacings, margin).
    out : dict
        Paths: mapped (json), uf3, table, snippet, report (json).
    """
    from ..lammps_export import write_lammps_files
    from ..models.mapped import MappedPotential
    m = map_cfg
    model = load_model(model_path)
    t0 = time.perf_counter()
    mp = MappedPotential.from_model(model, grid={"twobody": m["twobody"], "threebody": m["threebody"]},
                                    margin=m["margin"])
    t_map = time.perf_counter() - t0
    mp.save(Path(out["mapped"]).with_suffix(""))
    d = Path(out["uf3"]).parent
    write_lammps_files(mp, d, name=Path(out["uf3"]).stem)
    frames = [f for p in test_paths for f in read_frames(p)]
    err = mp.mapping_error(model, frames) if frames else {}
    report = dict(err, map_s=t_map, rmin=mp.rmin, min_training_distance=mp.info["min_training_distance"],
                  grid={"twobody": m["twobody"], "threebody": m["threebody"]})
    write_json(out["report"], report)
    log.info("mapped in %.1f s (rmin %.3f A); force error vs the model on %d test frames: RMS %s eV/A, max %s; "
             "%d frames closer than rmin left out; files in %s", t_map, mp.rmin, err.get("n_frames", 0),
             err.get("force_rmse"), err.get("force_max"), err.get("n_out_of_range", 0), d)
    if err.get("n_out_of_range"):
        log.warning("%d of %d test frames have atoms closer than the smallest training distance minus the "
                    "margin: MD with the mapped potential will stop there (learn longer or hotter)",
                    err["n_out_of_range"], len(frames))
