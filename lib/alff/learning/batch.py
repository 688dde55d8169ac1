"""Batch exploration (one Snakemake job per step): the model is fixed, the
selector's verdicts are collected as candidates, the exploration stops at a
``stop`` verdict or after enough candidates; :func:`select_candidates`
picks what the iteration labels."""

from __future__ import annotations

from ..selection import CANDIDATE, LABEL, STOP
from .explorer import Action, Explorer
from .limits import Limits
from .records import LearningLog, unlabelled_copy

__all__ = ["CandidateCollector", "explore", "select_candidates"]


class CandidateCollector:
    """Handler of a batch exploration: keeps candidate frames.

    Parameters
    ----------
    max_candidates : int
        Stop after this many.
    min_separation : int
        MD steps between candidates (a ``stop`` verdict is kept even
        closer, once per step).
    last_step : int
        Step of the previous candidate (a resumed exploration starts on one
        that was labelled already).
    """

    def __init__(self, max_candidates=20, min_separation=10, last_step=-10 ** 9):
        self.max_candidates = int(max_candidates)
        self.min_separation = int(min_separation)
        self.last_step = int(last_step)
        self.candidates = []

    def handle(self, ex, verdict, res, score):
        st = ex.state
        stop = verdict == STOP
        if verdict not in (CANDIDATE, LABEL, STOP):
            return Action()
        if st.step - self.last_step >= self.min_separation or (stop and st.step > self.last_step):
            ex.check_structure()
            self.candidates.append(unlabelled_copy(st.atoms, score, md_step=st.step, md_time_ps=st.time_ps,
                                                   phase=ex.phase(), purpose="learn"))
            self.last_step = st.step
            if len(self.candidates) >= self.max_candidates or stop:
                return Action(event="stop", stop=True)
            return Action(event="candidate")
        return Action()

    def checkpoint(self, ex, forces):
        """Batch explorations are short jobs: their outputs are the checkpoint."""


def explore(model, selector, schedule, state, settings, learning_log=None, label="", resumed=False,
            guard_start=None, phase_monitor=None):
    """Batch exploration with a fixed model: collect candidate frames.

    Parameters
    ----------
    model : Model
    selector : Selector
    schedule : Schedule
    state : MDState
    settings : dict
        ``max_candidates``, ``min_separation``, ``max_steps`` (per
        exploration; None: the rest of the schedule), ``log_every``,
        ``progress_s``, ``limits`` (the trajectory's limits; crossing one
        raises :class:`~alff.learning.limits.RunLimitError`).
    resumed : bool
        The state is where a previous exploration stopped (on a candidate
        that was labelled already): the first candidate must be at least
        ``min_separation`` steps later.
    guard_start : ase.Atoms, optional
        The structure whose nearest-neighbour distance sets the distance
        limit (default: ``state.atoms``).
    phase_monitor : PhaseMonitor, optional
        Phase checks of the segments explored (its ``rows`` gain the
        checked frames; a segment that ends here is logged).

    Returns
    -------
    candidates : list of ase.Atoms
        With ``arrays['uncertainty']`` and ``info`` md_step, md_time_ps,
        phase, max_uncertainty.
    reason : str
        Why the exploration stopped (see :meth:`Explorer.run`).
    LearningLog
    """
    llog = learning_log if learning_log is not None else LearningLog()
    handler = CandidateCollector(settings.get("max_candidates", 20), settings.get("min_separation", 10),
                                 state.step if resumed else -10 ** 9)
    guard = Limits.from_config(settings).structure_guard(guard_start if guard_start is not None else state.atoms,
                                                         schedule)
    ex = Explorer(model, selector, schedule, state, llog, label, settings.get("log_every", 10),
                  settings.get("progress_s", 10.0), guard, phase_monitor)
    reason = ex.run(handler, max_steps=settings.get("max_steps"))
    return handler.candidates, reason, llog


def select_candidates(selector, candidates, n, model=None):
    """The candidates the selector picks (at most ``n``), in its order."""
    return [candidates[i] for i in selector.pick(candidates, int(n), model)]
