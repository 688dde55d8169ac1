"""The pipeline's steps as functions of paths and config sections.

Each Snakemake rule's script calls one of these with exactly the config
sections the rule declares as ``params`` (an edited section reruns what
depends on it and nothing else); tests call them directly. Outputs are
written atomically; oracle calls go through an
:class:`~alff.oracle.OracleCache`, so a resumed run never repeats a
finished call.
"""

from .batch import explore_step, finalize_step, label_step, merge_step, select_step, train_step
from .mapping import map_step
from .otf import otf_step
from .report import evaluate_step, report_step
from .seed import seed_step, testset_step

__all__ = ["seed_step", "testset_step", "otf_step", "train_step", "explore_step", "select_step", "label_step",
           "merge_step", "finalize_step", "evaluate_step", "report_step", "map_step"]
