"""Helpers behind the GTZAN genre-CNN notebooks: data, features, store, splits, models, results.

The notebooks in ``notebooks/`` tell the story; this package does the work. One module per arrow of the
pipeline (see README). Import the modules you need, e.g. ``from gtzan_utils import data, features``.
"""

import os

# TensorFlow's C++ start-up logging (CUDA probing, CPU-instruction notes) would fill every notebook that imports
# it with a stderr block; it reads this variable once, at import, so it is set before any module can import it.
# Errors still raise and Python warnings still show; set the variable yourself (e.g. to 0) to see everything.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from .errors import GtzanError  # noqa: E402

__version__ = "0.4.0"
__all__ = ["GtzanError", "__version__"]
