"""Batches of store rows for Keras: the one place that feeds a model, used by training and evaluation alike.

* :class:`StoreBatches` — a ``keras.utils.PyDataset`` over manifest rows of a feature store, read from disk batch
  by batch (memory does not grow with the dataset), reshuffled each epoch if asked, with optional in-memory
  extra slices (the augmentation experiment of notebook 05). ``per_epoch`` makes each epoch a fresh random draw
  of that many rows from the pool (the overlapping training windows of a song are many more than its slices).
"""

from __future__ import annotations

import keras
import numpy as np

from gtzan_utils.base.errors import GtzanError


class StoreBatches(keras.utils.PyDataset):
    """Batches ``(x float32, y int)`` of manifest ``rows`` read from a store; reshuffled each epoch if asked.

    ``extra=(X, y)``: in-memory slices (e.g. VAE-generated, notebook 05) mixed into the batches after the rows.
    ``per_epoch``: each epoch draws that many positions of the pool (rows + extra) at random (needs ``shuffle``):
    without replacement while the pool is large enough, else every position once plus a random rest.
    """

    def __init__(
        self,
        store,
        rows,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        extra=None,
        per_epoch: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.store, self.rows, self.batch_size, self.shuffle = store, np.asarray(rows, np.int64), batch_size, shuffle
        self.labels = store.y
        if extra is not None:
            ex, ey = np.asarray(extra[0], np.float32), np.asarray(extra[1]).astype(self.labels.dtype)
            if ex.shape[1:] != tuple(store.params.shape) or len(ex) != len(ey):
                raise GtzanError(
                    f"extra slices must be (n, {', '.join(map(str, store.params.shape))}) with one label "
                    f"each, got {ex.shape} and {len(ey)} labels"
                )
            self.extra = (ex, ey)
        else:
            self.extra = None
        self.pool = len(self.rows) + (len(self.extra[1]) if self.extra else 0)
        if per_epoch is not None and not shuffle:
            raise GtzanError("per_epoch draws rows at random: it needs shuffle=True")
        self.per_epoch = per_epoch
        self._rng = np.random.default_rng(seed)
        self.order = self._draw() if shuffle else np.arange(self.pool)

    def _draw(self) -> np.ndarray:
        if self.per_epoch is None:
            return self._rng.permutation(self.pool)
        whole, rest = divmod(self.per_epoch, self.pool)
        parts = [self._rng.permutation(self.pool) for _ in range(whole)]
        parts.append(self._rng.choice(self.pool, rest, replace=False))
        return self._rng.permutation(np.concatenate(parts))

    def __len__(self):
        return int(np.ceil(len(self.order) / self.batch_size))

    def __getitem__(self, i):
        pos = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        if self.extra is None:
            idx = self.rows[pos]
            return self.store.read(idx), self.labels[idx]
        from_store, n = pos < len(self.rows), len(self.rows)
        x = np.empty((len(pos), *self.store.params.shape), np.float32)
        y = np.empty(len(pos), self.labels.dtype)
        idx = self.rows[pos[from_store]]
        x[from_store], y[from_store] = self.store.read(idx), self.labels[idx]
        x[~from_store], y[~from_store] = self.extra[0][pos[~from_store] - n], self.extra[1][pos[~from_store] - n]
        return x, y

    def on_epoch_end(self):
        if self.shuffle:
            self.order = self._draw()
