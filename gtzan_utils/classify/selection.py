"""Which epoch a training run keeps, and when it stops: :class:`KeepBest`, a rule that suits a few validation songs;
:func:`epoch_size`, how many examples an epoch draws. Used by :func:`gtzan_utils.classify.training.fit`.

Chosen on 50 real GTZAN excerpts (``docs/real-music.md``): with Keras' early stopping on the validation loss of 10
songs, the paper's CNN stopped after a few epochs of 4 steps and restored epoch 0, an untrained model.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.files import write_json
from gtzan_utils.classify.settings import MONITORS


class KeepBest(keras.callbacks.Callback):
    """Model selection and early stopping that suit a few validation songs.

    The score of an epoch is ``monitor`` (``val_loss``, lower is better, or ``val_accuracy``) averaged over the
    last ``smooth`` epochs, so that one lucky epoch on a handful of songs does not decide. Epochs before
    ``min_epochs`` are neither kept nor counted towards ``patience``: a network whose batch-norm statistics
    have not settled scores near chance on validation at first, and a rule that stops there saves an untrained
    model. Training stops once ``patience`` epochs have passed without a better score; at the end the kept
    epoch's weights are restored (:attr:`kept_epoch`, 0-based as in ``history.csv``). Without validation data
    the last epoch is kept. The state lives in ``out_dir/selection-<stage>.json`` and ``.weights.h5`` beside it,
    so a killed run that resumes continues the same selection.
    """

    def __init__(
        self, out_dir, stage: str, monitor: str = "val_loss", min_epochs: int = 0, patience: int = 6, smooth: int = 3
    ):
        super().__init__()
        if monitor not in MONITORS:
            raise GtzanError(f"unknown selection monitor {monitor!r}: use one of {', '.join(MONITORS)}")
        self.monitor, self.min_epochs, self.patience, self.smooth = monitor, int(min_epochs), int(patience), int(smooth)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        self.state_path = Path(out_dir) / f"selection-{stage}.json"
        self.weights_path = Path(out_dir) / f"selection-{stage}.weights.h5"
        self.state = {"values": {}, "kept_epoch": None, "best_score": None}

    @property
    def kept_epoch(self):
        return self.state["kept_epoch"]

    def on_train_begin(self, logs=None):
        if self.state_path.exists() and self.weights_path.exists():  # resumed: go on with the same selection
            self.state = json.loads(self.state_path.read_text())

    def score(self, epoch: int) -> float | None:
        """The smoothed score of ``epoch`` (higher is better), None when it has no validation value."""
        values = self.state["values"]
        window = [values.get(str(e)) for e in range(max(0, epoch - self.smooth + 1), epoch + 1)]
        window = [v for v in window if v is not None]
        if str(epoch) not in values or not window:
            return None
        mean = float(np.mean(window))
        return -mean if self.monitor == "val_loss" else mean

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and np.isfinite(value):
            self.state["values"][str(epoch)] = float(value)
        score = self.score(epoch)
        eligible = epoch + 1 >= self.min_epochs
        if score is None:  # no validation: the last epoch is the one kept
            if not self.state["values"]:
                self.state["kept_epoch"] = epoch
                self._save_best()
        elif eligible and (self.state["best_score"] is None or score >= self.state["best_score"]):
            self.state["kept_epoch"], self.state["best_score"] = epoch, score  # ties: the later epoch
            self._save_best()
        write_json(self.state_path, self.state)
        kept = self.state["kept_epoch"]
        if eligible and kept is not None and epoch - max(kept, self.min_epochs - 1) >= self.patience:
            self.model.stop_training = True

    def _save_best(self):
        self.model.save_weights(str(self.weights_path))

    def on_train_end(self, logs=None):
        if self.state["kept_epoch"] is None:  # fewer epochs ran than min_epochs: the last one is kept, and said so
            last = max((int(e) for e in self.state["values"]), default=None)
            self.state["kept_epoch"], self.state["note"] = last, "fewer epochs than min_epochs: the last one kept"
        elif self.weights_path.exists():
            self.model.load_weights(str(self.weights_path))

    def describe(self) -> dict:
        """What :func:`run_experiment` writes into ``metrics.json`` about the selection."""
        return {
            "rule": f"{self.monitor} averaged over the last {self.smooth} epochs, the best from epoch "
            f"{self.min_epochs} on (counted from 1; kept_epoch counts from 0, as history.csv; ties: the later one); "
            f"stop after {self.patience} epochs without a better one",
            "monitor": self.monitor,
            "smooth": self.smooth,
            "min_epochs": self.min_epochs,
            "patience": self.patience,
            "kept_epoch": self.kept_epoch,
            **({"note": self.state["note"]} if "note" in self.state else {}),
        }

    def clear(self):
        """Delete the state files (the finished model holds the kept weights)."""
        self.state_path.unlink(missing_ok=True)
        self.weights_path.unlink(missing_ok=True)


def epoch_size(n_song_slices: int, pool: int, min_slices: int = 0, max_slices: int | None = None) -> int | None:
    """How many training examples one epoch draws: as many as the training songs have slices, at least
    ``min_slices`` (a few songs still get epochs of many steps, so that patience and minimum epochs mean the
    same on 30 songs as on 800), at most ``max_slices``. None when that is simply every example of the pool once
    (a plain shuffled epoch)."""
    n = max(int(n_song_slices), int(min_slices or 0))
    if max_slices:
        n = min(n, int(max_slices))
    return None if n == pool else n
