"""Tests of the embedded synthetic GTZAN (gtzan_utils.data.synth)."""

import json
import os

import numpy as np
import pytest
import soundfile as sf

from gtzan_utils.base.constants import GENRES, SR
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.data.synth import GENERATOR_VERSION, make_synthetic_gtzan, synth_clip


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return make_synthetic_gtzan(root, per_genre=2, seconds=6, progress=False)


def _wavs(out):
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))


def test_layout_and_names(small):
    assert small.name == "genres"
    assert _wavs(small) == [f"{g}/{g}.{i:05d}.wav" for g in GENRES for i in range(2)]
    assert len(_wavs(small)) == 20
    for path in small.rglob("*.wav"):
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (SR, 1, "PCM_16", "WAV")
        assert info.frames == 6 * SR
    assert not [p for p in small.rglob("*") if p.name.endswith(".tmp")]
    meta = json.loads((small / "SYNTH.json").read_text())
    assert meta["per_genre"] == 2 and meta["seconds"] == 6 and meta["seed"] == 0
    assert meta["version"] == GENERATOR_VERSION and meta["complete"] is True and meta["genres"] == list(GENRES)


def test_files_hold_synth_clip(small):
    y, sr = sf.read(str(small / "jazz" / "jazz.00001.wav"), dtype="float32")
    assert sr == SR
    np.testing.assert_allclose(y, synth_clip("jazz", 1, seconds=6), atol=1.5 / 32768)


@pytest.mark.parametrize("genre", GENRES)
def test_clip_is_sane(genre):
    y = synth_clip(genre, 3, seconds=2.5)
    assert y.dtype == np.float32 and y.shape == (round(2.5 * SR),)
    assert np.isfinite(y).all()
    assert 0.7 < np.abs(y).max() <= 1.0
    assert y.std() > 0.01  # not silent


def test_odd_lengths_and_rates():
    assert synth_clip("blues", 0, seconds=0.01).shape == (round(0.01 * SR),)
    assert synth_clip("metal", 0, seconds=1.23, sr=16000).shape == (round(1.23 * 16000),)


def test_deterministic():
    a = synth_clip("reggae", 4, seconds=3, seed=7)
    np.testing.assert_array_equal(a, synth_clip("reggae", 4, seconds=3, seed=7))
    assert not np.array_equal(a, synth_clip("reggae", 4, seconds=3, seed=8))
    assert not np.array_equal(a, synth_clip("reggae", 5, seconds=3, seed=7))


def test_rerun_is_idempotent(tmp_path):
    out = make_synthetic_gtzan(tmp_path, per_genre=2, seconds=1, genres=("blues", "jazz"), progress=False)
    old = 1_000_000_000  # backdate every file: a rewrite would give it a fresh mtime
    for p in out.rglob("*.wav"):
        os.utime(p, (old, old))
    assert make_synthetic_gtzan(tmp_path, per_genre=2, seconds=1, genres=("blues", "jazz"), progress=False) == out
    assert all(p.stat().st_mtime == old for p in out.rglob("*.wav"))
    # a truncated file is rewritten, the others are kept
    bad = out / "jazz" / "jazz.00001.wav"
    bad.write_bytes(bad.read_bytes()[:100])
    make_synthetic_gtzan(tmp_path, per_genre=2, seconds=1, genres=("blues", "jazz"), progress=False)
    assert sf.info(str(bad)).frames == SR
    assert sum(p.stat().st_mtime == old for p in out.rglob("*.wav")) == 3


def test_other_arguments_regenerate(tmp_path):
    out = make_synthetic_gtzan(tmp_path, per_genre=2, seconds=1, genres=("pop",), progress=False)
    before, _ = sf.read(str(out / "pop" / "pop.00000.wav"))
    make_synthetic_gtzan(tmp_path, per_genre=1, seconds=1, seed=1, genres=("pop",), progress=False)
    after, _ = sf.read(str(out / "pop" / "pop.00000.wav"), dtype="float32")
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, synth_clip("pop", 0, seconds=1, seed=1), atol=1.5 / 32768)
    assert _wavs(out) == ["pop/pop.00000.wav"]  # the clip outside the new set is gone
    meta = json.loads((out / "SYNTH.json").read_text())
    assert (meta["seed"], meta["per_genre"]) == (1, 1)


def test_parallel_matches_serial(tmp_path):
    out = make_synthetic_gtzan(tmp_path, per_genre=2, seconds=1, genres=("rock", "disco"), n_jobs=2, progress=False)
    assert len(_wavs(out)) == 4
    y, _ = sf.read(str(out / "disco" / "disco.00001.wav"), dtype="float32")
    np.testing.assert_allclose(y, synth_clip("disco", 1, seconds=1), atol=1.5 / 32768)


def test_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "genres" / "blues").mkdir(parents=True)
    (tmp_path / "genres" / "blues" / "blues.00000.au").write_bytes(b"real data")
    with pytest.raises(GtzanError, match="SYNTH.json"):
        make_synthetic_gtzan(tmp_path, per_genre=1, seconds=1, progress=False)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(per_genre=0),
        dict(per_genre=2.5),
        dict(seconds=0),
        dict(seconds=-1),
        dict(seconds=float("nan")),
        dict(genres=("blues", "polka")),
        dict(genres=()),
        dict(seed=-1),
        dict(n_jobs=0),
    ],
)
def test_bad_arguments(tmp_path, kwargs):
    with pytest.raises(GtzanError):
        make_synthetic_gtzan(tmp_path, **{"per_genre": 1, "seconds": 1, "progress": False, **kwargs})
    assert not (tmp_path / "genres").exists()


@pytest.mark.parametrize("args", [("polka", 0), ("blues", -1), ("blues", 0, 0.0), ("blues", 0, 1.0, -3)])
def test_bad_clip_arguments(args):
    with pytest.raises(GtzanError):
        synth_clip(*args)


@pytest.mark.slow
def test_learnable_but_not_trivial():
    """MFCC mean/std + logistic regression, 5-fold over clips (one clip = one song): well above chance
    (0.1), below perfect."""
    import librosa
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    per_genre, feats = 20, []
    for genre in GENRES:
        for i in range(per_genre):
            m = librosa.feature.mfcc(y=synth_clip(genre, i, seconds=10), sr=SR, n_mfcc=13)
            feats.append(np.concatenate([m.mean(axis=1), m.std(axis=1)]))
    labels = np.repeat(np.arange(len(GENRES)), per_genre)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    acc = cross_val_score(model, np.array(feats), labels, cv=StratifiedKFold(5, shuffle=True, random_state=0))
    assert 0.3 < acc.mean() < 1.0, acc
