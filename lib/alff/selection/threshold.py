"""The FLARE criterion (Vandermause et al. 2020): label a frame when any
force-component standard deviation exceeds ``k * sigma_n``; the ``N`` most
uncertain atomic environments of a labelled frame join the training set."""

from __future__ import annotations

import numpy as np

from .protocol import CONTINUE, LABEL, STOP

__all__ = ["ThresholdSelector", "atom_uncertainty"]


def atom_uncertainty(forces_std):
    """Per-atom uncertainty: the largest force-component std.

    Parameters
    ----------
    forces_std : (N, 3) array

    Returns
    -------
    (N,) array
    """
    return np.asarray(forces_std).max(axis=1)


class ThresholdSelector:
    """sigma > k * sigma_n.

    Parameters
    ----------
    std_tolerance_factor : float
        ``k``: the threshold is ``k`` times the model's noise ``noise_``.
    absolute : float or None
        A fixed threshold in eV/A instead (when set).
    max_atoms_added : int
        ``N``: the most uncertain environments of a labelled frame that
        join the training set.
    break_factor : float or None
        A score above ``break_factor * threshold`` stops the trajectory
        (batch exploration; MLIP's gamma_break).

    Attributes
    ----------
    threshold_ : float
        The threshold of the latest :meth:`score` (eV/A).
    """

    kind = "threshold"
    score_label = r"max force std ($\mathrm{eV/\AA}$)"
    score_log = False

    def __init__(self, std_tolerance_factor=1.0, absolute=None, max_atoms_added=4, break_factor=4.0):
        self.std_tolerance_factor = float(std_tolerance_factor)
        self.absolute = None if absolute is None else float(absolute)
        self.max_atoms_added = int(max_atoms_added)
        self.break_factor = None if break_factor is None else float(break_factor)
        self.threshold_ = float("nan")

    @classmethod
    def from_config(cls, section):
        return cls(float(section.get("std_tolerance_factor", 1.0)), section.get("absolute"),
                   int(section.get("max_atoms_added", 4)), section.get("break_factor", 4.0))

    def threshold(self, model):
        """Force-std threshold in eV/A for ``model``."""
        return float(self.absolute) if self.absolute else self.std_tolerance_factor * float(model.noise_)

    def drive(self, model):
        return model

    def score(self, model, atoms, prediction):
        self.threshold_ = self.threshold(model)
        return atom_uncertainty(prediction["forces_std"])

    def verdict(self, step, score):
        u = float(np.max(score))
        if u <= self.threshold_:
            return CONTINUE
        if self.break_factor and u > self.break_factor * self.threshold_:
            return STOP
        return LABEL

    def pick(self, candidates, n, model=None):
        """The ``n`` most uncertain candidates, most uncertain first."""
        return sorted(range(len(candidates)),
                      key=lambda i: -float(candidates[i].info.get("max_uncertainty", 0.0)))[:int(n)]

    def training_atoms(self, frame, score):
        """The ``max_atoms_added`` most uncertain atoms, most uncertain first."""
        return np.argsort(-np.asarray(score), kind="stable")[:max(self.max_atoms_added, 1)]

    def get_state(self):
        return {"threshold": self.threshold_}

    def set_state(self, state):
        self.threshold_ = float(state.get("threshold", float("nan")))
