"""The paper's classifiers, as a registry of builders that return compiled ``keras.Model`` objects.

=================  ===================================================================================
name               what
=================  ===================================================================================
``vanilla_cnn``    3 × [Conv2D 32 3×3 ReLU → MaxPool 3×3/2 → BatchNorm], Dropout 0.3, Flatten, Dense 64 ReLU,
                   Dense softmax. The paper's 'valid' padding cannot be built on 13×216 MFCC input (the
                   third pooling has no rows left), so both convolutions and pools use 'same' padding:
                   130,506 parameters on MFCC. Adam 1e-3 on mel inputs, RMSprop 1e-3 on MFCC (the paper).
``mobilenetv2``    ImageNet MobileNetV2 base (``include_top=False``, frozen) → MaxPool 3×3/2, BatchNorm,
                   Dropout 0.3, Flatten, Dense 64 ReLU, Dense softmax; Adam 1e-4.
``densenet121``    ImageNet DenseNet121 base (frozen) → MaxPool 3×3/2, BatchNorm, Dropout 0.3, Flatten,
                   Dense 64 ReLU, BatchNorm, Dropout 0.3, Dense softmax; Adam 1e-4.
``msd_musicnn``    musicnn backbone (gtzan_utils.classify.pretrained, checkpoint MSD_musicnn, frozen by default) on the
                   ``musicnn`` input kind → its 200-d embedding → Dropout 0.3, Dense softmax; Adam 1e-3.
``mtt_musicnn``    the same with the MagnaTagATune checkpoint (MTT_musicnn).
=================  ===================================================================================

**ImageNet inputs.** The bases get what their ImageNet weights expect, not z-scores: the colour-mapped
``mfcc_image`` (RGB in [0, 1]) becomes pixels ``255·x``; any other kind is z-scored per row with the training
split's statistics and mapped to pixels ``clip(127.5 + 42.5·z, 0, 255)`` (±3 σ spans 0–255); then each model's
own ``preprocess_input`` convention, as layers: MobileNetV2 ``pixels/127.5 − 1`` ("tf" mode), DenseNet121
``(pixels/255 − mean) / std`` with ImageNet's RGB mean and std ("torch" mode).

**musicnn rows** take the store's (96 mel, frames) slices whole (global pooling over time), permuted to the
backbone's (frames, 96); the backbone's own input batch-norm replaces the training-split ``Normalization``.
The classifier's ``weights`` name the checkpoint ("pretrained" or the checkpoint name; None trains from random
initialisation); ``train_base`` as for the ImageNet bases.

With ``weights=None`` a frozen random base learns little, so by default (``train_base=None``) the whole network
then trains from scratch; the metrics say ``pretrained: false``. ``train_base=False`` keeps the base frozen
whatever its weights: the quick profile does that, because backpropagating through all of DenseNet121 makes its
first training step trace for about 80 s on 2 CPU cores (a frozen base: 18 s), and it runs the same code path
as a pretrained run.

Every model starts with a ``Normalization`` layer holding the training split's per-row (frequency bin /
coefficient) and per-channel mean and variance, so a saved ``.keras`` file takes raw store features.
BatchNorm uses momentum 0.9: with Keras' default 0.99 the paper's CNN collapses to one class at inference
on small data (270 real 5-s slices: 61 % in training mode, 6 % at inference; 66 % with 0.9). ``input_size``
adds a ``Resizing`` layer (the quick profile's tiny inputs; ImageNet bases need at least 32×32, smaller inputs
are enlarged to that automatically).
Shown in notebooks 03_vanilla_cnn and 04_transfer_learning.
"""

from __future__ import annotations

import keras
import numpy as np

from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.parse import parse_weights
from gtzan_utils.classify.imagenet import IMAGENET_FILES, imagenet_base, imagenet_cached

BN_MOMENTUM = 0.9
MIN_IMAGENET_SIDE = 32


