"""Helpers behind the GTZAN genre-CNN notebooks: data, features, store, splits, models, results.

The notebooks in ``notebooks/`` tell the story; this package does the work. One module per arrow of the
pipeline (see README). Import the modules you need, e.g. ``from gtzan_utils import data, features``.
"""
from .errors import GtzanError

__version__ = "0.1.0"
__all__ = ["GtzanError", "__version__"]
