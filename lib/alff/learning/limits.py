"""When a learning run is useless: limits that stop it loudly.

A run whose labels mostly fail, whose MD heats far above its schedule or
whose atoms collapse onto each other spends oracle calls on nothing. The
``learn.limits`` section sets where that is judged; crossing a limit raises
:class:`RunLimitError` naming the key, before the next oracle call. Every
finished call stays in the oracle cache and the checkpoints, so the run
resumes once the cause is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RunLimitError", "Limits", "closest_pair_distance"]


class RunLimitError(RuntimeError):
    """A learning run crossed a ``learn.limits`` limit (the message names it)."""


def closest_pair_distance(atoms, cutoff):
    """The shortest interatomic distance (minimum image) if below ``cutoff``.

    Parameters
    ----------
    atoms : ase.Atoms
    cutoff : float
        Only pairs closer than this are searched (A).

    Returns
    -------
    float
        The distance, or ``inf`` when no pair is closer than ``cutoff``.
    """
    from ase.neighborlist import neighbor_list
    if len(atoms) < 2:
        return np.inf
    d = neighbor_list("d", atoms, float(cutoff))
    return float(d.min()) if len(d) else np.inf


def nearest_neighbour_distance(atoms):
    """The closest pair of a start structure (A), searched up to 8 A.

    Raises
    ------
    ValueError
        Positions not finite, or no pair within 8 A (nothing to judge by).
    """
    x = np.asarray(atoms.positions)
    if not np.isfinite(x).all():
        raise ValueError("the start structure has non-finite positions")
    d = closest_pair_distance(atoms, 8.0)
    if not np.isfinite(d) or d <= 0:
        raise ValueError(f"the start structure has no pair of atoms within 8 A (closest: {d})")
    return d


@dataclass
class Limits:
    """The ``learn.limits`` section.

    Attributes
    ----------
    max_failed_fraction : float
        Failed learning labels over learning calls, judged once
        ``min_calls`` calls were made; a run where every call failed stops
        whatever the count.
    min_calls : int
    max_temperature_factor : float
        Stop when the MD's kinetic temperature exceeds this times the
        schedule's highest target temperature.
    min_pair_distance_fraction : float
        Stop when two atoms come closer than this times the start
        structure's nearest-neighbour distance.
    """

    max_failed_fraction: float = 0.5
    min_calls: int = 4
    max_temperature_factor: float = 3.0
    min_pair_distance_fraction: float = 0.5

    @classmethod
    def from_config(cls, learn):
        """From the ``learn`` section (its ``limits`` sub-section)."""
        lim = dict((learn or {}).get("limits") or {})
        return cls(**{k: lim[k] for k in cls.__dataclass_fields__ if k in lim})

    def check_failures(self, n_calls, n_failed, where="", final=False):
        """Raise when too many learning labels failed.

        Parameters
        ----------
        n_calls, n_failed : int
            Learning oracle calls so far and how many failed.
        final : bool
            The run ends here: also stop when every call failed, however few.
        """
        if n_calls <= 0 or n_failed <= 0:
            return
        frac = n_failed / n_calls
        if n_failed == n_calls and (final or n_calls >= self.min_calls):
            raise RunLimitError(f"{where}every learning oracle call failed ({n_failed} of {n_calls}); the model "
                                "learned nothing. Check the oracle (reasons in calls.csv and the log)")
        if n_calls >= self.min_calls and frac > self.max_failed_fraction:
            raise RunLimitError(f"{where}{n_failed} of {n_calls} learning oracle calls failed ({frac:.0%}), above "
                                f"learn.limits.max_failed_fraction={self.max_failed_fraction:g}; check the oracle "
                                "(reasons in calls.csv and the log)")

    def structure_guard(self, start_atoms, schedule):
        """A :class:`StructureGuard` for MD from ``start_atoms`` on
        ``schedule`` (its highest target, at least 300 K, sets the
        temperature limit)."""
        t_max = max([300.0] + [seg.temperature_K for seg in schedule.segments])
        return StructureGuard(self.max_temperature_factor * t_max, self.min_pair_distance_fraction *
                              nearest_neighbour_distance(start_atoms), self)


@dataclass
class StructureGuard:
    """Checks one trajectory against the limits.

    Attributes
    ----------
    max_temperature_K : float
    min_distance_A : float
    limits : Limits
    """

    max_temperature_K: float
    min_distance_A: float
    limits: Limits

    def check_temperature(self, temperature_K, step, where=""):
        if not np.isfinite(temperature_K) or temperature_K > self.max_temperature_K:
            raise RunLimitError(
                f"{where}step {step}: MD temperature {temperature_K:.4g} K exceeds "
                f"learn.limits.max_temperature_factor={self.limits.max_temperature_factor:g} x the schedule's "
                f"highest target ({self.max_temperature_K:.4g} K): the trajectory blew up (timestep too long, "
                "a broken model or oracle forces)")

    def check_distances(self, atoms, step, where=""):
        x = atoms.positions
        if not np.isfinite(x).all():
            raise RunLimitError(f"{where}step {step}: non-finite positions: the trajectory blew up")
        d = closest_pair_distance(atoms, self.min_distance_A)
        if d < self.min_distance_A:
            raise RunLimitError(
                f"{where}step {step}: two atoms are {d:.3f} A apart, closer than "
                f"learn.limits.min_pair_distance_fraction={self.limits.min_pair_distance_fraction:g} x the "
                f"start structure's nearest-neighbour distance ({self.min_distance_A:.3f} A): the trajectory "
                "collapsed (timestep too long, or a model without repulsion)")
