"""The MLIP package's D-optimality criterion (Podryabinkin & Shapeev 2017;
Novikov et al. 2021): label a configuration when the extrapolation grade
gamma of one of its neighbourhoods against the model's active set exceeds
``gamma_select``; stop the trajectory at ``gamma_break``; pick what to label
among an iteration's candidates by select-add (maxvol over the active set
and the candidates' neighbourhood rows).

In on-the-fly learning a configuration over ``gamma_select`` is labelled at
once (verdict ``label``) and the model refitted (its active set rebuilt);
over ``gamma_break`` too (``stop``: the on-the-fly driver labels it and goes
on; a batch exploration ends there, as the MLIP package's does). Labelled
configurations join the training set whole: MTPs fit energies, forces and
stresses of configurations.
"""

from __future__ import annotations

import copy

import numpy as np

from .protocol import CONTINUE, LABEL, STOP

__all__ = ["MaxvolSelector", "GradeDrive"]


class GradeDrive:
    """The potential the explorer runs on: the model's energies and forces
    with each atom's extrapolation ``grade`` (N,) in one evaluation
    (:meth:`~alff.models.linear.mtp_model.MTPModel.predict_graded`)."""

    def __init__(self, model):
        if not callable(getattr(model, "predict_graded", None)):
            raise ValueError(f"selector.kind maxvol needs a model with an active set and an extrapolation grade "
                             f"(model.kind: mtp), got a {type(model).__name__}")
        self.model = model

    def predict(self, atoms, properties=("forces",), return_std=False):
        """Energy, energies, forces, stress and ``grade`` (the std is the
        grade: ``return_std`` changes nothing)."""
        try:
            self.model.active_set()
        except ValueError as err:  # too few training neighbourhoods: not a property of the structure
            raise RuntimeError(f"selector maxvol: {err}") from err
        return self.model.predict_graded(atoms)


class MaxvolSelector:
    """gamma > gamma_select, select-add by maxvol.

    Parameters
    ----------
    gamma_select : float
        A step whose largest neighbourhood grade exceeds it is labelled
        (on the fly) or a candidate (batch). The paper: ~2 (its Al stage 1a
        3, stage 1b 5).
    gamma_break : float
        A grade at or above it stops the trajectory (batch; on the fly the
        configuration is labelled). The paper: ~10 (Al 1a 10, 1b 5).
    max_selected : int or None
        At most this many configurations picked per iteration (besides the
        caller's budget).

    Attributes
    ----------
    threshold_ : float
        ``gamma_select`` (what the learning log's threshold column shows).
    """

    kind = "maxvol"
    needs_model = True  # pick runs select-add on the model's active set
    score_label = r"extrapolation grade $\gamma$"
    score_log = True

    def __init__(self, gamma_select=2.0, gamma_break=10.0, max_selected=None):
        self.gamma_select, self.gamma_break = float(gamma_select), float(gamma_break)
        if not 1.0 <= self.gamma_select <= self.gamma_break:
            raise ValueError(f"selector: need 1 <= gamma_select <= gamma_break, got gamma_select="
                             f"{gamma_select}, gamma_break={gamma_break}")
        self.max_selected = None if max_selected is None else int(max_selected)
        if self.max_selected is not None and self.max_selected < 1:
            raise ValueError(f"selector.max_selected must be >= 1, got {max_selected}")
        self.threshold_ = self.gamma_select

    @classmethod
    def from_config(cls, section):
        section = dict(section)
        return cls(section.get("gamma_select", 2.0), section.get("gamma_break", 10.0),
                   section.get("max_selected"))

    def drive(self, model):
        return GradeDrive(model)

    def score(self, model, atoms, prediction):
        """(N,) extrapolation grade of each atom's neighbourhood."""
        return np.asarray(prediction["grade"], float)

    def verdict(self, step, score):
        g = float(np.max(score))
        if g >= self.gamma_break:
            return STOP
        return LABEL if g > self.gamma_select else CONTINUE

    def pick(self, candidates, n, model=None):
        """Select-add: the candidates whose neighbourhoods maxvol lets into
        (a copy of) the model's active set, at most ``n`` (and
        ``max_selected``); when more enter, those with the most
        neighbourhoods in the new set first, then the highest grade.

        Raises
        ------
        ValueError
            No model (select-add needs its active set).
        """
        n = int(n) if self.max_selected is None else min(int(n), self.max_selected)
        if not candidates or n <= 0:
            return []
        if model is None:
            raise ValueError("selector maxvol: pick needs the model (its active set)")
        rows = [model.grade_rows(c, projected=True) for c in candidates]
        ids = [(k, a) for k, r in enumerate(rows) for a in range(len(r))]
        active = copy.deepcopy(model.active_set())
        entered = active.select_add(np.vstack(rows), ids=ids)
        counts = {}
        for k, _ in entered:
            counts[k] = counts.get(k, 0) + 1
        grade = [float(candidates[k].info.get("max_uncertainty", 0.0)) for k in range(len(candidates))]
        return sorted(counts, key=lambda k: (-counts[k], -grade[k], k))[:n]

    def training_atoms(self, frame, score):
        """Every atom: a labelled configuration joins the training set whole."""
        return np.arange(len(frame))

    def get_state(self):
        return {"threshold": self.threshold_}

    def set_state(self, state):
        self.threshold_ = float(state.get("threshold", self.gamma_select))
