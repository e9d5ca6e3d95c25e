"""Judging generated audio: Fréchet distance, resynthesis, the judging table, the classifier it uses."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from gtzan_utils.base.constants import GENRES  # noqa: E402
from gtzan_utils.base.errors import GtzanError  # noqa: E402
from gtzan_utils.classify import experiment
from gtzan_utils.classify.settings import TrainSettings  # noqa: E402
from gtzan_utils.features import splits  # noqa: E402
from gtzan_utils.generate import audio, augment, judge, vae  # noqa: E402


def test_frechet_distance_follows_its_formula():
    x = np.random.default_rng(0).normal(size=(400, 4))
    assert judge.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    assert judge.frechet_distance(x, x + [3.0, 0, 0, 0]) == pytest.approx(9.0, rel=1e-6)  # mean shift only
    # scaled by 2: tr(C + 4C − 2·2C) = tr(C), plus the shift of the means
    expected = np.trace(np.cov(x, rowvar=False)) + np.sum(x.mean(0) ** 2)
    assert judge.frechet_distance(x, 2 * x) == pytest.approx(expected, rel=1e-5)
    assert np.isfinite(judge.frechet_distance(x[:1], x))  # one sample: covariance 0
    assert np.isnan(judge.frechet_distance(x[:0], x))
    with pytest.raises(GtzanError, match="sizes"):
        judge.frechet_distance(x, x[:, :3])


def test_genre_means_are_per_genre_averages(mel_store):
    s, _ = mel_store
    rows = np.arange(len(s))
    means = judge.genre_means(s, rows, chunk=5)
    x, y = s.read(rows), s.y[rows]
    assert means.shape == (len(s.labels), *s.params.shape)
    present = np.unique(y)
    for g in range(len(s.labels)):
        if g in present:
            np.testing.assert_allclose(means[g], x[y == g].mean(axis=0), rtol=1e-4, atol=1e-3)
        else:
            assert np.isnan(means[g]).all()
    some = judge.genre_means(s, rows[y != present[0]])
    assert np.isnan(some[present[0]]).all() and np.isfinite(some[present[1:]]).all()


def test_resynthesis_returns_store_shaped_features_near_the_original(mel_store):
    s, _ = mel_store
    x = s.read([0, 5])
    back = judge.resynthesize(x, s.params, n_iter=16, inverse="pinv")
    assert back.shape == x.shape
    err_same = np.abs(back - x).mean()
    err_other = np.abs(back[::-1] - x).mean()  # clips of different pitch
    assert err_same < err_other


def test_judge_sets_scores_intended_genres_against_the_reference(mel_store, mel_classifier):
    s, _ = mel_store
    sp = mel_classifier["split"]
    emb = judge.embedding_model(mel_classifier["model"])
    rows = np.arange(len(s))
    x, y = s.read(rows), s.y[rows]
    probs, e = judge.classify(emb, x)
    assert probs.shape == (len(x), len(s.labels)) and e.shape == (len(x), 64)
    right = (probs.argmax(1) == y).mean()
    present = np.unique(y)
    shifted = np.array([present[(list(present).index(v) + 1) % len(present)] for v in y])
    sets = {"as labelled": (x, y), "labels shifted": (x, shifted)}
    t = judge.judge_sets(emb, sets, (x, y), s.labels)
    overall = t[t.genre == "all"].set_index("set")
    assert overall.loc["as labelled", "accuracy"] == pytest.approx(right)
    assert overall.loc["labels shifted", "accuracy"] <= 1 - right + 1e-9
    assert overall.loc["as labelled", "frechet"] == pytest.approx(0.0, abs=1e-3)  # the reference itself
    assert set(t[t.set == "as labelled"].genre) == {"all", *(s.labels[g] for g in present)}
    summary = judge.summary_table(t)
    assert list(summary.index) == ["as labelled", "labels shifted"]
    with pytest.raises(GtzanError, match="dense"):
        judge.embedding_model(vae.build_vae((16, 16), vae.VAESpec(latent_dim=2), GENRES[:3]).decoder)
    assert sp.name == "song"


def test_judge_classifier_reuses_notebook_03s_model_or_trains_one(mel_store, mel_classifier, tmp_path):
    s, _ = mel_store
    sp = mel_classifier["split"]
    settings = TrainSettings(epochs=1, patience=1, batch_size=8, seed=0, verbose=0)
    trained = judge.judge_classifier(tmp_path / "empty_run", s, sp, tmp_path / "out05", settings)
    assert (
        "trained in notebook 05" in trained["source"] and (tmp_path / "out05" / "classifier" / "model.keras").exists()
    )
    assert "notebook 03 left no vanilla CNN on mel" in trained["trained_here"] and trained["settings"] == settings
    # a run whose 03 has the model: it is loaded (same configuration), not trained again
    run = tmp_path / "run"
    nb03 = run / "03_vanilla_cnn" / "vanilla_cnn-mel-song"
    experiment.run_experiment("vanilla_cnn", s, sp, nb03, settings)
    stamp = (nb03 / "model.keras").stat().st_mtime_ns
    reused = judge.judge_classifier(run, s, sp, tmp_path / "out05b", settings.replace(epochs=99))
    assert reused["source"] == str(nb03) and reused["settings"].epochs == 1 and reused["trained_here"] is None
    assert (nb03 / "model.keras").stat().st_mtime_ns == stamp and not (tmp_path / "out05b" / "classifier").exists()


def test_reconstruction_and_augmentation_slices(mel_store, mel_classifier, tmp_path):
    s, _ = mel_store
    model = vae.build_vae(s.params.shape, vae.VAESpec(latent_dim=3, filters=(4, 4, 8, 8)), s.labels, -40.0, 15.0)
    x, y = s.read([0, 1, 2]), s.y[[0, 1, 2]]
    recon, err = judge.reconstruction_db(model, x, y)
    assert recon.shape == x.shape and err.shape == (3,) and (err > 0).all()
    np.testing.assert_allclose(err, np.abs(recon - x).reshape(3, -1).mean(1), rtol=1e-5)
    gx, gy = judge.sample_per_genre(model, 2, seed=0)
    ax, ay = judge.augment_slices(model, 2, seed=0)
    n = len(s.labels)
    assert (
        gx.shape == ax.shape == (2 * n, *s.params.shape)
        and gy.tolist() == ay.tolist() == np.repeat(np.arange(n), 2).tolist()
    )
    assert not np.allclose(gx, ax)  # augmentation draws apart from the judging samples
    # the augmented run is a different configuration: trained into its own folder, metrics say how many extras
    sp = mel_classifier["split"]
    kw = dict(epochs=1, patience=1, batch_size=8, seed=0, verbose=0)
    plain = experiment.run_experiment("vanilla_cnn", s, sp, tmp_path / "plain", TrainSettings(**kw))
    aug = experiment.run_experiment("vanilla_cnn", s, sp, tmp_path / "aug", TrainSettings(**kw), extra_train=(ax, ay))
    assert aug["metrics"]["config_key"] != plain["metrics"]["config_key"]
    assert aug["metrics"]["protocol"]["n_extra_train_slices"] == 2 * n
    assert aug["metrics"]["protocol"]["n_test_slices"] == plain["metrics"]["protocol"]["n_test_slices"]
    result = augment.summarize(
        [
            {
                "without": {lv: plain["results"][lv]["accuracy"] for lv in ("slice", "song")},
                "with": {lv: aug["results"][lv]["accuracy"] for lv in ("slice", "song")},
            }
        ]
    )
    result.update(k_per_genre=2)
    doc = judge.write_vae_metrics(
        tmp_path / "m" / "vae_metrics.json",
        vae_config={"epochs": 1},
        history=__import__("pandas").DataFrame({"epoch": [0], "kl": [1.0]}),
        judged=judge.judge_sets(judge.embedding_model(plain["model"]), {"g": (gx, gy)}, (x, y), s.labels),
        reconstruction={"mean_abs_error_db": float(err.mean())},
        protocol={"split": sp.name},
        augmentation=result,
    )
    back = json.loads((tmp_path / "m" / "vae_metrics.json").read_text())
    assert back["augmentation"]["k_per_genre"] == 2 and back["judging"]["protocol"]["split"] == "song"
    assert back["judging"]["summary"][0]["set"] == "g" and doc["vae"]["epochs_run"] == 1


def test_pick_per_genre_takes_at_most_n_of_each(mel_store):
    s, _ = mel_store
    rows = np.arange(len(s))
    picked = judge.pick_per_genre(s, rows, 2, seed=3)
    counts = np.bincount(s.y[picked], minlength=len(s.labels))
    assert set(counts[np.unique(s.y)]) == {2} and np.all(np.diff(picked) > 0)
    np.testing.assert_array_equal(picked, judge.pick_per_genre(s, rows, 2, seed=3))  # seeded
    assert len(judge.pick_per_genre(s, rows[:0], 2)) == 0


def test_augmentation_summary_is_mean_and_std_over_folds_of_a_hand_made_case():
    folds = [
        {"without": {"slice": 0.50, "song": 0.6}, "with": {"slice": 0.60, "song": 0.6}},
        {"without": {"slice": 0.70, "song": 0.8}, "with": {"slice": 0.60, "song": 1.0}},
        {"without": {"slice": 0.60, "song": 0.7}, "with": {"slice": 0.90, "song": 0.8}},
    ]
    s = augment.summarize(folds)
    assert s["without"]["slice"]["mean"] == pytest.approx(0.60)
    assert s["without"]["slice"]["std"] == pytest.approx(0.10)  # sample std (ddof=1) of .5, .7, .6
    assert s["with"]["slice"]["mean"] == pytest.approx(0.70)
    # differences per fold: +0.1, −0.1, +0.3 → mean 0.1, std 0.2 (not the difference of the stds)
    assert s["difference"]["slice"]["per_fold"] == pytest.approx([0.1, -0.1, 0.3])
    assert s["difference"]["slice"]["mean"] == pytest.approx(0.1)
    assert s["difference"]["slice"]["std"] == pytest.approx(0.2)
    assert s["difference"]["song"]["mean"] == pytest.approx(0.1)
    one = augment.summarize(folds[:1])
    assert one["difference"]["song"] == {"mean": 0.0, "std": 0.0, "per_fold": [0.0]}
    table = augment.table({**s, "k_per_genre": 2})
    assert table.loc["difference", "slice"] == "+10.0% ± 20.0%"


def test_augmentation_is_refused_on_a_split_that_is_not_k_fold(mel_store, mel_classifier, tmp_path):
    s, _ = mel_store
    with pytest.raises(GtzanError, match="k-fold"):
        augment.augmentation_kfold(tmp_path, s, mel_classifier["split"], tmp_path / "a", 1, {}, None, None)


def test_resynthesis_inverts_in_bounded_chunks(mel_store, monkeypatch):
    """Judging never inverts a whole set at once at most ``chunk`` slices per inversion."""
    s, _ = mel_store
    x = s.read(np.arange(7))
    sizes = []
    real = judge.mel_db_to_audio

    def spy(mels, **kw):
        sizes.append(len(mels))
        return real(mels, **kw)

    monkeypatch.setattr(judge, "mel_db_to_audio", spy)
    out = judge.resynthesize(x, s.params, n_iter=2, inverse="pinv", chunk=3)
    assert sizes == [3, 3, 1] and out.shape == x.shape
    sizes.clear()
    feats, emb = judge.resynthesize(
        x, s.params, n_iter=2, inverse="pinv", chunk=4, embed=lambda audio: audio[:, :5] * 0 + len(audio)
    )
    assert sizes == [4, 3] and feats.shape == x.shape and emb.shape == (7, 5)
    assert emb[:, 0].tolist() == [4, 4, 4, 4, 3, 3, 3]  # each chunk's audio embedded as it came
    with pytest.raises(GtzanError, match="chunk"):
        judge.resynthesize(x, s.params, chunk=0)


def test_judge_sets_adds_the_pretrained_listener_when_given(mel_store, mel_classifier):
    """FAD and the musicnn-style accuracy come from the embeddings handed in: a set whose embeddings equal the
    reference's has FAD 0 and a classifier fitted on them recognises it; a set without audio gets NaN."""
    s, _ = mel_store
    emb = judge.embedding_model(mel_classifier["model"])
    rows = np.arange(len(s))
    x, y = s.read(rows), s.y[rows]
    rng = np.random.default_rng(0)
    d = len(s.labels)
    ref = rng.normal(size=(len(y), d)) + 4.0 * np.eye(d)[y]  # genre-separable "embeddings"
    clf = judge.fit_embedding_classifier(ref, y)
    far = ref + 10.0
    pre = {"reference": ref, "classifier": clf, "sets": {"same": ref, "shifted": far}}
    t = judge.judge_sets(emb, {"same": (x, y), "shifted": (x, y), "no audio": (x, y)}, (x, y), s.labels, pretrained=pre)
    overall = t[t.genre == "all"].set_index("set")
    assert overall.loc["same", "fad"] == pytest.approx(0.0, abs=1e-6)
    assert overall.loc["shifted", "fad"] == pytest.approx(d * 100.0, rel=1e-6)  # mean shift of 10 in d dimensions
    assert overall.loc["same", "musicnn_accuracy"] == 1.0
    assert np.isnan(overall.loc["no audio", "fad"]) and np.isnan(overall.loc["no audio", "musicnn_accuracy"])
    summary = judge.summary_table(t)
    assert {"musicnn accuracy", "FAD, all", "FAD, genre mean"} <= set(summary.columns)


