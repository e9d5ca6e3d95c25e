"""How a model trains, as one object: :class:`TrainSettings`, built once by a notebook from its parameters and passed
whole to :func:`gtzan_utils.classify.experiment.run_experiment`, :func:`gtzan_utils.classify.training.fit` and
:func:`gtzan_utils.generate.vae.train_vae`.

The settings are frozen (a run's settings cannot drift while it trains), compare by value (a finished run is reused
only for equal settings) and travel to other processes as they are (they pickle). The fields that change what is
learnt name the run: :meth:`TrainSettings.identity` goes into its ``config.json`` and the hash that finds it again;
:meth:`TrainSettings.from_config` reads them back to replay a run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.parse import parse_weights

#: What :class:`gtzan_utils.classify.selection.KeepBest` may watch.
MONITORS = ("val_loss", "val_accuracy")


@dataclass(frozen=True)
class TrainSettings:
    """The settings of one training run.

    ``epochs``: the most epochs (the selection rule may stop sooner); ``batch_size``; ``seed`` (weights, shuffling,
    subsampling); ``learning_rate`` (None: the model's default). The selection rule (:class:`KeepBest`):
    ``patience``, ``min_epochs``, ``monitor``. Epochs (:func:`epoch_size`): each draws at least
    ``min_epoch_slices`` and at most ``max_train_slices`` examples afresh (None or 0: no cap). ``input_size``:
    (height, width) the inputs are resized to (None: the store's). Transfer models: ``weights`` (None, "imagenet",
    "cached", a musicnn checkpoint or a weights file; "", "none" and "None" mean None), ``train_base`` (None: frozen
    with pretrained weights, trained without), ``fine_tune_epochs`` and ``fine_tune_layers`` (stage 2: the top
    layers of the base unfrozen). ``verbose``: Keras' output (None: one line per epoch under papermill); it does
    not change what is learnt and is no part of the run's identity.

    Notebook: 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation
    """

    epochs: int = 30
    batch_size: int = 32
    seed: int = 0
    learning_rate: float | None = None
    patience: int = 6
    min_epochs: int = 0
    monitor: str = "val_loss"
    min_epoch_slices: int = 0
    max_train_slices: int | None = None
    input_size: tuple[int, int] | None = None
    weights: str | None = None
    train_base: bool | None = None
    fine_tune_epochs: int = 0
    fine_tune_layers: int = 30
    verbose: int | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        if self.monitor not in MONITORS:
            raise GtzanError(f"unknown selection monitor {self.monitor!r}: use one of {', '.join(MONITORS)}")
        if int(self.epochs) < 1 or int(self.batch_size) < 1:
            raise GtzanError(f"EPOCHS and BATCH_SIZE must be at least 1, not {self.epochs} and {self.batch_size}")
        fix = object.__setattr__  # frozen: normalise the values once, here
        fix(self, "weights", parse_weights(self.weights))
        fix(self, "max_train_slices", int(self.max_train_slices) if self.max_train_slices else None)
        fix(self, "input_size", tuple(int(v) for v in self.input_size) if self.input_size else None)
        if self.learning_rate is not None:
            fix(self, "learning_rate", float(self.learning_rate))

    def replace(self, **changes) -> TrainSettings:
        """A copy with some fields changed (e.g. ``settings.replace(epochs=8)``).

        Notebook: 04_transfer_learning, 05_vae_generation
        """
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Every field as plain JSON values (what a sweep's task carries); ``TrainSettings(**d)`` is the same
        settings again."""
        fields = dataclasses.asdict(self)
        fields["input_size"] = list(self.input_size) if self.input_size else None
        return fields

    def identity(self) -> dict:
        """The fields that name a run, as they stand in its ``config.json`` (``train_base`` only when set,
        ``fine_tune_layers`` only with a stage 2)."""
        out = {
            k: getattr(self, k)
            for k in (
                "epochs",
                "batch_size",
                "patience",
                "seed",
                "input_size",
                "learning_rate",
                "max_train_slices",
                "min_epochs",
                "min_epoch_slices",
                "monitor",
                "fine_tune_epochs",
            )
        }
        if self.input_size is not None:
            out["input_size"] = list(self.input_size)
        if self.train_base is not None:
            out["train_base"] = bool(self.train_base)
        if self.fine_tune_epochs:
            out["fine_tune_layers"] = int(self.fine_tune_layers)
        out["weights"] = self.weights
        return out

    @classmethod
    def from_config(cls, cfg: dict) -> TrainSettings:
        """The settings a run's ``config.json`` was trained with (to replay it, or to train another model the same
        way); keys a run did not record keep their defaults."""
        names = {f.name for f in dataclasses.fields(cls)} - {"verbose"}
        return cls(**{k: v for k, v in cfg.items() if k in names})
