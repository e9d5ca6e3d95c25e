"""ImageNet weights for the paper's transfer rows: where Keras keeps them, and frozen ImageNet features of a store.

Keras downloads ``keras.applications``' ImageNet weights once into its cache (``$KERAS_HOME/models``, by default
``~/.keras/models``) and loads them from there ever after, offline too. :func:`seed_keras_cache` fills a cache
folder from a local copy of the files (the tests and the real-music yardstick use ``../shared/imagenet`` that way,
in a temporary ``KERAS_HOME``, never the user's own); :func:`weights_used` says which weights a row really had.

:func:`imagenet_features` is the linear probe's input (:func:`gtzan_utils.classify.baseline.run_imagenet_probe`,
notebook 04): every slice of a store through the frozen base, pooled, computed once and cached beside the store.
The recipe was measured on 50 real GTZAN excerpts (5-fold by song, song accuracy of the probe on ``mel3``):
input resized to 160×320 (0.76; the store's 128×500: 0.62, 128×216: 0.66, 224×224: 0.74), each slice min-max
scaled to MobileNetV2's [-1, 1] (needs no statistics, so the features are computed once for every split and fold),
global average and max pooling concatenated (2,560 values); random weights: 0.50.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.files import write_npy

#: The files ``keras.applications`` caches for the no-top ImageNet weights (in ``$KERAS_HOME/models``).
IMAGENET_FILES = {
    "mobilenetv2": "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
    "densenet121": "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
}
#: The probe's input size (height, width) and pooling, chosen on the real-music yardstick (module docstring).
PROBE_SIZE = (160, 320)


def keras_home() -> Path:
    """Keras' cache folder as a new process would see it: ``$KERAS_HOME`` or ``~/.keras``."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()


def imagenet_cached(app: str) -> bool:
    """Whether Keras already holds ``app``'s ImageNet weights on this machine (no download needed)."""
    return (keras_home() / "models" / IMAGENET_FILES[app]).exists()


def seed_keras_cache(source, home) -> list[str]:
    """Copy the ImageNet weight files found in folder ``source`` into ``home/models`` (a Keras cache folder); returns
    the models seeded. Pointing ``KERAS_HOME`` at ``home`` before Keras is imported then makes
    ``weights="imagenet"`` load them offline, exactly as after a download."""
    source, models = Path(source), Path(home) / "models"
    seeded = []
    for app, name in IMAGENET_FILES.items():
        if (source / name).is_file():
            models.mkdir(parents=True, exist_ok=True)
            if not (models / name).exists():
                shutil.copyfile(source / name, models / name)
            seeded.append(app)
    return seeded


def weights_used(model_name: str, weights) -> str | None:
    """The weights a row really starts from, for its protocol: ``"imagenet"`` for an ImageNet base asked for
    ``imagenet`` or ``cached``, a checkpoint or file name as given, None for random initial weights."""
    from gtzan_utils.base.parse import parse_weights

    weights = parse_weights(weights)
    if model_name in IMAGENET_FILES and weights == "cached":
        return "imagenet"
    return weights


