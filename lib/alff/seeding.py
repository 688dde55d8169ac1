"""Oracle-driven structures: the ab initio MD seed, rattled copies and test sets."""

from __future__ import annotations

import logging
import time

import numpy as np

from .dynamics import Integrator, MDState, kinetic_temperature, thermalize
from .oracle import is_ok

__all__ = ["oracle_md", "rattled_copies", "phase_test_set"]

log = logging.getLogger("alff.seeding")
# progress lines: the log file, and the terminal at a steady rate (alff.jobs.job)
progress = logging.getLogger("alff.progress.seeding")


def oracle_md(atoms, oracle, temperature_K, steps, timestep_fs=5.0, ensemble="langevin", friction_per_fs=0.01,
              keep_every=1, rng=None, start_step=0, label="", progress_s=10.0, purpose="seed"):
    """Molecular dynamics with the oracle's forces (ab initio MD).

    Parameters
    ----------
    atoms : ase.Atoms
        Start structure; momenta are drawn at ``temperature_K`` if absent.
    oracle : Oracle or OracleCache
    temperature_K : float
    steps : int
        Number of MD steps (``steps + 1`` oracle calls with the start).
    keep_every : int
        Keep frames ``0, k, 2k, ...`` (step index from 0).
    rng : numpy.random.Generator
    purpose : str
        Stored as ``info['purpose']`` of every frame (seed, test).

    Returns
    -------
    frames : list of ase.Atoms
        Kept labelled frames (``info`` md_step, md_time_ps, temperature_K).
    state : MDState
        The final structure with momenta (to continue from).
    n_failed : int
        Oracle failures (the MD stops at the first one: it has no forces to
        go on with).
    """
    rng = rng or np.random.default_rng(0)
    a = atoms.copy()
    a.calc = None
    a.info["purpose"] = purpose
    masses = a.get_masses()
    if not a.has("momenta") or not np.any(a.get_momenta()):
        a.set_momenta(thermalize(masses, temperature_K, rng))
    integ = Integrator(masses, timestep_fs, friction_per_fs)
    frames, n_failed = [], 0
    t_last = -np.inf

    def call(step):
        lab = oracle.label(a)
        lab.info.update(md_step=start_step + step, md_time_ps=(start_step + step) * timestep_fs / 1000.0,
                        temperature_K=kinetic_temperature(a.get_momenta(), masses))
        return lab

    def evaluate(x, p, step):
        a.set_positions(x)
        a.set_momenta(p)
        lab = call(step)
        return {"label": lab, "forces": lab.get_forces() if is_ok(lab) else None}

    lab = call(0)
    for step in range(steps + 1):
        if not is_ok(lab):
            n_failed += 1
            log.warning("%soracle MD stops at step %d: %s", label, step, lab.info.get("oracle_reason"))
            break
        if step % max(int(keep_every), 1) == 0:
            frames.append(lab)
        if time.perf_counter() - t_last > progress_s or step == steps:
            t_last = time.perf_counter()
            progress.info("%soracle MD step %d/%d  T=%.0f K  E=%.4f eV", label, step, steps,
                          kinetic_temperature(a.get_momenta(), masses), lab.get_potential_energy())
        if step == steps:
            break
        x, p, res = integ.step(a.get_positions(), a.get_momenta(), lab.get_forces(),
                               lambda x, p: evaluate(x, p, step + 1), ensemble, temperature_K, rng)
        a.set_momenta(p)
        lab = res["label"]
    state = MDState(a, 0, 0.0, rng)
    return frames, state, n_failed


def rattled_copies(atoms, oracle, n, amplitude, rng):
    """``n`` copies with Gaussian displacements of std ``amplitude`` (A),
    labelled by the oracle (failed records included)."""
    out = []
    for _ in range(int(n)):
        a = atoms.copy()
        a.calc = None
        a.positions += rng.normal(0.0, amplitude, a.positions.shape)
        a.info["purpose"] = "seed"
        out.append(oracle.label(a))
    return out


def phase_test_set(atoms, oracle, temperature_K, frames, every, equilibrate_steps, timestep_fs=5.0,
                   friction_per_fs=0.01, rng=None, label="", melt_K=None):
    """Independent oracle MD at one temperature: equilibrate, then keep
    ``frames`` frames ``every`` steps apart.

    With ``melt_K``, the start structure is first melted: ``equilibrate_steps``
    at ``melt_K``, then the equilibration at ``temperature_K`` from there (a
    liquid cooled below the temperature the crystal would superheat to, as
    the exploration's schedule made it).

    Returns
    -------
    list of ase.Atoms
        Labelled frames (failed calls end the run early and are left out).
    """
    if melt_K:
        _, melt, _ = oracle_md(atoms, oracle, melt_K, equilibrate_steps, timestep_fs=timestep_fs,
                               friction_per_fs=friction_per_fs, keep_every=max(equilibrate_steps, 1), rng=rng,
                               label=f"{label}melting at {melt_K:.0f} K: ", purpose="test")
        atoms = melt.atoms
    kept, state, _ = oracle_md(atoms, oracle, temperature_K, equilibrate_steps + frames * every,
                               timestep_fs=timestep_fs, friction_per_fs=friction_per_fs, keep_every=1,
                               rng=rng, label=label, purpose="test")
    sel = [f for f in kept if f.info["md_step"] > equilibrate_steps
           and (f.info["md_step"] - equilibrate_steps) % every == 0]
    return sel[:frames]
