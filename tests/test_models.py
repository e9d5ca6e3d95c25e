"""Registry models: build for every input kind they accept, train a step, save/load, offline weights."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from gtzan_utils.base import parse  # noqa: E402
from gtzan_utils.base.errors import GtzanError  # noqa: E402
from gtzan_utils.classify import models

TINY = {"mfcc": (13, 40), "mel": (32, 40), "mel3": (32, 48, 3), "mfcc_image": (32, 40, 3), "musicnn": (96, 40)}


def _stats(shape):
    c = shape[2] if len(shape) == 3 else 1
    return np.zeros((shape[0], c), np.float32), np.ones((shape[0], c), np.float32)


def test_vanilla_cnn_on_paper_mfcc_has_the_documented_size():
    m = models.build_model("vanilla_cnn", (13, 216), "mfcc")
    assert m.count_params() == 130_506
    assert m.optimizer.__class__.__name__ == "RMSprop"  # the paper: RMSprop on MFCC, Adam on mel
    assert models.build_model("vanilla_cnn", (128, 216), "mel").optimizer.__class__.__name__ == "Adam"


@pytest.mark.parametrize("name", list(models.MODELS))
def test_each_model_builds_for_each_kind_and_trains_a_step(name):
    rng = np.random.default_rng(0)
    for i, kind in enumerate(models.ACCEPTS[name]):
        shape = TINY[kind]
        mean, var = _stats(shape)
        m = models.build_model(name, shape, kind, n_classes=10, mean=mean, variance=var, weights=None)
        assert m.output_shape == (None, 10)
        if i == 0:  # one training step per model keeps the suite short
            # eagerly: tracing DenseNet121's training graph takes a minute on 2 cores, the step itself seconds
            # (graph-mode training of these models runs in the notebook tests)
            m.run_eagerly = True
            x = rng.standard_normal((4, *shape)).astype(np.float32)
            before = [w.copy() for w in m.get_weights()]
            loss = m.train_on_batch(x, np.array([0, 1, 2, 3]))
            assert np.isfinite(np.ravel(loss)[0])
            assert any(not np.array_equal(a, b) for a, b in zip(before, m.get_weights()))


def test_transfer_heads_follow_the_paper():
    mob = models.build_model("mobilenetv2", TINY["mfcc_image"], "mfcc_image", weights=None)
    den = models.build_model("densenet121", TINY["mel3"], "mel3", weights=None)
    assert "head_bn2" not in [layer.name for layer in mob.layers]
    assert {"head_pool", "head_bn", "head_dropout", "head_dense", "head_bn2", "head_dropout2"} <= {
        layer.name for layer in den.layers
    }
    assert den.optimizer.learning_rate.numpy() == pytest.approx(1e-4)
    assert (
        models.base_of(mob) is not None and models.base_of(models.build_model("vanilla_cnn", (13, 40), "mfcc")) is None
    )


def test_small_inputs_are_enlarged_for_imagenet_bases():
    m = models.build_model("mobilenetv2", TINY["mfcc"], "mfcc", weights=None)  # 13 rows < 32
    assert m.get_layer("resize").output.shape[1:3] == (32, 40)


def test_save_load_gives_the_same_predictions(tmp_path):
    rng = np.random.default_rng(1)
    shape = TINY["mel"]
    mean = rng.standard_normal((shape[0], 1)).astype(np.float32)
    m = models.build_model("vanilla_cnn", shape, "mel", mean=mean, variance=np.full_like(mean, 4.0))
    x = rng.standard_normal((5, *shape)).astype(np.float32)
    m.train_on_batch(x, np.arange(5))
    m.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(m.predict(x, verbose=0), back.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(back.get_layer("train_stats").mean.numpy().ravel(), mean.ravel(), rtol=1e-6)


def test_local_weights_file_is_loaded(tmp_path):
    src = models.build_model("mobilenetv2", TINY["mfcc_image"], "mfcc_image", weights=None)
    path = tmp_path / "mobilenet.weights.h5"
    models.base_of(src).save_weights(path)
    m = models.build_model("mobilenetv2", TINY["mfcc_image"], "mfcc_image", weights=str(path))
    for a, b in zip(models.base_of(src).get_weights(), models.base_of(m).get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not models.base_of(m).trainable  # pretrained: the base is frozen (stage 1)
    with pytest.raises(GtzanError, match="not found"):
        models.build_model("mobilenetv2", TINY["mfcc_image"], "mfcc_image", weights=str(tmp_path / "nope.h5"))


def test_offline_imagenet_gives_the_documented_message():
    try:
        models.build_model("densenet121", TINY["mel3"], "mel3", weights="imagenet")
    except GtzanError as exc:
        msg = str(exc)
        assert "go online" in msg and ".weights.h5" in msg and "None" in msg
    else:
        pytest.skip("ImageNet weights were reachable (online or cached): the offline path cannot be shown here")


def test_unfreeze_top_keeps_batchnorm_frozen(tmp_path):
    src = models.build_model("mobilenetv2", TINY["mfcc_image"], "mfcc_image", weights=None)
    path = tmp_path / "w.weights.h5"
    models.base_of(src).save_weights(path)
    m = models.build_model("mobilenetv2", TINY["mfcc_image"], "mfcc_image", weights=str(path))
    models.unfreeze_top(m, n_layers=10, learning_rate=1e-5)
    base = models.base_of(m)
    trainable = [layer for layer in base.layers if layer.trainable]
    assert 0 < len(trainable) <= 10
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in trainable)


@pytest.mark.parametrize("name,kind", [("nope", "mel"), ("mobilenetv2", "chroma")])
def test_bad_model_or_kind(name, kind):
    with pytest.raises(GtzanError):
        models.build_model(name, (32, 32), kind)


def test_the_base_can_be_frozen_without_pretrained_weights():
    auto = models.build_model("mobilenetv2", TINY["mfcc_image"], "mfcc_image", weights=None)
    frozen = models.build_model("mobilenetv2", TINY["mfcc_image"], "mfcc_image", weights=None, train_base=False)
    assert models.base_of(auto).trainable and not models.base_of(frozen).trainable
    assert len(frozen.trainable_weights) < len(auto.trainable_weights)
    assert parse.parse_train_base("Frozen") is False and parse.parse_train_base("auto") is None
    with pytest.raises(GtzanError, match="TRAIN_BASE"):
        parse.parse_train_base("half")


# trains models or runs TensorFlow graphs: not in `make test-fast`
pytestmark = pytest.mark.slow