def imagenet_base(app: str, input_shape, weights):
    """``keras.applications``' ``app`` without its classifier for ``input_shape``: ImageNet weights (``imagenet``
    or ``cached``: from Keras' cache, downloaded once), a weights file, or None (random). GtzanError saying what
    to do when the weights cannot be had (offline and not cached, a missing file)."""
    import keras

    from gtzan_utils.base.parse import parse_weights

    cls = {"mobilenetv2": keras.applications.MobileNetV2, "densenet121": keras.applications.DenseNet121}[app]
    weights = parse_weights(weights)
    if weights == "cached":  # only reached when the file is there (see not_run_reason)
        weights = "imagenet"
    if weights not in (None, "imagenet"):
        path = Path(weights).expanduser()
        if not path.exists():
            raise GtzanError(f"weights file {path} not found: pass 'imagenet', None or an existing .weights.h5 file")
        weights = str(path)
    try:
        with warnings.catch_warnings():  # inputs of other sizes than 224x224 are meant: the weights fit any size
            warnings.filterwarnings("ignore", message=".*will be loaded as the default", category=UserWarning)
            return cls(include_top=False, weights=weights, input_shape=tuple(input_shape))
    except GtzanError:
        raise
    except Exception as exc:  # offline, keras raises a plain Exception ("URL fetch failure ...")
        if weights != "imagenet":
            raise GtzanError(f"cannot load {app} weights from {weights}: {exc}") from None
        raise GtzanError(
            f"cannot fetch the ImageNet weights of {app} ({str(exc).splitlines()[0][:120]}). Either go online "
            f"(the weights are downloaded once into ~/.keras/models), or set WEIGHTS to a local .weights.h5 file, "
            f"or to None to train from scratch (the metrics then say pretrained: false)"
        ) from None


def _scaled(x: np.ndarray, kind: str) -> np.ndarray:
    """Store slices → MobileNetV2's input range [-1, 1], three channels: ``mfcc_image`` is already an image in
    [0, 1]; any other kind is min-max scaled per slice (over all its channels)."""
    x = np.asarray(x, np.float32)
    if x.ndim == 3:
        x = np.repeat(x[..., None], 3, axis=-1)
    if kind == "mfcc_image":
        return 2.0 * x - 1.0
    lo, hi = x.min(axis=(1, 2, 3), keepdims=True), x.max(axis=(1, 2, 3), keepdims=True)
    return 2.0 * (x - lo) / np.maximum(hi - lo, 1e-9) - 1.0


def _pooled_base(app: str, size, weights):
    """A function: scaled slices (n, h, w, 3) → (n, 2 · channels) of the frozen base (BatchNorm in inference
    mode), global average and max pooling concatenated; the slices are resized to ``size`` first."""
    import keras

    base = imagenet_base(app, (*size, 3), weights)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Resizing(*size, interpolation="bilinear")(inputs)
    fm = base(x, training=False)
    pooled = keras.layers.Concatenate()(
        [keras.layers.GlobalAveragePooling2D()(fm), keras.layers.GlobalMaxPooling2D()(fm)]
    )
    return keras.Model(inputs, pooled)


def imagenet_features(store, app: str = "mobilenetv2", weights="imagenet", size=PROBE_SIZE, batch: int = 32):
    """Every slice of ``store`` through ``app``'s frozen ImageNet base (:func:`_pooled_base`), as float32 (n, d);
    computed once and cached in the store's folder, keyed by the model, the weights and the size. ``weights``:
    ``imagenet``/``cached`` (Keras' cache; GtzanError saying what to do when offline and uncached) or None
    (random, seed 0: the control).

    Notebook: 04_transfer_learning (through :func:`gtzan_utils.classify.baseline.run_imagenet_probe`)
    """
    from gtzan_utils.base.progress import progress

    used = weights_used(app, weights)
    tag = "random0" if used is None else Path(str(used)).stem
    path = Path(store.path) / f"embeddings-{app}-{tag}-{size[0]}x{size[1]}.npy"
    if path.exists():
        cached = np.load(path, allow_pickle=False)
        if len(cached) == len(store):
            return cached
    if app not in IMAGENET_FILES:
        raise GtzanError(f"no ImageNet base {app!r}: use one of {', '.join(IMAGENET_FILES)}")
    import keras

    keras.utils.set_random_seed(0)
    model = _pooled_base(app, size, "imagenet" if used == "imagenet" else used)
    parts = []
    starts = range(0, len(store), batch)
    for a in progress(starts, desc=f"{app} features", unit="batch"):
        x = _scaled(store.read(np.arange(a, min(a + batch, len(store)))), store.params.kind)
        parts.append(np.asarray(model(x, training=False), np.float32))
    features = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
    write_npy(path, features)
    return features
