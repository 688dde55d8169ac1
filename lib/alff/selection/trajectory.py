"""The dynamic-training criteria (Callsen, Lee, Chou 2025) on the Bayesian
error of a whole structure.

eps_B is one number per MD step: the RMS over the 3N force components of
their posterior std, sqrt(mean_r (A Sigma A^T)_rr) (``forces_std`` of a
Bayesian linear model, e.g. the force-constant expansion). The score of a
step is eps_B for every atom (the whole structure is labelled).

- ``trajectory_average``: label when eps_B > gamma * mu_k, mu_k the mean of
  eps_B over the previous k steps (the paper: gamma 3, k 1000). The window
  runs on across refits; until ``min_steps`` steps are in it, nothing is
  labelled (the mean of a handful of steps is no scale).
- ``eps_min`` (the older criterion the paper compares with): eps_min is
  eps_B at the first step after each refit (and after the initial fit);
  label when eps_B > the mean of the stored eps_min.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .protocol import CONTINUE, LABEL

__all__ = ["TrajectoryAverageSelector", "RefitMinimumSelector", "bayesian_error"]


def bayesian_error(forces_std):
    """eps_B: RMS over all force components of their std.

    Parameters
    ----------
    forces_std : (N, 3) array

    Returns
    -------
    float
    """
    s = np.asarray(forces_std, float)
    return float(np.sqrt(np.mean(s ** 2)))


class _WholeStructure:
    """What both criteria share: eps_B as the score, every atom trained."""

    score_label = r"$\epsilon_B$ ($\mathrm{eV/\AA}$)"
    score_log = True

    def drive(self, model):
        return model

    def score(self, model, atoms, prediction):
        eps = bayesian_error(prediction["forces_std"])
        self._observe(model, eps)
        return np.full(len(prediction["forces_std"]), eps)

    def _observe(self, model, eps):
        pass

    def pick(self, candidates, n, model=None):
        """The ``n`` candidates of largest eps_B, largest first."""
        return sorted(range(len(candidates)),
                      key=lambda i: -float(candidates[i].info.get("max_uncertainty", 0.0)))[:int(n)]

    def training_atoms(self, frame, score):
        return np.arange(len(frame))


class TrajectoryAverageSelector(_WholeStructure):
    """eps_B > gamma * (mean eps_B over the previous k steps).

    Parameters
    ----------
    gamma : float
    k : int
        Window of the running mean (MD steps).
    min_steps : int
        Steps in the window before the criterion may fire.

    Attributes
    ----------
    threshold_ : float
        gamma * mu_k at the latest step (NaN while the window fills).
    """

    kind = "trajectory_average"

    def __init__(self, gamma=3.0, k=1000, min_steps=20):
        self.gamma, self.k, self.min_steps = float(gamma), int(k), int(min_steps)
        if not self.gamma > 1.0 or self.k < 1 or not 1 <= self.min_steps <= self.k:
            raise ValueError(f"selector: trajectory_average needs gamma > 1 and 1 <= min_steps <= k, got gamma "
                             f"{gamma}, k {k}, min_steps {min_steps}")
        self.window = deque(maxlen=self.k)
        self.threshold_ = float("nan")

    @classmethod
    def from_config(cls, section):
        return cls(section.get("gamma", 3.0), section.get("k", 1000), section.get("min_steps", 20))

    def verdict(self, step, score):
        eps = float(np.max(score))
        n = len(self.window)
        self.threshold_ = self.gamma * float(np.mean(self.window)) if n >= self.min_steps else float("nan")
        fire = n >= self.min_steps and eps > self.threshold_
        self.window.append(eps)
        return LABEL if fire else CONTINUE

    def get_state(self):
        return {"window": list(self.window), "threshold": self.threshold_}

    def set_state(self, state):
        self.window = deque((float(x) for x in state.get("window", [])), maxlen=self.k)
        self.threshold_ = float(state.get("threshold", float("nan")))


class RefitMinimumSelector(_WholeStructure):
    """eps_B > mean of eps_min, eps_min the eps_B right after each refit.

    Attributes
    ----------
    eps_min_ : list of float
    threshold_ : float
    """

    kind = "eps_min"

    def __init__(self):
        self.eps_min_ = []
        self._seen = None
        self._fresh = False
        self.threshold_ = float("nan")

    @classmethod
    def from_config(cls, section):
        if section:
            raise ValueError(f"selector: eps_min takes no settings, got {sorted(section)}")
        return cls()

    def _observe(self, model, eps):
        fitted = (int(model.n_train_), float(model.noise_))  # changes with every refit
        self._fresh = fitted != self._seen
        if self._fresh:
            self.eps_min_.append(eps)
            self._seen = fitted

    def verdict(self, step, score):
        eps = float(np.max(score))
        self.threshold_ = float(np.mean(self.eps_min_)) if self.eps_min_ else float("nan")
        return LABEL if (self.eps_min_ and not self._fresh and eps > self.threshold_) else CONTINUE

    def get_state(self):
        return {"eps_min": self.eps_min_, "seen": self._seen, "threshold": self.threshold_}

    def set_state(self, state):
        self.eps_min_ = [float(x) for x in state.get("eps_min", [])]
        seen = state.get("seen")
        self._seen = None if seen is None else (int(seen[0]), float(seen[1]))
        self.threshold_ = float(state.get("threshold", float("nan")))
