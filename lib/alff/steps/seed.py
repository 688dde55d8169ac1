"""The first training data and the independent test sets (shared by every
scheme of a run)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ..analysis.phase import MISMATCH, PhaseReference, classify_frames
from ..dynamics import MDState
from ..jobs import write_json
from ..learning import initial_training
from ..seeding import oracle_md, phase_test_set, rattled_copies
from ..structure_io import read_frames, write_frames
from ..structures import build_structure
from .common import oracle_cache

__all__ = ["seed_step", "testset_step", "PhaseMismatchError", "phase_check_path"]

log = logging.getLogger("alff.pipeline")


class PhaseMismatchError(ValueError):
    """A test set whose structure contradicts its phase label."""


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


def testset_step(system, protocol, testset, oracle, random_seed, phase, out, cache_dir, segment_index=None):
    """Independent oracle MD of one phase, from the start structure, with
    its own random seed; then its phase check.

    The frames are classified by structure (:mod:`alff.analysis.phase`,
    against the start structure) and the classification is written to
    :func:`phase_check_path` of ``out``. A label the frames contradict (a
    "liquid" test set that is crystalline) raises after the frames were
    written and their oracle calls cached.

    Parameters
    ----------
    system, testset, oracle : dict
        Config sections.
    protocol : dict
        ``temperature_K`` (the phase's first segment), ``timestep_fs``,
        ``friction_per_fs`` and ``phase_index`` (its place among the
        schedule's phases, which seeds the RNG); ``melt_K`` to melt the
        start structure first (a phase that follows a hotter liquid).
    segment_index : int, optional
        Index of the phase's first segment in ``explore.schedule`` (named in
        the error's fix).

    Raises
    ------
    PhaseMismatchError
        The frames' structure contradicts the phase label.
    """
    t = testset
    rng = np.random.default_rng(random_seed + 1000 + int(protocol["phase_index"]))
    orc = oracle_cache(oracle, cache_dir)
    T = float(protocol["temperature_K"])
    start = build_structure(system)
    frames = phase_test_set(start, orc, T, t["frames"], t["every"], t["equilibrate_steps"],
                            float(protocol["timestep_fs"]), float(protocol["friction_per_fs"]), rng,
                            label=f"test set {phase}: ", melt_K=protocol.get("melt_K"))
    check = classify_frames(frames, PhaseReference.from_structure(start), phase)
    check.update(temperature_K=T, segment_index=segment_index, n_atoms=len(start))
    for f, x in zip(frames, check["solid_fraction"]):
        f.info["phase"] = phase
        if x is not None:
            f.info["solid_fraction"] = x
    write_frames(out, frames)
    log.info("test set %s: %d frames at %.0f K (%d oracle calls, %d from cache)", phase, len(frames), T,
             orc.calls, orc.hits)
    write_json(phase_check_path(out), check)
    if check["status"] == MISMATCH:
        # Snakemake deletes a failed job's outputs: the classification the
        # error names is kept beside the oracle cache, which survives
        kept = Path(cache_dir) / "phase_check.json"
        write_json(kept, check)
        raise PhaseMismatchError(mismatch_message(check, t, cache_dir, kept))
    log.info("test set %s: phase check %s%s", phase, check["status"], _check_summary(check))


def phase_check_path(testset_path):
    """Where the phase check of a test set goes: ``<phase>.phase.json``
    beside ``<phase>.extxyz``."""
    p = Path(testset_path)
    return p.with_name(p.stem + ".phase.json")


def _check_summary(check):
    if check["mean_solid_fraction"] is None:
        return f" ({check['reason']})"
    per = ", ".join(f"{x:.2f}" for x in check["solid_fraction"])
    return (f": mean q6 solid fraction {check['mean_solid_fraction']:.2f} (frames: {per}), verdict "
            f"{check['verdict']} ({check['crystal']} reference, cutoff {check['cutoff']:.2f} A)")


def mismatch_message(check, testset, cache_dir, check_path):
    """The error of a test set whose structure contradicts its label, with
    the fix."""
    k = check.get("segment_index")
    seg = f"explore.schedule[{k}]" if k is not None else f"explore.schedule[<first with phase: {check['phase']}>]"
    T, phase = check["temperature_K"], check["phase"]
    if check["expected"] == "liquid":
        fix = (f"raise {seg}.temperature_K (now {T:.0f} K) until the cell melts, use a larger cell "
               f"(system.repeat; {check['n_atoms']} atoms now) or a lower density (system.a larger: heating at "
               "constant volume raises the pressure and with it the melting point; NPT, which explore.ensemble "
               "does not offer, would let the cell expand)")
    else:
        fix = f"lower {seg}.temperature_K (now {T:.0f} K) below the melting point"
    return (f"test set '{phase}' is not {check['expected']}{_check_summary(check)}, after "
            f"{testset['equilibrate_steps']} equilibration steps at {T:.0f} K. Its metrics and figures would be "
            f"labelled {check['expected']}. Fix: {fix}; or, if the structure is what you want, give {seg}.phase a "
            f"label that claims no phase (not starting with solid/crystal/liquid/melt). The test set's oracle calls "
            f"are cached in {cache_dir}; the classification is in {check_path}")
