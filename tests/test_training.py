"""Training from the store, evaluation, metrics.json, resume after a kill."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from callbacks import Epochs, Kill  # noqa: E402
from conftest import tiny_params, write_dataset  # noqa: E402

from gtzan_utils.base import parse
from gtzan_utils.classify import (
    evaluate,
    experiment,
    selection,
    training,  # noqa: E402
)
from gtzan_utils.classify.settings import TrainSettings  # noqa: E402
from gtzan_utils.data import dataset
from gtzan_utils.features import batches, splits, store

P = tiny_params()  # the slices of conftest's tiny_store


def test_batches_stream_rows_from_the_store(tiny_store):
    s, _ = tiny_store
    rows = np.array([5, 0, 7, 3, 1])
    b = batches.StoreBatches(s, rows, batch_size=2)
    assert len(b) == 3
    x, y = b[0]
    np.testing.assert_array_equal(x, s.read([5, 0]))
    np.testing.assert_array_equal(y, s.y[[5, 0]])
    assert b[2][0].shape == (1, *P.shape)
    shuffled = batches.StoreBatches(s, rows, batch_size=5, shuffle=True, seed=1)
    assert sorted(shuffled[0][1].tolist()) == sorted(s.y[rows].tolist())


def test_train_stats_use_only_the_given_rows(tiny_store):
    s, _ = tiny_store
    rows = np.arange(0, 12)
    mean, var = training.train_stats(s, rows, chunk=5)
    x = s.read(rows).astype(np.float64)
    np.testing.assert_allclose(mean[:, 0], x.mean(axis=(0, 2)), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(var[:, 0], x.var(axis=(0, 2)), rtol=1e-3, atol=1e-2)


def test_song_level_is_the_mean_of_slice_probabilities():
    probs = np.array(
        [
            [0.6, 0.4],
            [0.1, 0.9],
            [0.2, 0.8],  # song a: mean (0.3, 0.7) → 1, though slice 0 says 0
            [0.9, 0.1],
            [0.7, 0.3],
        ]
    )  # song b: → 0
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
    r = experiment.run_experiment(
        "vanilla_cnn", s, sp, tmp_path / "exp", TrainSettings(epochs=2, patience=2, verbose=0)
    )
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
    again = experiment.run_experiment(
        "vanilla_cnn", s, sp, tmp_path / "exp", TrainSettings(epochs=2, patience=2, verbose=0)
    )
    assert again["results"]["song"]["accuracy"] == r["results"]["song"]["accuracy"]
    assert len(pd.read_csv(tmp_path / "exp" / "history.csv")) == 2


def test_paper_split_has_no_song_level(tiny_store, tmp_path):
    s, _ = tiny_store
    sp = splits.paper_split(s.manifest, seed=0)
    r = experiment.run_experiment("vanilla_cnn", s, sp, tmp_path / "p", TrainSettings(epochs=1, verbose=0))
    assert set(k for k in r["results"] if not k.startswith("_")) == {"slice"}
    assert r["metrics"]["protocol"]["leaky"] is True


def test_killed_training_resumes_from_its_checkpoint(tiny_store, tmp_path):
    s, tracks = tiny_store
    sp = splits.song_split(tracks, seed=0)
    kw = dict(epochs=4, patience=10, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        experiment.run_experiment("vanilla_cnn", s, sp, tmp_path / "k", TrainSettings(**kw), callbacks=[Kill(1)])
    assert (tmp_path / "k" / "backup").exists() and not (tmp_path / "k" / "metrics.json").exists()
    seen = Epochs()
    r = experiment.run_experiment("vanilla_cnn", s, sp, tmp_path / "k", TrainSettings(**kw), callbacks=[seen])
    assert seen.seen == [2, 3]  # continued after the two finished epochs, not from scratch
    assert r["history"].epoch.tolist() == [0, 1, 2, 3]
    assert not (tmp_path / "k" / "backup").exists()


def test_kfold_writes_mean_and_std(tiny_store, tmp_path):
    s, tracks = tiny_store
    sp = splits.kfold_split(tracks, seed=0, k=3)
    r = experiment.run_split("vanilla_cnn", s, sp, tmp_path / "kf", TrainSettings(epochs=1, verbose=0))
    doc = json.loads((tmp_path / "kf" / "metrics.json").read_text())
    assert len(doc["results"]["song"]["accuracy_per_fold"]) == 3
    assert doc["protocol"]["folds"] == 3 and doc["protocol"]["n_test_songs"] == 15
    assert len(r["folds"]) == 3
    table = evaluate.results_table([doc])
    assert set(table.level) == {"slice", "song"} and table["± std"].notna().all()


def test_parse_and_cap_sizes():
    assert parse.parse_size("") is None and parse.parse_size("32x64") == (32, 64)
    assert training.capped_size((13, 216), (32, 64)) == (13, 64)
    assert training.capped_size((13, 216), (32, 96)) is None  # fewer pixels than the cap: kept
    assert training.capped_size((128, 500, 3), (32, 96)) == (32, 96)
    assert training.capped_size((13, 40), (32, 64)) is None
    with pytest.raises(Exception, match="INPUT_SIZE"):
        parse.parse_size("big")


def test_extra_slices_join_the_training_batches_once_per_epoch(tiny_store):
    s, _ = tiny_store
    rows = np.arange(6)
    ex = np.full((4, *P.shape), 7.0, np.float32)
    ey = np.array([0, 1, 2, 0])
    b = batches.StoreBatches(s, rows, batch_size=4, shuffle=True, seed=0, extra=(ex, ey))
    assert len(b) == 3
    xs = np.concatenate([b[i][0] for i in range(len(b))])
    ys = np.concatenate([b[i][1] for i in range(len(b))])
    is_extra = (xs == 7.0).all(axis=(1, 2))
    assert is_extra.sum() == 4 and sorted(ys[is_extra].tolist()) == [0, 0, 1, 2]
    assert sorted(ys[~is_extra].tolist()) == sorted(s.y[rows].tolist())
    with pytest.raises(training.GtzanError, match="extra slices"):
        batches.StoreBatches(s, rows, extra=(ex[:, :3], ey))


def test_epochs_draw_afresh_from_the_pool(tiny_store):
    s, _ = tiny_store
    rows = np.arange(10)
    b = batches.StoreBatches(s, rows, batch_size=4, shuffle=True, seed=0, per_epoch=6)
    assert len(b) == 2
    first = np.concatenate([b[i][0] for i in range(len(b))])
    assert len(first) == 6 and len(np.unique(b.order)) == 6  # without replacement
    orders = {tuple(b.order)}
    for _ in range(5):
        b.on_epoch_end()
        orders.add(tuple(b.order))
    assert len(orders) > 1  # another draw each epoch
    many = batches.StoreBatches(s, rows, batch_size=8, shuffle=True, seed=0, per_epoch=25)
    counts = np.bincount(many.order, minlength=10)
    assert len(many.order) == 25 and counts.min() >= 2 and counts.max() <= 3  # every row twice, then a rest
    with pytest.raises(training.GtzanError, match="shuffle"):
        batches.StoreBatches(s, rows, per_epoch=6)
    assert selection.epoch_size(100, 100) is None  # a plain epoch: every slice once
    assert selection.epoch_size(100, 2600, min_slices=1024) == 1024
    assert selection.epoch_size(4800, 26000, min_slices=1024, max_slices=3000) == 3000


def _selector(tmp_path, values, **kw):
    """A KeepBest fed a validation series; each epoch's weights are filled with the epoch number."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    sel = selection.KeepBest(tmp_path, "stage", **kw)
    sel.set_model(model)
    sel.on_train_begin()
    ran = 0
    for e, v in enumerate(values):
        model.set_weights([np.full_like(w, e) for w in model.get_weights()])
        sel.on_epoch_end(e, {"val_loss": v, "val_accuracy": 1 - v})
        ran = e + 1
        if getattr(model, "stop_training", False):
            break
    sel.on_train_end()
    return sel, model, ran


