"""musicnn rebuilt in Keras 3: equivalence with the original TF1 graphs on real clips, tag sanity, the float32 log,
the musicnn store kind, embeddings, a training step of each new row (musicnn head, baseline, probe), predict.
No network access: every socket connection to a non-loopback address fails in this module."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from conftest import write_dataset  # noqa: E402

from gtzan_utils.base.errors import GtzanError  # noqa: E402
from gtzan_utils.classify import baseline, evaluate, experiment, imagenet, models, pretrained
from gtzan_utils.classify.settings import TrainSettings  # noqa: E402
from gtzan_utils.data import dataset
from gtzan_utils.features import splits, store  # noqa: E402
from gtzan_utils.features.extract import FeatureParams, compute_song, musicnn_log_mel  # noqa: E402

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent.parent / "shared" / "gtzan_samples"
try:
    pretrained.package_dir()
    HAVE_MUSICNN = True
except GtzanError:
    HAVE_MUSICNN = False
needs_weights = pytest.mark.skipif(
    not HAVE_MUSICNN, reason="musicnn weights absent: pip install --no-deps musicnn==0.1.0"
)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    real = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise AssertionError(f"network access attempted: {address}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def _real_clip(samples_dir, genre):
    y, _ = dataset.read_audio(samples_dir / "genres" / genre / f"{genre}.00000.au", sr=22050)
    return y


# -- the package: found, never imported -------------------------------------------------------------------
@needs_weights
def test_package_is_located_without_being_imported():
    for name in [m for m in sys.modules if m == "musicnn" or m.startswith("musicnn.")]:
        del sys.modules[name]
    d = pretrained.package_dir()
    assert (d / "MSD_musicnn" / ".index").exists()
    assert "musicnn" not in sys.modules  # find_spec did not execute the package


def test_missing_package_names_the_pip_command(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(GtzanError, match="pip install --no-deps musicnn==0.1.0"):
        pretrained.load_backbone("MTT_vgg")
    with pytest.raises(GtzanError, match="unknown musicnn checkpoint"):
        pretrained.checkpoint_dir("MSD_big")


@needs_weights
def test_checkpoint_variables_and_parameter_count():
    v = pretrained.read_checkpoint("MSD_musicnn")
    assert len(v) == 64 and sum(a.size for a in v.values()) == 792_079
    assert v["conv2d_5/kernel"].shape == (7, 561, 1, 64)
    m = pretrained.load_backbone("MSD_musicnn")
    assert m.count_params() == 792_079


# -- the input: float32 log, not the float16 recipe ---------------------------------------------------------
def _float16_recipe(y, sr):
    """musicnn's own extractor: mel power cast to float16 before log10(10000·S + 1)."""
    import librosa

    y16 = librosa.resample(np.asarray(y, np.float32), orig_sr=sr, target_sr=16000)
    S = librosa.feature.melspectrogram(y=y16, sr=16000, n_fft=512, hop_length=256, n_mels=96).T.astype(np.float16)
    with np.errstate(over="ignore"):
        return np.log10(10000 * S + 1)


def _input_is_sound(feats: np.ndarray) -> bool:
    """What the backbone needs: finite float32 log-mel, equal to the float64 computation of the same formula."""
    return feats.dtype == np.float32 and bool(np.isfinite(feats).all())


def test_input_features_float32_and_batches():
    sr = 22050
    t = np.arange(3 * sr) / sr
    loud = (0.9 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)  # a loud tone: mel power far above 6.55
    f = pretrained.input_features(loud, sr)
    assert f.shape == (1 + 3 * 16000 // 256, 96)
    assert _input_is_sound(f)
    assert not np.isfinite(_float16_recipe(loud, sr)).all()  # the float16 recipe overflows on the same clip
    assert not _input_is_sound(_float16_recipe(loud, sr).astype(np.float32))  # ... and the check catches it
    batch = pretrained.input_features(np.stack([loud, 0.5 * loud]), sr)
    assert batch.shape == (2, *f.shape) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0], f, rtol=1e-5, atol=1e-5)


