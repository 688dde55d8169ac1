"""Build a selector from its config section (``kind`` and its settings)."""

from __future__ import annotations

from ..imports import resolve_kind

__all__ = ["SELECTOR_KINDS", "build_selector", "register"]

SELECTOR_KINDS = {
    "threshold": "alff.selection.threshold:ThresholdSelector",
    "maxvol": "alff.selection.d_optimality:MaxvolSelector",
    "trajectory_average": "alff.selection.trajectory:TrajectoryAverageSelector",
    "eps_min": "alff.selection.trajectory:RefitMinimumSelector",
}


def register(kind, target):
    """Register a selector class (``"module:Class"`` or the class)."""
    SELECTOR_KINDS[kind] = target


def build_selector(section):
    """A selector from a scheme's ``selector`` config section."""
    section = dict(section)
    kind = section.pop("kind", "threshold")
    return resolve_kind(kind, SELECTOR_KINDS, "selector.kind").from_config(section)