def test_selection_never_keeps_an_epoch_before_min_epochs(tmp_path):
    # epoch 0 has the lowest validation loss (the small-data trap), later ones settle lower than epochs 1-3
    values = [0.5, 2.3, 2.2, 2.1, 1.2, 1.0, 1.1, 1.3, 1.6, 1.9, 2.0]
    sel, model, ran = _selector(tmp_path, values, min_epochs=3, patience=3, smooth=1)
    assert sel.kept_epoch == 5 and ran == 9  # stopped 3 epochs after the best
    assert float(model.get_weights()[0].ravel()[0]) == 5.0  # the kept epoch's weights are restored
    plain, _, _ = _selector(tmp_path / "plain", values, min_epochs=0, patience=3, smooth=1)
    assert plain.kept_epoch == 0  # what the old rule did: keep the untrained model
    smooth, _, _ = _selector(tmp_path / "smooth", [2.3, 2.2, 1.0, 2.1, 1.4, 1.3, 1.2, 1.5], min_epochs=2, smooth=3)
    assert smooth.kept_epoch == 6  # a lone good epoch (2) loses to a consistently good stretch
    acc, _, _ = _selector(tmp_path / "acc", values, min_epochs=3, monitor="val_accuracy", smooth=1)
    assert acc.kept_epoch == 5
    assert "min_epochs" in sel.describe() and sel.describe()["kept_epoch"] == 5
    with pytest.raises(training.GtzanError, match="monitor"):
        selection.KeepBest(tmp_path, "x", monitor="accuracy")


