"""alff models: every model is an estimator and can give an ASE calculator."""

from .gaussian_process import GaussianProcess

__all__ = ["GaussianProcess"]
