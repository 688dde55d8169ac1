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

Both take ``score_every`` (default 1): eps_B needs the (3N, P) force rows of
the structure, which at the paper's cutoffs cost ~20x the forces alone; with
``score_every`` n the explorer computes eps_B at every n-th step and at the
step right after each label (the first step of a refitted model), and the
forces alone at the others. The criteria see only scored steps: the running
mean over the previous k MD steps is the mean of the ``k // n`` scored steps
in them (the step after a label is judged but not added to the window, so
that it does not weigh n times), ``min_steps`` likewise counts MD steps.
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


def _score_every(value):
    n = int(value)
    if n < 1 or n != value:
        raise ValueError(f"selector.score_every must be a whole number >= 1 (MD steps), got {value!r}")
    return n


class _WholeStructure:
    """What both criteria share: eps_B as the score, every atom trained."""

    score_every = 1
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
    score_every : int
        MD steps between scored steps (the explorer's stride of eps_B).
    noise_factor : float or None
        Also label when eps_B > noise_factor * beta^-1/2 (the model's
        posterior error above its fitted noise: more data would lower the
        error). None (default) - the paper's criterion alone, which compares
        eps_B with its own past and so does not see a model that is poor from
        the start of the trajectory (measured: config/systems/si_dynamic.yaml).

    Attributes
    ----------
    threshold_ : float
        The lower of gamma * mu_k (NaN while the window fills) and
        noise_factor * beta^-1/2 at the latest step.
    """

    kind = "trajectory_average"

    def __init__(self, gamma=3.0, k=1000, min_steps=20, score_every=1, noise_factor=None):
        self.gamma, self.k, self.min_steps = float(gamma), int(k), int(min_steps)
        self.score_every = _score_every(score_every)
        self.noise_factor = None if noise_factor is None else float(noise_factor)
        if self.noise_factor is not None and not self.noise_factor > 0:
            raise ValueError(f"selector.noise_factor must be > 0 or null, got {noise_factor}")
        self._noise = float("nan")
        if not self.gamma > 1.0 or self.k < 1 or not 1 <= self.min_steps <= self.k:
            raise ValueError(f"selector: trajectory_average needs gamma > 1 and 1 <= min_steps <= k, got gamma "
                             f"{gamma}, k {k}, min_steps {min_steps}")
        if self.score_every > self.min_steps:
            raise ValueError(f"selector: trajectory_average needs score_every <= min_steps (the window must hold a "
                             f"scored step before it may fire), got score_every {score_every}, min_steps {min_steps}")
        self.window = deque(maxlen=max(self.k // self.score_every, 1))
        self._needed = -(-self.min_steps // self.score_every)  # scored steps in min_steps MD steps
        self.threshold_ = float("nan")

    @classmethod
    def from_config(cls, section):
        unknown = set(section) - {"kind", "gamma", "k", "min_steps", "score_every", "noise_factor"}
        if unknown:
            raise ValueError(f"selector: trajectory_average takes gamma, k, min_steps, score_every and noise_factor, "
                             f"got {sorted(unknown)}")
        return cls(section.get("gamma", 3.0), section.get("k", 1000), section.get("min_steps", 20),
                   section.get("score_every", 1), section.get("noise_factor"))

    def _observe(self, model, eps):
        self._noise = float(model.noise_)

    def verdict(self, step, score):
        eps = float(np.max(score))
        n = len(self.window)
        average = self.gamma * float(np.mean(self.window)) if n >= self._needed else float("nan")
        floor = self.noise_factor * self._noise if self.noise_factor is not None else float("nan")
        self.threshold_ = float(np.nanmin([average, floor])) if np.isfinite([average, floor]).any() else float("nan")
        fire = bool((n >= self._needed and eps > average) or (np.isfinite(floor) and eps > floor))
        if step % self.score_every == 0:  # the stride's steps only: the extra step after a label is judged, not kept
            self.window.append(eps)
        return LABEL if fire else CONTINUE

    def get_state(self):
        return {"window": list(self.window), "threshold": self.threshold_}

    def set_state(self, state):
        self.window = deque((float(x) for x in state.get("window", [])), maxlen=self.window.maxlen)
        self.threshold_ = float(state.get("threshold", float("nan")))


class RefitMinimumSelector(_WholeStructure):
    """eps_B > mean of eps_min, eps_min the eps_B right after each refit.

    Attributes
    ----------
    eps_min_ : list of float
    threshold_ : float
    """

    kind = "eps_min"

    def __init__(self, score_every=1):
        self.score_every = _score_every(score_every)
        self.eps_min_ = []
        self._seen = None
        self._fresh = False
        self.threshold_ = float("nan")

    @classmethod
    def from_config(cls, section):
        unknown = set(section) - {"kind", "score_every"}
        if unknown:
            raise ValueError(f"selector: eps_min takes only score_every, got {sorted(unknown)}")
        return cls(section.get("score_every", 1))

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
