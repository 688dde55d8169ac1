"""alff models: every model implements :class:`~alff.models.protocol.Model`
(an estimator with ``fit``/``update``/``predict``/``save``/``load``) and gives
an ASE calculator. Build one from a config section with :func:`build_model`,
load any saved one with :func:`load_model` (a damaged or foreign file raises
:class:`ModelFileError`, a ``ValueError`` naming the file and the problem)."""

from .calculator import ModelCalculator
from .gaussian_process import GaussianProcess
from .linear import MomentTensorPotential, read_cfg, read_mtp, write_cfg
from .protocol import PREDICT_KEYS, Model
from .registry import build_model, is_mappable, is_validated, load_model, model_class, register
from .storage import ModelFileError

__all__ = ["Model", "PREDICT_KEYS", "ModelCalculator", "GaussianProcess", "build_model", "load_model",
           "model_class", "is_mappable", "is_validated", "register", "ModelFileError", "MomentTensorPotential", "read_mtp", "read_cfg",
           "write_cfg"]
