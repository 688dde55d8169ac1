"""Molecular-dynamics state, temperature schedules and the BAOAB integrator.

:meth:`Integrator.step` is the one Python MD step of alff: the explorer of
every model and selector, the oracle MD of seeds and test sets and the MD
of models without a compiled kernel (:class:`alff.md.MD`) all call it. The
compiled loop of :mod:`alff.md` runs the same scheme for mapped potentials.

ASE units throughout: positions in A, masses in amu, momenta ``m v``, time
in ``ase.units.fs`` multiples, energies in eV.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
from ase import units

__all__ = ["Segment", "Schedule", "MDState", "thermalize", "kinetic_temperature", "Integrator"]


@dataclass
class Segment:
    """Part of an exploration protocol at one temperature.

    Attributes
    ----------
    temperature_K : float
    steps : int
    phase : str
        Label for reports and test sets (e.g. ``solid``, ``liquid``).
    rescale : bool
        Rescale the velocities to ``temperature_K`` when the segment starts
        (an instantaneous heat/quench, as in the FLARE Al crystal-melt run).
    ensemble : str or None
        ``langevin`` or ``nve``; None takes the protocol's.
    """

    temperature_K: float
    steps: int
    phase: str = "default"
    rescale: bool = False
    ensemble: str | None = None


@dataclass
class Schedule:
    """A temperature schedule: segments run one after another."""

    segments: list
    ensemble: str = "langevin"
    timestep_fs: float = 5.0
    friction_per_fs: float = 0.01

    @classmethod
    def from_config(cls, cfg):
        """From the ``explore`` config section."""
        segs = [Segment(float(s["temperature_K"]), int(s["steps"]), str(s.get("phase", "default")),
                        bool(s.get("rescale", False)), s.get("ensemble")) for s in cfg["schedule"]]
        if not segs:
            raise ValueError("explore.schedule needs at least one segment")
        return cls(segs, cfg.get("ensemble", "langevin"), float(cfg.get("timestep_fs", 5.0)),
                   float(cfg.get("friction_per_fs", 0.01)))

    def scaled(self, factor):
        """A copy with every temperature multiplied by ``factor``."""
        segs = [Segment(s.temperature_K * factor, s.steps, s.phase, s.rescale, s.ensemble) for s in self.segments]
        return Schedule(segs, self.ensemble, self.timestep_fs, self.friction_per_fs)

    @property
    def total_steps(self):
        return sum(s.steps for s in self.segments)

    def segment_at(self, step):
        """(index, segment, first step of the segment) for a global step."""
        start = 0
        for k, s in enumerate(self.segments):
            if step < start + s.steps:
                return k, s, start
            start += s.steps
        return len(self.segments) - 1, self.segments[-1], start - self.segments[-1].steps

    def phases(self):
        """Phase labels in order of appearance."""
        out = []
        for s in self.segments:
            if s.phase not in out:
                out.append(s.phase)
        return out


def kinetic_temperature(momenta, masses, n_constraints=3):
    """Instantaneous temperature in K.

    Parameters
    ----------
    momenta : (N, 3) array
    masses : (N,) array
    n_constraints : int
        Degrees of freedom removed (3 for a fixed centre of mass).
    """
    ekin = 0.5 * np.sum(momenta ** 2 / masses[:, None])
    dof = max(3 * len(masses) - n_constraints, 1)
    return 2.0 * ekin / (dof * units.kB)


def thermalize(masses, temperature_K, rng):
    """Maxwell-Boltzmann momenta with zero total momentum, rescaled to exactly
    ``temperature_K``.

    Returns
    -------
    (N, 3) array
    """
    masses = np.asarray(masses, float)
    p = rng.standard_normal((len(masses), 3)) * np.sqrt(masses[:, None] * units.kB * temperature_K)
    p -= masses[:, None] * (p.sum(axis=0) / masses.sum())
    t = kinetic_temperature(p, masses)
    if t > 0 and temperature_K > 0:
        p *= np.sqrt(temperature_K / t)
    return p


@dataclass
class MDState:
    """Where a trajectory is: structure, momenta, step, time and RNG state.

    Saved as one extended-XYZ frame (momenta array, ``info`` with ``md_step``,
    ``md_time_ps``, ``md_rng``) so an exploration can continue exactly where
    the previous one stopped.
    """

    atoms: object
    step: int = 0
    time_ps: float = 0.0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def to_atoms(self):
        a = self.atoms.copy()
        a.calc = None
        a.info.update(md_step=int(self.step), md_time_ps=float(self.time_ps),
                      md_rng=json.dumps(self.rng.bit_generator.state))
        return a

    @classmethod
    def from_atoms(cls, atoms, seed=0):
        info = atoms.info
        rng = np.random.default_rng(seed)
        if "md_rng" in info:
            rng.bit_generator.state = json.loads(info["md_rng"])
        a = atoms.copy()
        a.calc = None
        for k in ("md_step", "md_time_ps", "md_rng"):
            a.info.pop(k, None)
        return cls(a, int(info.get("md_step", 0)), float(info.get("md_time_ps", 0.0)), rng)


class Integrator:
    """Velocity Verlet (NVE) or BAOAB Langevin (NVT) on arrays.

    Parameters
    ----------
    masses : (N,) array
    timestep_fs : float
    friction_per_fs : float
        Langevin friction gamma in 1/fs.
    """

    def __init__(self, masses, timestep_fs, friction_per_fs=0.01):
        self.m = np.asarray(masses, float)[:, None]
        self.dt = float(timestep_fs) * units.fs
        self.gamma = float(friction_per_fs) / units.fs

    def half_kick(self, p, forces):
        """``p + dt/2 F``."""
        return p + 0.5 * self.dt * forces

    def drift_thermostat(self, x, p, ensemble, temperature_K, rng):
        """The A-O-A part of BAOAB (A-A, i.e. a full drift, for NVE).

        Returns
        -------
        x, p : (N, 3) arrays
        """
        if ensemble == "nve":
            return x + self.dt * p / self.m, p
        if ensemble != "langevin":
            raise ValueError(f"explore.ensemble must be 'langevin' or 'nve', got '{ensemble}'")
        x = x + 0.5 * self.dt * p / self.m
        c1 = np.exp(-self.gamma * self.dt)
        c2 = np.sqrt((1.0 - c1 * c1) * units.kB * temperature_K * self.m)
        p = c1 * p + c2 * rng.standard_normal(p.shape)
        x = x + 0.5 * self.dt * p / self.m
        return x, p

    def step(self, x, p, forces, evaluate, ensemble, temperature_K, rng, on_drift=None):
        """One velocity-Verlet (``nve``) or BAOAB (``langevin``) step.

        Parameters
        ----------
        x, p : (N, 3) arrays
            Positions and momenta at the start of the step.
        forces : (N, 3) array
            Forces at ``x``.
        evaluate : callable
            ``evaluate(x, p) -> dict`` at the new positions (``p`` the
            momenta before the last half kick); its ``forces`` entry kicks
            the momenta. A result without ``forces`` (a failed oracle call)
            ends the step without the last half kick.
        ensemble : {'langevin', 'nve'}
        temperature_K : float
        rng : numpy.random.Generator
            The Langevin noise.
        on_drift : callable, optional
            ``on_drift(x, p) -> x`` after the drift, before the forces (a
            barostat rescales the cell and positions here).

        Returns
        -------
        x, p : (N, 3) arrays
            At the end of the step.
        result : dict
            What ``evaluate`` returned.
        """
        p = self.half_kick(p, forces)
        x, p = self.drift_thermostat(x, p, ensemble, temperature_K, rng)
        if on_drift is not None:
            x = on_drift(x, p)
        result = evaluate(x, p)
        if result.get("forces") is not None:
            p = self.half_kick(p, result["forces"])
        return x, p, result
