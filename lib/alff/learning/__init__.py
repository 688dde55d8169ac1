"""alff learning: one explorer for every model and selector, the on-the-fly
driver (with checkpoints) and the batch steps."""

from .batch import CandidateCollector, explore, select_candidates
from .explorer import Action, Explorer
from .limits import Limits, RunLimitError
from .otf import OnTheFly, Scenario
from .records import (CALL_COLUMNS, LOG_COLUMNS, LearningLog, initial_training, mark_training_atoms,
                      start_state, training_inputs)

__all__ = ["Action", "Explorer", "Limits", "RunLimitError", "OnTheFly", "Scenario", "CandidateCollector", "explore", "select_candidates",
           "LearningLog", "LOG_COLUMNS", "CALL_COLUMNS", "initial_training", "mark_training_atoms", "start_state",
           "training_inputs"]
