"""Training from the feature store: batches are read from disk, never the whole array in memory.

* batches come from :class:`gtzan_utils.features.batches.StoreBatches` (shared with evaluation);
* :func:`train_stats` — per-row / per-channel mean and variance of the **training split only**, streamed;
* :func:`fit` — ``model.fit`` with the run's callbacks: resume after a kill (``BackupAndRestore``), the epoch kept
  by :class:`gtzan_utils.classify.selection.KeepBest`, the CSV history; epochs drawn afresh
  (:func:`gtzan_utils.classify.selection.epoch_size`).

One experiment end to end (build, fit, score, ``metrics.json``) is
:func:`gtzan_utils.classify.experiment.run_experiment`.
Mixed precision is switched on automatically on a GPU (:func:`setup_device`); Keras prints one line per epoch
(``verbose=2``) under papermill. Shown in notebooks 03_vanilla_cnn, 04_transfer_learning and 05_vae_generation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from gtzan_utils.base import files
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.progress import in_papermill
from gtzan_utils.classify.selection import KeepBest
from gtzan_utils.classify.settings import TrainSettings
from gtzan_utils.features.batches import StoreBatches


def setup_device() -> str:
    """Use a GPU with mixed precision when there is one; return a one-line description.

    Notebook: 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation
    """
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # no retracing warnings for each model of a notebook
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
        return f"GPU ({len(gpus)}): mixed precision on"
    return "CPU only: float32 (full runs belong on a GPU, e.g. Colab)"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (``keras.utils.set_random_seed``) and switch on TensorFlow's op
    determinism, so that a run repeats bit for bit on the same machine and library versions. Other CPUs or
    library builds may still pick other kernels (oneDNN), so runs on two machines can differ slightly."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def default_verbose() -> int:
    """Keras ``verbose`` for ``fit``: 2 (one line per epoch) under papermill, else 1 (progress bar).

    Notebook: 05_vae_generation
    """
    return 2 if in_papermill() else 1


def train_stats(store, rows, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance per row (frequency bin / coefficient) and channel over the given rows, streamed."""
    rows = np.sort(np.asarray(rows))
    shape = store.params.shape
    h, c = shape[0], (shape[2] if len(shape) == 3 else 1)
    s1, s2, n = np.zeros((h, c)), np.zeros((h, c)), 0
    for a in range(0, len(rows), chunk):
        x = store.read(rows[a : a + chunk]).astype(np.float64).reshape(-1, h, shape[1], c)
        s1 += x.sum(axis=(0, 2))
        s2 += (x**2).sum(axis=(0, 2))
        n += x.shape[0] * x.shape[2]
    mean = s1 / n
    return mean.astype(np.float32), np.maximum(s2 / n - mean**2, 1e-8).astype(np.float32)


def config_key(cfg: dict) -> str:
    """A short hash of a configuration: a finished run with the same key is loaded, not trained again."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:12]


def train_val_rows(store, split, fold: int = 0, max_train_slices: int | None = None, seed: int = 0):
    """(training rows, validation rows) of a split fold in a store; the training rows optionally a random
    subset of ``max_train_slices`` (seeded). GtzanError when the fold has no training slices."""
    m = store.manifest
    train_rows, val_rows = split.rows(m, "train", fold), split.rows(m, "val", fold)
    if len(train_rows) == 0:
        raise GtzanError(f"split {split.name} fold {fold} has no training slices in store {store.path.name}")
    if max_train_slices and len(train_rows) > max_train_slices:
        train_rows = np.sort(np.random.default_rng(seed).choice(train_rows, max_train_slices, replace=False))
    return train_rows, val_rows


@dataclass(frozen=True, eq=False)
class Feed:
    """What one training run reads: ``train_rows`` of ``store`` (drawn afresh, ``per_epoch`` examples an epoch:
    :func:`gtzan_utils.classify.selection.epoch_size`; None: each once), ``val_rows`` of ``val_store`` (default
    ``store``: another one when training reads the overlapping training windows), and ``extra=(X, y)``: in-memory
    slices added to the training batches only."""

    store: object
    train_rows: np.ndarray
    val_rows: np.ndarray
    val_store: object = None
    extra: tuple | None = None
    per_epoch: int | None = None


def fit(model, feed: Feed, out_dir, settings: TrainSettings, *, stage: str = "backup", initial_epoch=0, callbacks=()):
    """``model.fit`` on batches of ``feed`` with the run's callbacks, for ``settings.epochs`` epochs (counted from 0,
    so a stage that starts at ``initial_epoch`` runs to ``settings.epochs``); resumes from ``out_dir/<stage>`` (one
    backup folder per training stage, so that a stage never restores another stage's state). Returns the
    :class:`KeepBest` selection, whose kept epoch's weights the model holds afterwards."""
    s = settings
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    select = KeepBest(out_dir, stage, monitor=s.monitor, min_epochs=min(s.min_epochs, s.epochs), patience=s.patience)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(out_dir / stage)),  # first: a kill resumes from the last epoch
        select,
        keras.callbacks.CSVLogger(str(out_dir / "history.csv"), append=True),
        *callbacks,
    ]
    train = StoreBatches(
        feed.store, feed.train_rows, s.batch_size, shuffle=True, seed=s.seed, extra=feed.extra, per_epoch=feed.per_epoch
    )
    val = StoreBatches(feed.val_store or feed.store, feed.val_rows, s.batch_size) if len(feed.val_rows) else None
    model.fit(
        train,
        validation_data=val,
        epochs=s.epochs,
        callbacks=callbacks,
        initial_epoch=initial_epoch,
        verbose=default_verbose() if s.verbose is None else s.verbose,
    )
    return select


def read_history(out_dir) -> pd.DataFrame:
    """The classifier's ``out_dir/history.csv``, one row per epoch (:func:`gtzan_utils.base.files.read_history`)."""
    return files.read_history(Path(out_dir) / "history.csv", ("epoch", "loss", "accuracy"))


def capped_size(shape, cap):
    """The input size for a store shape under a cap (None when no change): an input with more pixels than
    the cap is shrunk so that each side is at most the cap's; a smaller one (13×216 MFCC under 32×96) is kept.

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """
    if cap is None or shape[0] * shape[1] <= cap[0] * cap[1]:
        return None
    size = (min(shape[0], cap[0]), min(shape[1], cap[1]))
    return None if size == tuple(shape[:2]) else size
