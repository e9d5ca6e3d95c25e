"""Training from the store, evaluation, metrics.json, resume after a kill."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from conftest import write_dataset  # noqa: E402
from gtzan_utils import data, evaluate, splits, store, training  # noqa: E402
from gtzan_utils.features import FeatureParams  # noqa: E402

P = FeatureParams(kind="mfcc", slice_seconds=2.0, n_slices=3)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    write_dataset(root / "genres", genres=("blues", "classical", "rock"), per_genre=5, seconds=6.0)
    tracks = data.find_dataset(root / "genres")
    s = store.build_store(tracks, P, root / "stores", n_jobs=1, progress=False)
    return s, tracks


def test_batches_stream_rows_from_the_store(tiny_store):
    s, _ = tiny_store
    rows = np.array([5, 0, 7, 3, 1])
    b = training.StoreBatches(s, rows, batch_size=2)
    assert len(b) == 3
    x, y = b[0]
    np.testing.assert_array_equal(x, s.read([5, 0]))
    np.testing.assert_array_equal(y, s.y[[5, 0]])
    assert b[2][0].shape == (1, *P.shape)
    shuffled = training.StoreBatches(s, rows, batch_size=5, shuffle=True, seed=1)
    assert sorted(shuffled[0][1].tolist()) == sorted(s.y[rows].tolist())


def test_train_stats_use_only_the_given_rows(tiny_store):
    s, _ = tiny_store
    rows = np.arange(0, 12)
    mean, var = training.train_stats(s, rows, chunk=5)
    x = s.read(rows).astype(np.float64)
    np.testing.assert_allclose(mean[:, 0], x.mean(axis=(0, 2)), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(var[:, 0], x.var(axis=(0, 2)), rtol=1e-3, atol=1e-2)


def test_song_level_is_the_mean_of_slice_probabilities():
    probs = np.array([[0.6, 0.4], [0.1, 0.9], [0.2, 0.8],   # song a: mean (0.3, 0.7) → 1, though slice 0 says 0
                      [0.9, 0.1], [0.7, 0.3]])             # song b: → 0
    songs = evaluate.song_level(["a", "a", "a", "b", "b"], probs, [1, 1, 1, 0, 0])
    assert songs.loc["a", "y_pred"] == 1 and songs.loc["b", "y_pred"] == 0
    np.testing.assert_allclose(songs.loc["a", "probs"], [0.3, 0.7])
    sc = evaluate.scores(songs.y_true, songs.y_pred, ["x", "y"])
    assert sc["accuracy"] == 1.0 and sc["confusion"] == [[1, 0], [0, 1]]
    slice_sc = evaluate.scores([1, 1, 1, 0, 0], probs.argmax(1), ["x", "y"])
    assert slice_sc["accuracy"] == pytest.approx(0.8)


def test_run_experiment_writes_metrics_with_protocol(tiny_store, tmp_path):
    s, tracks = tiny_store
    sp = splits.song_split(tracks, seed=0)
    r = training.run_experiment("vanilla_cnn", s, sp, tmp_path / "exp", epochs=2, patience=2, verbose=0)
    doc = json.loads((tmp_path / "exp" / "metrics.json").read_text())
    assert {"model", "kind", "protocol", "results", "versions", "config"} <= set(doc)
    p = doc["protocol"]
    assert p["split"] == "song" and p["leaky"] is False and p["seed"] == 0 and p["folds"] == 1
    assert p["n_test_songs"] == len(sp.folds[0]["test"]) and p["pretrained"] is False
    assert set(doc["results"]) == {"slice", "song"}
    for level in ("slice", "song"):
        res = doc["results"][level]
        assert 0 <= res["accuracy"] <= 1 and len(res["confusion"]) == len(s.labels)
        assert set(res["per_genre"]["rock"]) == {"precision", "recall", "f1", "support"}
    assert doc["results"]["song"]["n"] == p["n_test_songs"]
    assert {"tensorflow", "keras", "librosa"} <= set(doc["versions"])
    assert (tmp_path / "exp" / "model.keras").exists() and len(r["history"]) == 2
    # the same configuration again: loaded and re-scored, not retrained
    again = training.run_experiment("vanilla_cnn", s, sp, tmp_path / "exp", epochs=2, patience=2, verbose=0)
    assert again["results"]["song"]["accuracy"] == r["results"]["song"]["accuracy"]
    assert len(pd.read_csv(tmp_path / "exp" / "history.csv")) == 2


def test_paper_split_has_no_song_level(tiny_store, tmp_path):
    s, _ = tiny_store
    sp = splits.paper_split(s.manifest, seed=0)
    r = training.run_experiment("vanilla_cnn", s, sp, tmp_path / "p", epochs=1, verbose=0)
    assert set(k for k in r["results"] if not k.startswith("_")) == {"slice"}
    assert r["metrics"]["protocol"]["leaky"] is True


class _Kill(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt("simulated kill")


class _Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


def test_killed_training_resumes_from_its_checkpoint(tiny_store, tmp_path):
    s, tracks = tiny_store
    sp = splits.song_split(tracks, seed=0)
    kw = dict(epochs=4, patience=10, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        training.run_experiment("vanilla_cnn", s, sp, tmp_path / "k", extra_callbacks=[_Kill(1)], **kw)
    assert (tmp_path / "k" / "backup").exists() and not (tmp_path / "k" / "metrics.json").exists()
    seen = _Epochs()
    r = training.run_experiment("vanilla_cnn", s, sp, tmp_path / "k", extra_callbacks=[seen], **kw)
    assert seen.seen == [2, 3]  # continued after the two finished epochs, not from scratch
    assert r["history"].epoch.tolist() == [0, 1, 2, 3]
    assert not (tmp_path / "k" / "backup").exists()


def test_kfold_writes_mean_and_std(tiny_store, tmp_path):
    s, tracks = tiny_store
    sp = splits.kfold_split(tracks, seed=0, k=3)
    r = training.run_split("vanilla_cnn", s, sp, tmp_path / "kf", epochs=1, verbose=0)
    doc = json.loads((tmp_path / "kf" / "metrics.json").read_text())
    assert len(doc["results"]["song"]["accuracy_per_fold"]) == 3
    assert doc["protocol"]["folds"] == 3 and doc["protocol"]["n_test_songs"] == 15
    assert len(r["folds"]) == 3
    table = evaluate.results_table([doc])
    assert set(table.level) == {"slice", "song"} and table["± std"].notna().all()


def test_parse_and_cap_sizes():
    assert training.parse_size("") is None and training.parse_size("32x64") == (32, 64)
    assert training.capped_size((13, 216), (32, 64)) == (13, 64)
    assert training.capped_size((13, 216), (32, 96)) is None  # fewer pixels than the cap: kept
    assert training.capped_size((128, 500, 3), (32, 96)) == (32, 96)
    assert training.capped_size((13, 40), (32, 64)) is None
    with pytest.raises(Exception, match="INPUT_SIZE"):
        training.parse_size("big")


def test_extra_slices_join_the_training_batches_once_per_epoch(tiny_store):
    s, _ = tiny_store
    rows = np.arange(6)
    ex = np.full((4, *P.shape), 7.0, np.float32)
    ey = np.array([0, 1, 2, 0])
    b = training.StoreBatches(s, rows, batch_size=4, shuffle=True, seed=0, extra=(ex, ey))
    assert len(b) == 3
    xs = np.concatenate([b[i][0] for i in range(len(b))])
    ys = np.concatenate([b[i][1] for i in range(len(b))])
    is_extra = (xs == 7.0).all(axis=(1, 2))
    assert is_extra.sum() == 4 and sorted(ys[is_extra].tolist()) == [0, 0, 1, 2]
    assert sorted(ys[~is_extra].tolist()) == sorted(s.y[rows].tolist())
    with pytest.raises(training.GtzanError, match="extra slices"):
        training.StoreBatches(s, rows, extra=(ex[:, :3], ey))