def _stem(input_shape, mean, variance, input_size, min_side: int = 1):
    """Input → (H, W, C) → training-split normalisation → optional resize. Returns (inputs, tensor)."""
    layers = keras.layers
    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = inputs
    if len(input_shape) == 2:
        x = layers.Reshape((*input_shape, 1), name="add_channel")(x)
    h, w, c = (*input_shape, 1)[:3] if len(input_shape) == 2 else input_shape
    if mean is not None:
        mean = np.asarray(mean, np.float32).reshape(h, c)
        variance = np.maximum(np.asarray(variance, np.float32).reshape(h, c), 1e-6)
        x = layers.Normalization(axis=(1, 3), mean=mean, variance=variance, name="train_stats")(x)
    size = tuple(input_size) if input_size else (h, w)
    size = (max(size[0], min_side), max(size[1], min_side))
    if size != (h, w):
        x = layers.Resizing(*size, name="resize")(x)
    return inputs, x, c


def _head_output(x, n_classes, second_bn: bool):
    layers = keras.layers
    x = layers.MaxPooling2D(pool_size=3, strides=2, padding="same", name="head_pool")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="head_bn")(x)
    x = layers.Dropout(0.3, name="head_dropout")(x)
    x = layers.Flatten(name="head_flatten")(x)
    x = layers.Dense(64, activation="relu", name="head_dense")(x)
    if second_bn:
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="head_bn2")(x)
        x = layers.Dropout(0.3, name="head_dropout2")(x)
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="genre")(x)


def _compile(model, optimizer: str, learning_rate: float):
    opt = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}[optimizer](learning_rate=learning_rate)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def build_vanilla_cnn(
    input_shape,
    n_classes=10,
    kind="mfcc",
    mean=None,
    variance=None,
    input_size=None,
    learning_rate=None,
    optimizer=None,
    weights=None,
    train_base=None,
):
    """The paper's CNN. ``kind`` picks the paper's optimiser: RMSprop for MFCC inputs, Adam for mel inputs."""
    layers = keras.layers
    if parse_weights(weights) is not None:
        raise GtzanError("vanilla_cnn has no pretrained weights: leave WEIGHTS empty for it")
    inputs, x, _ = _stem(input_shape, mean, variance, input_size)
    for i in range(3):
        x = layers.Conv2D(32, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = layers.MaxPooling2D(pool_size=3, strides=2, padding="same", name=f"pool{i + 1}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i + 1}")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="dense")(x)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="genre")(x)
    model = keras.Model(inputs, outputs, name="vanilla_cnn")
    default_opt = "rmsprop" if kind.startswith("mfcc") else "adam"
    return _compile(model, optimizer or default_opt, learning_rate or 1e-3)


def not_run_reason(model_name: str, weights, stores=None, kind: str | None = None, probe: bool = False) -> str | None:
    """Why an ImageNet row is skipped, in one line, or None: its weights are asked for as ``cached`` and are not in
    Keras' cache (``cached`` never downloads), the run has no ``kind`` store (when ``stores`` is given), or a
    linear ``probe`` has no pretrained weights to probe.

    Notebook: 04_transfer_learning
    """
    weights = parse_weights(weights)
    if weights == "cached" and model_name in IMAGENET_FILES and not imagenet_cached(model_name):
        return (
            f"not run: the ImageNet weights of {model_name} are not cached on this machine "
            f"(WEIGHTS=cached never downloads; WEIGHTS=imagenet fetches them once)"
        )
    if probe and weights is None:
        return "not run: WEIGHTS is none, and a probe of random features is no ImageNet row"
    if stores is not None and kind not in stores:
        return f"not run: this run has no {kind} store (add {kind} to FEATURE_KINDS of notebook 02)"
    return None


#: ImageNet's RGB mean and std on 0-255 pixels (the "torch" preprocessing mode of DenseNet121)
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
Z_TO_PIXELS = 127.5 / 3  # z = ±3 maps to pixels 0 and 255


def channel_statistics(mean, variance):
    """Per-row, per-channel statistics (h, c) → the same shape holding each channel's overall mean and variance.

    ImageNet bases see a spectrogram as a picture: z-scoring each frequency row flattens its spectral envelope
    (the linear probe on MobileNetV2, 50 real excerpts: 0.68-0.72 song accuracy with per-row scaling against
    0.78-0.80 with one mean and spread per channel, at 160×320)."""
    mean, variance = np.asarray(mean, np.float64), np.asarray(variance, np.float64)
    m = mean.mean(axis=0, keepdims=True)
    v = (variance + mean**2).mean(axis=0, keepdims=True) - m**2
    return np.broadcast_to(m, mean.shape).astype(np.float32), np.broadcast_to(np.maximum(v, 1e-8), mean.shape).astype(
        np.float32
    )