def test_selection_resumes_with_its_state(tmp_path):
    values = [2.0, 1.0, 1.5, 0.9, 1.4]
    whole, _, _ = _selector(tmp_path / "whole", values, smooth=1)
    first, _, _ = _selector(tmp_path / "resumed", values[:2], smooth=1)
    first.on_train_end()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    again = selection.KeepBest(tmp_path / "resumed", "stage", smooth=1)
    again.set_model(model)
    again.on_train_begin()  # a resumed run reads the state the killed one left
    for e, v in enumerate(values[2:], start=2):
        again.on_epoch_end(e, {"val_loss": v})
    assert again.kept_epoch == whole.kept_epoch == 3


def test_training_windows_feed_training_and_the_slices_the_scores(tmp_path):
    root = tmp_path / "ds"
    write_dataset(root / "genres", genres=("blues", "classical", "rock"), per_genre=5, seconds=6.0)
    tracks = dataset.find_dataset(root / "genres")
    s = store.build_store(tracks, P, root / "stores", n_jobs=1, progress=False)
    from gtzan_utils.features import extract

    w = store.build_store(tracks, extract.windows_of(P, 1.0), root / "stores", n_jobs=1, progress=False)
    assert len(w) == 15 * 5 and len(s) == 15 * 3  # 5 windows of 2 s every second against 3 slices
    sp = splits.song_split(tracks, seed=0)
    r = experiment.run_experiment(
        "vanilla_cnn",
        s,
        sp,
        tmp_path / "w",
        TrainSettings(epochs=3, min_epochs=2, min_epoch_slices=40, verbose=0),
        train_store=w,
    )
    p = r["metrics"]["protocol"]
    assert p["train_store"] == w.path.name and p["train_hop_seconds"] == 1.0
    assert p["n_train_examples"] == len(sp.rows(w.manifest, "train")) and p["n_train_slices_used"] == 40
    assert p["n_test_slices"] == len(sp.rows(s.manifest, "test"))  # scored on the paper's slices
    assert p["selection"]["kept_epoch"] >= 1 and p["selection"]["min_epochs"] == 2
    assert not list((tmp_path / "w").glob("selection-*")) and not (tmp_path / "w" / "best.keras").exists()
    cfg = json.loads((tmp_path / "w" / "config.json").read_text())
    replay = TrainSettings.from_config(cfg)
    assert replay == TrainSettings(epochs=3, min_epochs=2, min_epoch_slices=40) and replay.verbose is None
    assert (
        experiment.experiment_config(
            experiment.Experiment("vanilla_cnn", s, sp, tmp_path / "w", replay, train_store=w)
        )["key"]
        == cfg["key"]
    )  # the replay names the same run
    with pytest.raises(training.GtzanError, match="split by song"):
        experiment.run_experiment(
            "vanilla_cnn", s, splits.paper_split(s.manifest), tmp_path / "p", TrainSettings(), train_store=w
        )


