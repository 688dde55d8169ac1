"""alff: active-learning force fields."""

__version__ = "0.1.0"
