"""The Selector protocol: how an active-learning scheme decides what to label.

A selector is consulted at every step of an exploration
(:class:`~alff.learning.explorer.Explorer`) and after it:

1. :meth:`Selector.drive` - the potential the dynamics runs on (the model
   itself; HAL drives on a biased energy);
2. :meth:`Selector.score` - a per-atom uncertainty of the current step, from
   the model's prediction (FLARE: the largest force-component std);
3. :meth:`Selector.verdict` - what that score means: :data:`CONTINUE`,
   :data:`CANDIDATE` (worth labelling if the budget allows), :data:`LABEL`
   (label now) or :data:`STOP` (the trajectory has left the region the model
   knows: stop it);
4. :meth:`Selector.pick` - which of an iteration's candidates to label;
5. :meth:`Selector.training_atoms` - which atoms of a labelled frame become
   training environments.

A selector's mutable state (running means, counters) is what
:meth:`get_state` returns; the on-the-fly driver checkpoints it after every
oracle call. To add a selector, copy :mod:`alff.selection.threshold` (the
FLARE criterion) and register it in :mod:`alff.selection.registry`.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

__all__ = ["Selector", "CONTINUE", "CANDIDATE", "LABEL", "STOP", "VERDICTS"]

CONTINUE = "continue"
CANDIDATE = "candidate"
LABEL = "label"
STOP = "stop"
VERDICTS = (CONTINUE, CANDIDATE, LABEL, STOP)


@runtime_checkable
class Selector(Protocol):
    """Every active-learning criterion.

    Attributes
    ----------
    kind : str
        The ``kind`` of the selector's config section.
    threshold_ : float
        The scale the latest score was compared with (logged; NaN if the
        criterion has none).
    score_label : str, optional
        Axis label of the score in the learning figure (default
        "selector score"); ``score_log`` (bool, optional) a log axis.
    needs_model : bool, optional
        :meth:`pick` needs the model (the batch select job loads it).
    """

    kind: ClassVar[str]
    threshold_: float

    @classmethod
    def from_config(cls, section: dict) -> "Selector": ...

    def drive(self, model):
        """The object the explorer's dynamics calls ``predict`` on."""

    def score(self, model, atoms, prediction) -> "object":
        """(N,) per-atom uncertainty of ``atoms`` from ``prediction`` (the
        result of ``drive(model).predict(atoms, ..., return_std=True)``)."""

    def verdict(self, step: int, score) -> str:
        """One of :data:`VERDICTS` for the step's score."""

    def pick(self, candidates, n: int, model=None) -> list:
        """Indices of at most ``n`` candidates (frames with
        ``info['max_uncertainty']`` and ``arrays['uncertainty']``) to label."""

    def training_atoms(self, frame, score) -> "object":
        """Indices of the atoms of a labelled ``frame`` (per-atom ``score``)
        that join the training set."""

    def get_state(self) -> dict: ...

    def set_state(self, state: dict) -> None: ...