# -- integrity ----------------------------------------------------------------------------------------------
def _test_songs(split) -> list[list[str]]:
    return [sorted(f["test"]) for f in split.folds]


def test_kfold_rerun_with_another_k_retrains_and_tests_every_song_once(tiny_store, tmp_path):
    """02 re-run with another KFOLD_K into the same run folder, then 03: no fold model may be reused."""
    s, tracks = tiny_store
    out = tmp_path / "kf"
    experiment.run_split(
        "vanilla_cnn", s, splits.kfold_split(tracks, seed=0, k=5), out, TrainSettings(epochs=1, verbose=0)
    )
    k3 = splits.kfold_split(tracks, seed=0, k=3)
    seen = Epochs()
    r = experiment.run_split("vanilla_cnn", s, k3, out, TrainSettings(epochs=1, verbose=0), callbacks=[seen])
    assert seen.seen == [0, 0, 0]  # every one of the three folds trained again
    tested = _test_songs(k3)
    flat = [t for fold in tested for t in fold]
    assert len(flat) == len(set(flat)) == tracks.track_id.nunique()  # disjoint, and every song once
    for f, fold_run in enumerate(r["folds"]):
        cfg = json.loads((out / f"fold_{f}" / "config.json").read_text())
        assert cfg["split_members"] == k3.members_key(f)
        assert sorted(set(s.manifest.track_id.iloc[fold_run["results"]["_predictions"]["rows"]])) == tested[f]


def test_kfold_results_pool_every_fold(tiny_store, tmp_path):
    s, tracks = tiny_store
    sp = splits.kfold_split(tracks, seed=0, k=3)
    r = experiment.run_split("vanilla_cnn", s, sp, tmp_path / "kf", TrainSettings(epochs=1, verbose=0))
    pooled = r["results"]
    assert pooled["pooled_folds"] == 3
    assert np.asarray(pooled["song"]["confusion"]).sum() == tracks.track_id.nunique()
    assert np.asarray(pooled["slice"]["confusion"]).sum() == len(s)
    assert "3 folds pooled" in evaluate.result_title(pooled, "song")
    doc = r["metrics"]["results"]["song"]
    per_fold = [f["metrics"]["results"]["song"]["accuracy"] for f in r["folds"]]
    assert doc["accuracy_per_fold"] == per_fold
    assert doc["accuracy_mean"] == pytest.approx(np.mean(per_fold))
    assert doc["accuracy_std"] == pytest.approx(np.std(per_fold, ddof=1))
    assert doc["accuracy_pooled"] == pooled["song"]["accuracy"] and doc["confusion"] == pooled["song"]["confusion"]
    correct = sum(np.trace(f["metrics"]["results"]["song"]["confusion"]) for f in r["folds"])
    assert pooled["song"]["accuracy"] == pytest.approx(correct / tracks.track_id.nunique())