def _imagenet_scale(x, app: str, kind: str):
    """Store features (z-scored unless ``mfcc_image``) → the input scaling of ``app``'s ImageNet weights."""
    layers = keras.layers
    if kind == "mfcc_image":
        x = layers.Rescaling(255.0, name="to_pixels")(x)
    else:
        x = layers.Rescaling(Z_TO_PIXELS, offset=127.5, name="to_pixels")(x)
        x = layers.ReLU(max_value=255.0, name="clip_pixels")(x)
    if app == "mobilenetv2":
        return layers.Rescaling(1 / 127.5, offset=-1.0, name="imagenet_preprocess")(x)
    return layers.Normalization(
        axis=-1, mean=list(IMAGENET_MEAN), variance=[s * s for s in IMAGENET_STD], name="imagenet_preprocess"
    )(x)


def _build_transfer(
    app: str,
    second_bn: bool,
    input_shape,
    n_classes=10,
    kind="mel3",
    mean=None,
    variance=None,
    input_size=None,
    learning_rate=None,
    optimizer=None,
    weights="imagenet",
    train_base=None,
):
    layers = keras.layers
    if kind == "mfcc_image":  # already colours in [0, 1]: scaled as the image it is, no z-scores
        mean = variance = None
    elif mean is not None:  # one mean and spread per channel, not per frequency row: the picture keeps its shape
        mean, variance = channel_statistics(mean, variance)
    inputs, x, c = _stem(input_shape, mean, variance, input_size, min_side=MIN_IMAGENET_SIDE)
    if c == 1:
        x = layers.Concatenate(axis=-1, name="to_rgb")([x, x, x])
    elif c != 3:
        raise GtzanError(f"{app} takes 1- or 3-channel inputs, not {c}")
    x = _imagenet_scale(x, app, kind)
    base = imagenet_base(app, tuple(int(d) for d in x.shape[1:]), weights)
    if train_base is None:
        train_base = weights is None  # auto: the paper's frozen base with pretrained weights, trained without
    if train_base:
        # no pretrained features to keep: the whole network trains. Keras' applications use BatchNorm momentum
        # 0.999, whose moving statistics lag far behind on small data (one class at inference)
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = BN_MOMENTUM
        x = base(x)
    else:
        base.trainable = False
        x = base(x, training=False)  # frozen base, BatchNorm in inference mode (stage 1 of the paper)
    outputs = _head_output(x, n_classes, second_bn)
    model = keras.Model(inputs, outputs, name=app)
    return _compile(model, optimizer or "adam", learning_rate or 1e-4)


def build_mobilenetv2(input_shape, **kw):
    """A compiled MobileNetV2 transfer classifier for ``input_shape``; ``kw`` as for the other builders."""
    return _build_transfer("mobilenetv2", False, input_shape, **kw)


def build_densenet121(input_shape, **kw):
    """A compiled DenseNet121 transfer classifier for ``input_shape``; ``kw`` as for the other builders."""
    return _build_transfer("densenet121", True, input_shape, **kw)


#: classifier name → musicnn checkpoint (gtzan_utils.classify.pretrained)
MUSICNN_MODELS = {"msd_musicnn": "MSD_musicnn", "mtt_musicnn": "MTT_musicnn"}


