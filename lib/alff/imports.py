"""Classes named in the configuration by an import path ``module:Class``."""

from __future__ import annotations

import importlib

__all__ = ["import_object", "resolve_kind"]


def import_object(path, what):
    """The object at ``module:name``; ``what`` names the config key in the
    error (``model.kind``)."""
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"{what} '{path}': cannot import it ({err})") from None


def resolve_kind(kind, registry, what):
    """The class of ``kind``: registered in ``registry`` (name -> class or
    ``"module:Class"``), or itself an import path ``module:Class``."""
    target = registry.get(kind)
    if target is None:
        if ":" not in kind:
            raise ValueError(f"{what} '{kind}' is not one of {sorted(registry)} nor an import path module:Class")
        target = kind
    return import_object(target, what) if isinstance(target, str) else target
