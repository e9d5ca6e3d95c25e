"""Keras callbacks the training and VAE tests share: a simulated kill and a record of the epochs that ran.
Import it only after ``pytest.importorskip("keras")``."""

from __future__ import annotations

import keras


class Kill(keras.callbacks.Callback):
    """Raises KeyboardInterrupt at the end of epoch ``at_epoch`` (after the backup callback has saved it)."""

    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt("simulated kill")


class Epochs(keras.callbacks.Callback):
    """Records the index of every epoch that begins (``seen``)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)
