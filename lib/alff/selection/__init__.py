"""alff selection: active-learning criteria behind one
:class:`~alff.selection.protocol.Selector` protocol."""

from .protocol import CANDIDATE, CONTINUE, LABEL, STOP, VERDICTS, Selector
from .registry import build_selector, register
from .d_optimality import MaxvolSelector
from .threshold import ThresholdSelector, atom_uncertainty

__all__ = ["Selector", "CONTINUE", "CANDIDATE", "LABEL", "STOP", "VERDICTS", "build_selector", "register",
           "ThresholdSelector", "MaxvolSelector", "atom_uncertainty"]
