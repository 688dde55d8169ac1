"""The first training data and the independent test sets (shared by every
scheme of a run)."""

from __future__ import annotations

import logging
import time

import numpy as np

from ..dynamics import MDState
from ..learning import initial_training
from ..seeding import oracle_md, phase_test_set, rattled_copies
from ..structure_io import read_frames, write_frames
from ..structures import build_structure
from .common import oracle_cache

__all__ = ["seed_step", "testset_step"]

log = logging.getLogger("alff.pipeline")


def seed_step(system, seed, oracle, random_seed, train_out, state_out, cache_dir):
    """Seed training data: oracle MD, rattled copies or a labelled file.

    Writes the labelled frames with ``train_mask`` (``seed.init_atoms``
    random atoms each) and the state the exploration starts from.

    Parameters
    ----------
    system, seed, oracle : dict
        Config sections.
    random_seed : int
    """
    s = seed
    rng = np.random.default_rng(random_seed)
    atoms = build_structure(system)
    t0 = time.perf_counter()
    if s["method"] == "file":
        from ..models.training_set import labelled_frame
        frames = read_frames(s["path"])
        if not frames:
            raise ValueError(f"seed.path: no structures in {s['path']}")
        for k, f in enumerate(frames):
            try:
                labelled_frame(f, k)
            except ValueError as err:
                raise ValueError(f"seed.path {s['path']}: {err}") from err
        state_atoms = frames[-1].copy()
        n_calls = 0
    else:
        orc = oracle_cache(oracle, cache_dir)
        if s["method"] == "md":
            log.info("seed: %d oracle MD steps at %.0f K, keeping every %d-th frame", s["steps"],
                     s["temperature_K"], s["keep_every"])
            frames, state, _ = oracle_md(atoms, orc, s["temperature_K"], s["steps"], timestep_fs=s["timestep_fs"],
                                         ensemble=s["ensemble"], keep_every=s["keep_every"], rng=rng,
                                         label="seed: ")
            state_atoms = state.atoms
        else:
            frames = rattled_copies(atoms, orc, s["copies"], s["amplitude"], rng)
            state_atoms = atoms
        n_calls = orc.calls + orc.hits
    frames = initial_training(frames, s["init_atoms"], rng)
    if not frames:
        why = "; ".join(dict.fromkeys(orc.failures))[:600] if s["method"] != "file" else ""
        raise RuntimeError(f"seed: every seed structure failed labelling ({s['method']}): {why or 'no frames'}. "
                           "Check the oracle settings (oracle.kind, oracle.params) against system.element")
    for f in frames:
        f.info["source"] = "seed"
    write_frames(train_out, frames)
    st = MDState(state_atoms.copy(), 0, 0.0, np.random.default_rng(random_seed + 1))
    write_frames(state_out, [st.to_atoms()])
    log.info("seed: %d training frames, %d oracle calls, %.1f s", len(frames), n_calls, time.perf_counter() - t0)


def testset_step(system, protocol, testset, oracle, random_seed, phase, out, cache_dir):
    """Independent oracle MD of one phase, from the start structure, with
    its own random seed.

    Parameters
    ----------
    system, testset, oracle : dict
        Config sections.
    protocol : dict
        ``temperature_K`` (the phase's first segment), ``timestep_fs``,
        ``friction_per_fs`` and ``phase_index`` (its place among the
        schedule's phases, which seeds the RNG).
    """
    t = testset
    rng = np.random.default_rng(random_seed + 1000 + int(protocol["phase_index"]))
    orc = oracle_cache(oracle, cache_dir)
    T = float(protocol["temperature_K"])
    frames = phase_test_set(build_structure(system), orc, T, t["frames"], t["every"], t["equilibrate_steps"],
                            float(protocol["timestep_fs"]), float(protocol["friction_per_fs"]), rng,
                            label=f"test set {phase}: ")
    for f in frames:
        f.info["phase"] = phase
    write_frames(out, frames)
    log.info("test set %s: %d frames at %.0f K (%d oracle calls, %d from cache)", phase, len(frames), T,
             orc.calls, orc.hits)