@needs_weights
def test_float32_log_keeps_real_songs_apart_where_float16_collapses(samples_dir):
    """Fails with the float16 recipe: on real music it overflows to inf and every clip gets the same tags."""
    model = pretrained.load_backbone("MSD_musicnn")
    clips = [_real_clip(samples_dir, g)[: 22050 * 10] for g in ("jazz", "pop", "classical")]
    ours = np.stack([pretrained.input_features(y, 22050) for y in clips])
    assert _input_is_sound(ours)
    tags_ours = model.predict(ours, verbose=0)[0]
    assert len({int(np.argmax(t)) for t in tags_ours}) == 3  # three genres, three different top tags
    f16 = np.stack([_float16_recipe(y, 22050) for y in clips]).astype(np.float32)
    assert not np.isfinite(f16).all()  # the recipe overflows on real music
    tags_f16 = np.nan_to_num(model.predict(np.nan_to_num(f16, posinf=np.finfo(np.float32).max), verbose=0)[0])
    assert np.abs(tags_f16 - tags_f16[0]).max() < np.abs(tags_ours - tags_ours[0]).max()


# -- equivalence with the original TF1 graph ---------------------------------------------------------------
@pytest.fixture(scope="module")
def tf1_reference(tmp_path_factory):
    """The original TF1 graphs of all four checkpoints run once, in a subprocess, on 3-s patches of real clips."""
    d = SAMPLES / "genres"
    if not d.is_dir():
        pytest.skip("../shared/gtzan_samples is absent")
    tmp = tmp_path_factory.mktemp("tf1")
    feats = [
        pretrained.input_features(dataset.read_audio(d / g / f"{g}.00000.au")[0], 22050)
        for g in ("jazz", "metal", "classical", "pop")
    ]
    x = np.stack([f[:187] for f in feats] + [f[900:1087] for f in feats]).astype(np.float32)
    np.save(tmp / "x.npy", x)
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "tf1_musicnn_reference.py"),
            str(tmp / "x.npy"),
            str(tmp),
            *[str(pretrained.checkpoint_dir(c)) for c in pretrained.CHECKPOINTS],
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return x, {c: np.load(tmp / f"{c}.npz") for c in pretrained.CHECKPOINTS}


@needs_weights
@pytest.mark.slow
@pytest.mark.parametrize("checkpoint", pretrained.CHECKPOINTS)
def test_keras_rebuild_matches_the_tf1_graph_on_real_clips(checkpoint, tf1_reference):
    x, refs = tf1_reference
    ref = refs[checkpoint]
    tags, emb = pretrained.load_backbone(checkpoint).predict(x, verbose=0)
    ref_emb = ref["pooled"] if pretrained.is_vgg(checkpoint) else ref["penultimate"]
    assert tags.shape == (8, 50) and emb.shape == ref_emb.shape
    rel_tags = np.abs(tags - ref["tags"]).max() / np.abs(ref["tags"]).max()
    rel_emb = np.abs(emb - ref_emb).max() / np.abs(ref_emb).max()
    assert rel_tags <= 1e-4 and rel_emb <= 1e-4, (rel_tags, rel_emb)


@needs_weights
def test_tags_of_real_clips(samples_dir):
    first = {
        g: pretrained.top_tags(_real_clip(samples_dir, g), 22050, "MSD_musicnn", k=2)[0][0]
        for g in ("jazz", "pop", "metal")
    }
    assert first["jazz"] == "jazz" and first["pop"] == "pop" and first["metal"] in ("metal", "heavy metal")
    mtt = pretrained.top_tags(_real_clip(samples_dir, "classical"), 22050, "MTT_musicnn", k=3)
    assert mtt[0][0] == "classical" and mtt[0][1] > 0.5 and len(mtt) == 3


