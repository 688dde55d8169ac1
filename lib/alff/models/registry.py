"""Build a model from its config section, load any saved model.

Nothing outside :mod:`alff.models` names a model class: the pipeline asks
:func:`build_model` for a new model of a config section's ``kind`` and
:func:`load_model` for a saved one (its JSON file names its ``format``).
A new model registers here with one line.
"""

from __future__ import annotations

from ..imports import import_object, resolve_kind
from .storage import ModelFileError, model_stem, read_meta

__all__ = ["MODEL_KINDS", "build_model", "load_model", "register", "model_class", "is_mappable", "is_validated"]

# kind -> "module:Class"; imported on first use (a missing optional
# dependency of one model does not break the others)
MODEL_KINDS = {
    "gp": "alff.models.gaussian_process:GaussianProcess",
    "mapped": "alff.models.mapped:MappedPotential",
    "mtp": "alff.models.linear.mtp_model:MTPModel",
    "force_constants": "alff.models.linear.fc_model:ForceConstantModel",
}
# the ``format`` field of saved JSON files -> kind
FORMATS = {
    "alff.GaussianProcess": "gp",
    "alff.mapped": "mapped",
    "alff.mtp": "mtp",
    "alff.force_constants": "force_constants",
}


def register(kind, target, file_format=None):
    """Register a model class (``"module:Class"`` or the class itself) under
    ``kind``; ``file_format`` is the ``format`` field its ``save`` writes."""
    MODEL_KINDS[kind] = target
    if file_format:
        FORMATS[file_format] = kind


def model_class(kind):
    """The class registered under ``kind``, or imported from ``kind`` when
    it is an import path ``module:Class`` (a model outside alff)."""
    return resolve_kind(kind, MODEL_KINDS, "model.kind")


def is_mappable(kind):
    """Whether models of ``kind`` can be mapped to splines (rule map)."""
    return bool(getattr(model_class(kind), "mappable", False))


def is_validated(kind):
    """Whether the validation rules run for models of ``kind``: on the
    mapped potential of a mappable model, or on the model itself where it
    runs in the compiled MD loop (``compiled_md``, e.g. the MTP); a model
    with neither would take days of Python MD."""
    cls = model_class(kind)
    return bool(getattr(cls, "mappable", False) or getattr(cls, "compiled_md", False))


def build_model(section, previous=None):
    """A new, unfitted model from a scheme's ``model`` config section.

    Parameters
    ----------
    section : dict
        ``kind`` and the model's own settings.
    previous : Model, optional
        The previous iteration's model (warm start, e.g. hyperparameters).
    """
    section = dict(section)
    kind = section.pop("kind", "gp")
    return model_class(kind).from_config(section, previous)


# Saved files of models outside alff: ``format`` is their import path
# ``module:Class`` and :func:`load_model` imports it.


def load_model(path):
    """Load any saved model from ``stem``, ``stem.json`` or ``stem.npz``.

    Raises
    ------
    FileNotFoundError
        No ``stem.json``.
    ModelFileError
        The files are unreadable, truncated, edited or of an unknown format
        or a newer version (the message names the file and the problem).
    """
    stem = model_stem(path)
    fmt = read_meta(stem)["format"]
    if fmt in FORMATS:
        return model_class(FORMATS[fmt]).load(stem)
    if ":" in fmt:  # a model outside alff saves its import path
        try:
            cls = import_object(fmt, f"{stem.with_suffix('.json')}: format")
        except ValueError as err:
            raise ModelFileError(str(err)) from None
        return cls.load(stem)
    raise ModelFileError(f"{stem.with_suffix('.json')}: unknown model format '{fmt}' (known: {sorted(FORMATS)}, "
                         f"or the import path 'module:Class' of a model outside alff)")