def test_macro_f1_counts_labels_predicted_but_absent_from_the_truth():
    sc = evaluate.scores([0, 0, 1, 1], [0, 0, 1, 2], ["a", "b", "c"])
    # F1: a 1.0, b 2/3 (precision 1, recall 1/2), c 0 (predicted once, never true) → mean over a, b, c
    assert sc["macro_f1"] == pytest.approx((1.0 + 2 / 3 + 0.0) / 3)
    assert evaluate.scores([0, 1], [0, 1], ["a", "b", "c"])["macro_f1"] == 1.0  # c neither true nor predicted


def test_training_learns_separable_tones_and_is_deterministic(tiny_store, tmp_path):
    from tensorflow.python.framework import config as tf_config

    s, tracks = tiny_store
    sp = splits.kfold_split(tracks, seed=0, k=3)
    kw = dict(epochs=10, patience=10, batch_size=4, verbose=0)
    a = experiment.run_split("vanilla_cnn", s, sp, tmp_path / "a", TrainSettings(**kw))
    assert tf_config.is_op_determinism_enabled()
    # 3 genres, one pitch band each: the CNN must do far better than chance (1/3) on songs it never saw
    assert a["results"]["song"]["accuracy"] >= 0.8  # measured: 1.0 (15 songs, 3 folds pooled)
    b = experiment.run_experiment("vanilla_cnn", s, sp, tmp_path / "b", TrainSettings(**kw))
    first = a["folds"][0]
    np.testing.assert_array_equal(first["history"]["loss"].to_numpy(), b["history"]["loss"].to_numpy())
    for wa, wb in zip(first["model"].get_weights(), b["model"].get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_saved_normaliser_holds_the_training_rows_statistics(tiny_store, tmp_path):
    s, tracks = tiny_store
    sp = splits.song_split(tracks, seed=0)
    r = experiment.run_experiment("vanilla_cnn", s, sp, tmp_path / "n", TrainSettings(epochs=1, verbose=0))
    model = keras.models.load_model(tmp_path / "n" / "model.keras")
    layer = model.get_layer("train_stats")
    train_rows, _ = training.train_val_rows(s, sp)
    mean, var = training.train_stats(s, train_rows)
    np.testing.assert_allclose(np.asarray(layer.mean).reshape(mean.shape), mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(layer.variance).reshape(var.shape), var, rtol=1e-5, atol=1e-5)
    everything_mean, _ = training.train_stats(s, np.arange(len(s)))
    assert not np.allclose(everything_mean, mean, atol=1e-3)  # the test songs' statistics were not used
    assert r["metrics"]["validation"]["song"]["n"] == len(sp.folds[0]["val"])


def test_killed_fine_tuning_resumes_stage_two(tiny_store, tmp_path):
    """A kill during stage 2 must resume stage 2 from its own backup, not hand that backup to stage 1."""
    s, tracks = tiny_store
    sp = splits.song_split(tracks, seed=0)
    kw = dict(
        epochs=2,
        patience=10,
        verbose=0,
        fine_tune_epochs=2,
        fine_tune_layers=5,
        train_base=False,
        input_size=(32, 32),
        max_train_slices=12,
    )
    with pytest.raises(KeyboardInterrupt):
        experiment.run_experiment("mobilenetv2", s, sp, tmp_path / "ft", TrainSettings(**kw), callbacks=[Kill(2)])
    assert (tmp_path / "ft" / "stage1.keras").exists() and (tmp_path / "ft" / "backup_stage2").exists()
    seen = Epochs()
    r = experiment.run_experiment("mobilenetv2", s, sp, tmp_path / "ft", TrainSettings(**kw), callbacks=[seen])
    assert seen.seen == [3]  # stage 1 is not trained again; stage 2 goes on after its finished epoch 2
    assert r["history"].epoch.tolist() == [0, 1, 2, 3]
    assert r["metrics"]["protocol"]["base"].startswith("frozen, then top 5 layers fine-tuned")
    assert not (tmp_path / "ft" / "stage1.keras").exists() and not (tmp_path / "ft" / "backup_stage2").exists()


# trains models or runs TensorFlow graphs: not in `make test-fast`
pytestmark = pytest.mark.slow