def test_nearest_training_slice_shows_a_generator_that_replays_its_training_audio(mel_store, mel_classifier):
    s, _ = mel_store
    rows = np.arange(len(s))
    train, held_out = rows[: len(rows) // 2], rows[len(rows) // 2 :]
    x_train, x_out = s.read(train), s.read(held_out)
    d = judge.nearest_db(x_train[:3], s, train, chunk=2)  # in chunks, against every row
    np.testing.assert_allclose(d, 0.0, atol=1e-3)  # a copy of a training slice sits on it
    brute = [min(np.sqrt(np.mean((x - r) ** 2)) for r in x_train) for x in x_out[:3]]
    np.testing.assert_allclose(judge.nearest_db(x_out[:3], s, train), brute, rtol=1e-5)
    e = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(judge.nearest_embedding(e, np.array([[0.0, 1.0], [3.0, 0.0]])), [1.0, 4.0])
    emb = judge.embedding_model(mel_classifier["model"])
    y_train, y_out = s.y[train], s.y[held_out]
    sets = {"replay": (x_train, y_train), "real, validation songs": (x_out, y_out)}
    nearest = {"store": s, "rows": train}
    t = judge.judge_sets(emb, sets, (x_out, y_out), s.labels, nearest=nearest).set_index(["set", "genre"])
    assert (
        t.loc[("replay", "all"), "nearest_train_db"]
        < 1e-3
        < t.loc[("real, validation songs", "all"), "nearest_train_db"]
    )


def test_the_verdict_says_what_the_figures_mean():
    import pandas as pd

    summary = pd.DataFrame(
        {
            "accuracy": [0.5, 0.8, 0.2, 0.5],
            "musicnn accuracy": [0.8, 0.42, 0.24, 0.76],
            "FAD, all": [60.0, 157.0, 228.0, 78.0],
            "nearest training slice, musicnn": [6.6, 9.1, 9.7, 7.1],
        },
        index=["real, validation songs", "VAE, audio", "genre mean, audio", "real → mel → audio"],
    )
    text = judge.verdict(summary)
    assert len(text) == 4
    assert "musicnn places the VAE's audio in its genre in 42% of the slices: +18 points" in text[1]
    assert "157 for the VAE, 228 for the genre mean: the VAE is nearer to real music" in text[2]
    assert "9.1 for the VAE's audio, 7.1 for real held-out" in text[3] and "do not replay" in text[3]
    summary.loc["VAE, audio", "nearest training slice, musicnn"] = 2.0
    assert "may replay training audio" in judge.verdict(summary)[3]


# trains models or runs TensorFlow graphs: not in `make test-fast`
pytestmark = pytest.mark.slow


# -- judge_generated: the whole judging on a tiny store and a tiny VAE ---------------------------------------------
@pytest.fixture(scope="module")
def tiny_vae_and_windows(mel_store, tmp_path_factory):
    """A VAE of one epoch on the windows of :func:`mel_store` (0.5-s hop), and those windows."""
    from conftest import vae_args

    from gtzan_utils.features import extract, store

    s, tracks = mel_store
    root = tmp_path_factory.mktemp("judge_windows")
    w = store.build_store(tracks, extract.windows_of(s.params, 0.5), root / "stores", n_jobs=1, progress=False)
    sp = splits.song_split(tracks, seed=0)
    kw = dict(epochs=1, batch_size=8, latent_dim=2, warmup_epochs=1, filters=(4, 4, 8, 8), verbose=0)
    trained = vae.train_vae(s, sp, root / "vae", *vae_args(**kw), train_store=w)
    return trained, w, sp


def _recorded_nearest(monkeypatch):
    """Record the (store, rows) every nearest-training-slice distance is measured against."""
    calls, real = [], judge.nearest_db

    def spy(x, store, rows, chunk=256):
        calls.append((store, np.asarray(rows)))
        return real(x, store, rows, chunk)

    monkeypatch.setattr(judge, "nearest_db", spy)
    return calls


def test_judge_generated_measures_nearest_slices_against_what_the_vae_learnt_from(
    mel_store, mel_classifier, tiny_vae_and_windows, monkeypatch
):
    """The VAE learnt from training windows: every set's "nearest training slice, dB" is measured against exactly
    those windows (train_vae's train_rows of its train_store), never against the slice store's rows used as
    window rows (which name other windows, some of validation and test songs)."""
    s, _ = mel_store
    trained, w, sp = tiny_vae_and_windows
    assert trained["train_store"] is w and len(trained["train_rows"]) > len(sp.rows(s.manifest, "train"))
    calls = _recorded_nearest(monkeypatch)
    settings = judge.JudgeSettings(n_per_genre=2, seed=0, pretrained="", render=audio.Render(n_iter=2, inverse="pinv"))
    emb = judge.embedding_model(mel_classifier["model"])
    out = judge.judge_generated(
        trained["model"], s, sp, emb, settings, learnt_from=(trained["train_store"], trained["train_rows"])
    )
    assert calls, "no nearest-slice distance was measured"
    train_songs = set(s.manifest.track_id.iloc[sp.rows(s.manifest, "train")])
    for store_used, rows in calls:
        assert store_used is w
        np.testing.assert_array_equal(np.sort(rows), np.sort(trained["train_rows"]))
        assert set(w.manifest.track_id.iloc[rows]) <= train_songs  # windows of training songs only
    summary = judge.summary_table(out["judged"])
    assert list(summary.index) == list(judge.SETS)
    # the VAE's spectrograms: the same figure as measured here by hand against the windows it learnt from
    gen_x, _ = judge.sample_per_genre(trained["model"], 2, seed=0)
    by_hand = float(np.median(judge.nearest_db(gen_x, w, trained["train_rows"])))
    assert summary.loc[judge.SETS[1], "nearest training slice, dB"] == pytest.approx(by_hand, rel=1e-5)
    assert out["n_per_genre"] == 2 and out["test"][0].shape[0] == len(out["test_rows"])
    assert "off" in out["pretrained"]  # PRETRAINED="" skips musicnn and says so


def test_judge_generated_without_windows_uses_the_training_slices(mel_store, mel_classifier, monkeypatch):
    s, _ = mel_store
    sp = mel_classifier["split"]
    model = vae.build_vae(s.params.shape, vae.VAESpec(latent_dim=2, filters=(4, 4, 8, 8)), s.labels, -40.0, 15.0)
    calls = _recorded_nearest(monkeypatch)
    settings = judge.JudgeSettings(n_per_genre=1, pretrained="", render=audio.Render(n_iter=2, inverse="pinv"))
    out = judge.judge_generated(model, s, sp, judge.embedding_model(mel_classifier["model"]), settings)
    assert calls and all(st is s for st, _ in calls)
    for _, rows in calls:
        np.testing.assert_array_equal(np.sort(rows), np.sort(sp.rows(s.manifest, "train")))
    judged = out["judged"]
    assert set(judged.set) == set(judge.SETS) and (judged[judged.genre == "all"]["n"] > 0).all()