def _build_musicnn(
    checkpoint: str,
    input_shape,
    n_classes=10,
    kind="musicnn",
    mean=None,
    variance=None,
    input_size=None,
    learning_rate=None,
    optimizer=None,
    weights="pretrained",
    train_base=None,
):
    """A musicnn backbone + softmax head on (96, frames) store slices; see the module table."""
    from gtzan_utils.classify.pretrained import build_backbone

    layers = keras.layers
    if input_size:
        raise GtzanError("musicnn takes its store slices whole (any length): leave the input size empty for it")
    weights = parse_weights(weights)
    if weights not in (None, "pretrained", "musicnn", checkpoint):
        raise GtzanError(f"weights of {checkpoint} must be 'pretrained', {checkpoint!r} or None, not {weights!r}")
    pretrained = weights is not None
    backbone = build_backbone(checkpoint, weights=pretrained)
    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = layers.Permute((2, 1), name="to_frames")(inputs)
    if train_base is None:
        train_base = not pretrained
    if train_base:
        emb = backbone(x)[1]
    else:
        backbone.trainable = False
        emb = backbone(x, training=False)[1]  # frozen, batch-norm in inference mode (stage 1)
    x = layers.Dropout(0.3, name="head_dropout")(emb)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="genre")(x)
    model = keras.Model(inputs, outputs, name=checkpoint.lower())
    return _compile(model, optimizer or "adam", learning_rate or 1e-3)


def build_msd_musicnn(input_shape, **kw):
    """A classifier on the MSD_musicnn backbone for ``input_shape`` (compiled); ``kw`` as for the other builders."""
    return _build_musicnn("MSD_musicnn", input_shape, **kw)


def build_mtt_musicnn(input_shape, **kw):
    """A classifier on the MTT_musicnn backbone for ``input_shape`` (compiled); ``kw`` as for the other builders."""
    return _build_musicnn("MTT_musicnn", input_shape, **kw)


def musicnn_head(model):
    """The head of a musicnn classifier (:func:`build_msd_musicnn`) as its own compiled model on the backbone's
    embeddings, (d,) → genre probabilities. Its layers are the classifier's own, so training the head trains the
    classifier: with the backbone frozen, the head learns from embeddings computed once
    (:class:`gtzan_utils.classify.pretrained.EmbeddedStore`) and the saved classifier still takes store slices."""
    try:
        dropout, dense = model.get_layer("head_dropout"), model.get_layer("genre")
    except ValueError:
        raise GtzanError(f"{model.name} is not a musicnn classifier: it has no head_dropout/genre head") from None
    emb = keras.Input(shape=(int(dense.kernel.shape[0]),), name="embedding")
    head = keras.Model(emb, dense(dropout(emb)), name=f"{model.name}_head")
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) if model.optimizer else 1e-3
    return _compile(head, "adam", lr)


MODELS = {
    "vanilla_cnn": build_vanilla_cnn,
    "mobilenetv2": build_mobilenetv2,
    "densenet121": build_densenet121,
    "msd_musicnn": build_msd_musicnn,
    "mtt_musicnn": build_mtt_musicnn,
}
#: input kinds each model accepts (the transfer bases take 1-channel kinds as three equal channels)
ACCEPTS = {
    "vanilla_cnn": ("mfcc", "mel", "mel3", "mfcc_image", "musicnn"),
    "mobilenetv2": ("mfcc_image", "mel3", "mel", "mfcc"),
    "densenet121": ("mel3", "mfcc_image", "mel", "mfcc"),
    "msd_musicnn": ("musicnn",),
    "mtt_musicnn": ("musicnn",),
}


def build_model(name: str, input_shape, kind: str, **kw):
    """Build a registry model by name for an input kind; see the module table."""
    if name not in MODELS:
        raise GtzanError(f"unknown model {name!r}: use one of {', '.join(MODELS)}")
    if kind not in ACCEPTS[name]:
        raise GtzanError(f"{name} does not take {kind!r} inputs: use one of {', '.join(ACCEPTS[name])}")
    return MODELS[name](input_shape, kind=kind, **kw)


def base_of(model):
    """The ImageNet base or musicnn backbone inside a transfer model (None for the vanilla CNN)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            return layer
    return None


def unfreeze_top(model, n_layers: int = 30, learning_rate: float = 1e-5):
    """Stage 2: unfreeze the top ``n_layers`` of the base (BatchNorm layers stay frozen), recompile."""
    base = base_of(model)
    if base is None:
        raise GtzanError("only transfer models have a base to unfreeze")
    base.trainable = True
    for layer in base.layers[:-n_layers]:
        layer.trainable = False
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    opt = keras.optimizers.Adam(learning_rate=learning_rate)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