@needs_weights
def test_embed_audio_shapes_and_clip_lists():
    sr = 22050
    rng = np.random.default_rng(0)
    clips = (0.1 * rng.standard_normal((3, 4 * sr))).astype(np.float32)
    e = pretrained.embed_audio(clips, sr)
    assert e.shape == (3, 200) and e.dtype == np.float32
    mixed = pretrained.embed_audio([clips[0], clips[1][: 3 * sr]], sr)  # a list of unequal lengths
    np.testing.assert_allclose(mixed[0], e[0], rtol=1e-4, atol=1e-4)
    assert pretrained.embed_audio(clips[:1], sr, "MSD_vgg").shape == (1, 256)


# -- the store kind, embeddings, the new rows ----------------------------------------------------------------
@pytest.fixture(scope="module")
def musicnn_stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    write_dataset(root / "genres", genres=("blues", "classical", "rock"), per_genre=4, seconds=6.5)
    tracks = dataset.find_dataset(root / "genres")
    base = FeatureParams(slice_seconds=3.0, n_slices=2)
    stores = store.featurize_all(tracks, ("mel", "musicnn"), root / "stores", base=base, n_jobs=1, progress=False)
    split = splits.make_split("kfold", tracks, seed=0, k=2)
    return stores, tracks, split, root


