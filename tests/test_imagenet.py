"""The paper's ImageNet rows: MobileNetV2's ImageNet weights load offline through Keras' cache (seeded from
../shared/imagenet for the session, see conftest), and its frozen features carry genre on real music: the linear
probe beats the same probe on random weights on ../shared/gtzan_real by a margin beyond fold noise."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from conftest import IMAGENET_SEEDED, SHARED  # noqa: E402

from gtzan_utils.base.errors import GtzanError  # noqa: E402
from gtzan_utils.classify import baseline, imagenet, models  # noqa: E402

REAL = SHARED / "gtzan_real"
needs_weights = pytest.mark.skipif("mobilenetv2" not in IMAGENET_SEEDED, reason="../shared/imagenet is absent")


def test_seeding_copies_only_known_weight_files(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / imagenet.IMAGENET_FILES["densenet121"]).write_bytes(b"not really weights")
    (src / "other.h5").write_bytes(b"x")
    assert imagenet.seed_keras_cache(src, tmp_path / "home") == ["densenet121"]
    assert [p.name for p in (tmp_path / "home" / "models").iterdir()] == [imagenet.IMAGENET_FILES["densenet121"]]


def test_weights_used_names_what_a_row_started_from():
    assert imagenet.weights_used("mobilenetv2", "cached") == "imagenet"
    assert imagenet.weights_used("mobilenetv2", "imagenet") == "imagenet"
    assert imagenet.weights_used("mobilenetv2", "none") is None and imagenet.weights_used("densenet121", "") is None
    assert imagenet.weights_used("msd_musicnn", "MSD_musicnn") == "MSD_musicnn"


def test_channel_statistics_keep_the_spectral_envelope():
    mean = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)  # (rows, channels)
    var = np.array([[1.0, 1.0], [1.0, 1.0]], np.float32)
    m, v = models.channel_statistics(mean, var)
    np.testing.assert_allclose(m, [[1.0, 2.0], [1.0, 2.0]])
    np.testing.assert_allclose(v, [[2.0, 2.0], [2.0, 2.0]])  # within-row variance 1 + between-row variance 1


@needs_weights
def test_imagenet_weights_load_offline_through_the_seeded_cache():
    assert imagenet.imagenet_cached("mobilenetv2") and not imagenet.imagenet_cached("densenet121")
    assert imagenet.keras_home() != (imagenet.Path.home() / ".keras")  # a temporary cache, not the user's
    pretrained = imagenet.imagenet_base("mobilenetv2", (64, 96, 3), "imagenet")
    again = imagenet.imagenet_base("mobilenetv2", (64, 96, 3), "cached")
    keras.utils.set_random_seed(0)
    random = imagenet.imagenet_base("mobilenetv2", (64, 96, 3), None)
    w, w2, r = (m.get_layer("Conv1").get_weights()[0] for m in (pretrained, again, random))
    np.testing.assert_array_equal(w, w2)  # the same file, twice
    assert not np.allclose(w, r)
    with pytest.raises(GtzanError, match="DenseNet121|densenet121|ImageNet weights"):
        imagenet.imagenet_base("densenet121", (64, 96, 3), "imagenet")  # not cached, offline: one clear error


@pytest.mark.slow
@needs_weights
@pytest.mark.skipif(not (REAL / "genres").is_dir(), reason="../shared/gtzan_real is absent")
def test_the_imagenet_probe_beats_random_weights_on_real_music(tmp_path):
    from gtzan_utils.data import dataset
    from gtzan_utils.features import splits, store
    from gtzan_utils.features.extract import FeatureParams

    tracks = dataset.load_dataset(REAL, min_seconds=5.0, n_slices=3, progress=False)
    s = store.featurize_all(
        tracks, ["mel3"], tmp_path / "stores", base=FeatureParams(n_slices=3), n_jobs=2, progress=False
    )["mel3"]
    split = splits.kfold_split(tracks, seed=0, k=5)
    song = {}
    for weights in ("imagenet", None):
        X = imagenet.imagenet_features(s, "mobilenetv2", weights)
        assert X.shape == (len(s), 2560) and np.isfinite(X).all()
        row = baseline.LinearRow(f"probe_{weights}", X, s, "test")
        r = baseline.run_linear(row, split, tmp_path / str(weights))
        song[weights] = np.array([f["song"]["accuracy"] for f in r["folds"]])
    # measured: 0.76 +- 0.10 against 0.50 +- 0.09 (5 folds of 10 songs); a fold mean moves by about +-0.1
    assert song["imagenet"].mean() >= 0.6, song
    assert song["imagenet"].mean() - song[None].mean() >= 0.12, song
    assert (song["imagenet"] >= song[None]).sum() >= 4, song
    cached = imagenet.imagenet_features(s, "mobilenetv2", "cached")  # the same file: cached, not recomputed
    np.testing.assert_array_equal(cached, imagenet.imagenet_features(s, "mobilenetv2", "imagenet"))
