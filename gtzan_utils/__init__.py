"""Helpers behind the GTZAN genre-CNN notebooks, in the notebooks' order.

The notebooks in ``notebooks/`` tell the story; this package does the work, one subpackage per chapter::

    base/      errors, constants, the run folder's layout, atomic files, parameter parsing, progress, display
    data/      01 data exploration: find, download, validate, read audio; the embedded synthetic GTZAN
    features/  02 preprocessing: features of 5-s slices, the feature store, song-level splits, batches
    classify/  03-04 vanilla CNN and transfer learning: models, training settings, experiments, musicnn, baselines
    generate/  05 VAE generation: the VAE, latent -> audio, judging, augmentation
    report/    06 results: Table 1, the overview, predicting a song
    run/       what runs it all: the papermill runner and profiles, the command line, notebook setup, benchmarks

Imports point down this list. Import the modules a chapter needs, e.g.
``from gtzan_utils.features import extract, store``.
"""

import os

# TensorFlow's C++ start-up logging (CUDA probing, CPU-instruction notes) would fill every notebook that imports
# it with a stderr block; it reads this variable once, at import, so it is set before any module can import it.
# Errors still raise and Python warnings still show; set the variable yourself (e.g. to 0) to see everything.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from gtzan_utils.base.errors import GtzanError  # noqa: E402

__version__ = "0.5.0"
__all__ = ["GtzanError", "__version__"]