def test_musicnn_kind_is_16k_and_sliced_like_the_others(musicnn_stores):
    stores, tracks, _, _ = musicnn_stores
    m, mel = stores["musicnn"], stores["mel"]
    assert m.params.sr == 16000 and m.params.n_fft == 512 and m.params.hop_length == 256
    assert m.params.shape == (96, 1 + 3 * 16000 // 256) and mel.params.sr == 22050
    assert list(m.manifest.track_id) == list(mel.manifest.track_id)  # same slices, same songs: same splits
    y16, _ = dataset.read_audio(tracks.path[0], sr=16000)  # the store resampled each song once to 16 kHz
    want = np.swapaxes(pretrained.input_features(y16[: 3 * 16000], 16000), 0, 1)
    np.testing.assert_allclose(m.read([0])[0], want, rtol=2e-3, atol=2e-3)
    y22, _ = dataset.read_audio(tracks.path[0])  # the other kinds are unchanged by the second rate
    np.testing.assert_allclose(mel.read([0, 1]), compute_song(y22, mel.params), rtol=1e-3, atol=0.05)
    np.testing.assert_allclose(musicnn_log_mel(y16[: 3 * 16000], m.params), want, rtol=1e-6)


@needs_weights
def test_store_embeddings_are_cached_by_checkpoint_and_weights(musicnn_stores):
    stores, _, _, _ = musicnn_stores
    s = stores["musicnn"]
    mapped = pretrained.store_embeddings(s, "MSD_musicnn", progress=False)
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable  # read from disk, not held in memory
    e = np.array(mapped)
    assert e.shape == (len(s), 200)
    cached = list(s.path.glob("embeddings-MSD_musicnn-*.npy"))
    assert len(cached) == 1 and pretrained.weights_key("MSD_musicnn") in cached[0].name
    # computed in shards through the engine (here: this process), then streamed into the one file
    record = json.loads(cached[0].with_suffix(".json").read_text())
    assert record["rows"] == len(s) and record["workers"] == [f"{socket.gethostname()}:{os.getpid()}"]
    assert not list(s.path.glob("*.shards"))
    direct = pretrained.forward(np.swapaxes(s.read([2]), 1, 2), "MSD_musicnn")[1]
    np.testing.assert_allclose(e[2], direct[0], rtol=1e-4, atol=1e-4)
    np.save(cached[0], e + 1)  # a second call loads the file, it does not recompute
    np.testing.assert_allclose(pretrained.store_embeddings(s, "MSD_musicnn", progress=False), e + 1)
    np.save(cached[0], e)
    with pytest.raises(GtzanError, match="musicnn"):
        pretrained.store_embeddings(stores["mel"], "MSD_musicnn")


@needs_weights
def test_a_killed_embedding_pass_resumes_from_its_shards(musicnn_stores, tmp_path, monkeypatch):
    """Shards of 5 slices; the pass dies in its third shard: a rerun computes only the shards without a marker and
    gives the embeddings of one uninterrupted pass."""
    import shutil

    stores, _, _, _ = musicnn_stores
    s = store.FeatureStore(shutil.copytree(stores["musicnn"].path, tmp_path / stores["musicnn"].path.name))
    for f in s.path.glob("embeddings-*"):
        f.unlink()
    monkeypatch.setattr(pretrained, "EMBED_ROWS", 5)
    real, calls, dying = pretrained.forward, [], [True]

    def dies_third(x, checkpoint, batch_size=32):
        calls.append(len(x))
        if len(calls) == 3 and dying:
            dying.pop()
            raise RuntimeError("the machine stopped")
        return real(x, checkpoint, batch_size)

    monkeypatch.setattr(pretrained, "forward", dies_third)
    with pytest.raises(RuntimeError, match="the machine stopped"):
        pretrained.store_embeddings(s, "MSD_musicnn", progress=False)
    (folder,) = s.path.glob("embeddings-MSD_musicnn-*.shards")
    assert sorted(f.name for f in folder.glob("*.json")) == ["000000000.json", "000000005.json"]
    calls.clear()
    e = np.array(pretrained.store_embeddings(s, "MSD_musicnn", progress=False))
    assert calls == [5, 5, 4] and len(s) == 24  # rows 10-24 only
    np.testing.assert_allclose(e, np.array(pretrained.store_embeddings(stores["musicnn"], "MSD_musicnn")), atol=1e-4)


@needs_weights
def test_baseline_and_probe_write_metrics_like_every_row(musicnn_stores, tmp_path):
    stores, _, split, _ = musicnn_stores
    X = baseline.mfcc_stats(stores["mel"])
    assert X.shape == (len(stores["mel"]), 40) and np.isfinite(X).all()
    b = baseline.run_baseline(stores["mel"], split, tmp_path)
    doc = json.loads((tmp_path / f"baseline_lr-mel-{split.name}" / "metrics.json").read_text())
    assert doc["model"] == "baseline_lr" and doc["protocol"]["folds"] == 2 and doc["protocol"]["fold"] == "all"
    assert doc["protocol"]["n_test_songs"] == 12 and "accuracy_mean" in doc["results"]["song"]
    assert (tmp_path / f"baseline_lr-mel-{split.name}" / "fold_1" / "metrics.json").exists()
    assert len(b["folds"]) == 2 and b["folds"][0]["song"]["n"] == 6
    assert b["results"]["pooled_folds"] == 2 and b["results"]["song"]["n"] == 12  # every song tested once
    assert doc["results"]["song"]["n"] == 12 and "accuracy" in doc["validation"]["song"]
    p = baseline.run_probe(stores["musicnn"], "MSD_musicnn", split, tmp_path)
    pdoc = p["metrics"]
    assert pdoc["model"] == "probe_msd_musicnn" and pdoc["protocol"]["pretrained"] == "MSD_musicnn"
    assert pdoc["protocol"]["backbone"] == "MSD_musicnn" and pdoc["kind"] == "musicnn"
    # tones a few hundred Hz apart per genre: the embeddings separate them
    assert pdoc["results"]["song"]["accuracy_mean"] >= 0.5


@needs_weights
@pytest.mark.slow
def test_musicnn_head_trains_saves_and_predicts(musicnn_stores, tmp_path):
    from gtzan_utils.classify import predict

    stores, tracks, split, _ = musicnn_stores
    s = stores["musicnn"]
    r = experiment.run_experiment(
        "msd_musicnn",
        s,
        split,
        tmp_path / "run",
        TrainSettings(epochs=1, batch_size=8, patience=1, weights="MSD_musicnn", train_base=False),
    )
    proto = r["metrics"]["protocol"]
    assert proto["pretrained"] == "MSD_musicnn" and proto["base"] == "frozen" and proto["backbone"] == "MSD_musicnn"
    # the frozen head trained on the cached embeddings; the saved classifier (backbone + that head) takes store
    # slices and predicts what the scores were computed from
    assert r["metrics"]["config"]["head_on"] == "cached embeddings"
    pred = r["results"]["_predictions"]
    full = evaluate.predict_rows(r["model"], s, pred["rows"])
    np.testing.assert_allclose(full, pred["probs"], rtol=1e-4, atol=1e-5)
    assert r["history"]["loss"].notna().all() and len(r["history"]) == 1
    base = models.base_of(r["model"])
    ref = pretrained.load_backbone("MSD_musicnn")
    np.testing.assert_array_equal(base.get_layer("conv2d").get_weights()[0], ref.get_layer("conv2d").get_weights()[0])
    model, params, labels = predict.load_classifier(tmp_path / "run")
    assert params.kind == "musicnn" and labels == s.labels
    out = predict.predict_file(model, params, labels, tracks.path[0])
    assert out["n_slices"] == 2 and abs(sum(out["probabilities"].values()) - 1) < 1e-4
    with pytest.raises(GtzanError, match="whole"):
        models.build_model("msd_musicnn", s.params.shape, "musicnn", input_size=(32, 96))


def test_imagenet_inputs_are_scaled_as_their_weights_expect():
    mob = models.build_model("mobilenetv2", (32, 40, 3), "mfcc_image", weights=None, train_base=False)
    assert mob.get_layer("to_pixels").scale == 255.0
    x = np.full((1, 32, 40, 3), 0.5, np.float32)
    sub = keras.Model(mob.input, mob.get_layer("imagenet_preprocess").output)
    np.testing.assert_allclose(sub.predict(x, verbose=0), 0.5 * 255 / 127.5 - 1, atol=1e-5)  # tf mode: [-1, 1]
    mean, var = np.zeros((32, 1), np.float32), np.ones((32, 1), np.float32)
    dn = models.build_model("densenet121", (32, 40), "mel", weights=None, train_base=False, mean=mean, variance=var)
    sub = keras.Model(dn.input, dn.get_layer("imagenet_preprocess").output)
    z = np.zeros((1, 32, 40), np.float32)  # z = 0 → pixel 127.5 → (127.5/255 − mean) / std per channel
    want = (0.5 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(sub.predict(z, verbose=0)[0, 0, 0], want, atol=1e-4)


def test_cached_imagenet_weights_or_not_run(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert "not cached" in models.not_run_reason("densenet121", "cached")
    assert (
        models.not_run_reason("densenet121", "imagenet") is None
        and models.not_run_reason("msd_musicnn", "cached") is None
    )
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / imagenet.IMAGENET_FILES["densenet121"]).write_bytes(b"x")
    assert models.not_run_reason("densenet121", "cached") is None


# trains models or runs TensorFlow graphs: not in `make test-fast`
pytestmark = pytest.mark.slow


@needs_weights
def test_judge_reads_real_slices_embeddings_from_the_musicnn_store(musicnn_stores):
    from types import SimpleNamespace

    from gtzan_utils.generate import judge

    stores, _, _, _ = musicnn_stores
    mel, music = stores["mel"], stores["musicnn"]
    view = judge.cached_real_embeddings(stores, mel, "MSD_musicnn")
    assert view is not None and len(view) == len(mel)
    np.testing.assert_array_equal(view.read([3, 0]), pretrained.store_embeddings(music, "MSD_musicnn")[[3, 0]])
    # the same slices as the judge's own path (the slice's audio re-read and embedded): one song resampled once
    # against one slice resampled, so equal up to the resampling at the slice's edges
    own = judge.embed_store_rows(mel, [3], lambda a: judge.musicnn_embed(a, mel.params.sr))
    assert np.corrcoef(own[0], view.read([3])[0])[0, 1] > 0.99
    # another store's slices (here: the rows in another order) or no musicnn store: the judge embeds audio itself
    shuffled = SimpleNamespace(manifest=mel.manifest.iloc[::-1])
    assert judge.cached_real_embeddings(stores, shuffled, "MSD_musicnn") is None
    assert judge.cached_real_embeddings({"mel": mel}, mel, "MSD_musicnn") is None
    assert judge.cached_real_embeddings(stores, mel, "") is None
