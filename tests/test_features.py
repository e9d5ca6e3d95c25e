"""Slicing, shapes and values of every kind; parameter identity."""

from __future__ import annotations

import json
import subprocess
import sys

import librosa
import numpy as np
import pytest
from conftest import SR, tone

from gtzan_utils.base.errors import GtzanError
from gtzan_utils.data import dataset
from gtzan_utils.features import extract
from gtzan_utils.features.extract import FeatureParams


@pytest.mark.parametrize(
    "kind,shape", [("mfcc", (13, 216)), ("mel", (128, 216)), ("mel3", (128, 500, 3)), ("mfcc_image", (64, 216, 3))]
)
def test_shapes_for_the_paper_slices(kind, shape):
    p = FeatureParams(kind=kind)
    assert p.shape == shape
    x = extract.compute_song(tone(30.0), p)
    assert x.shape == (6, *shape) and x.dtype == np.float32
    assert np.isfinite(x).all()


def test_values_follow_the_pitch_of_the_audio():
    """Not only shapes: the loudest mel band of a 440 Hz tone is the band of 440 Hz (in every mel3 channel
    too), and tones an octave apart give different MFCCs and MFCC images."""
    centres = librosa.mel_frequencies(n_mels=128, fmax=SR / 2)
    band = int(np.argmin(np.abs(centres - 440.0)))
    mel = extract.compute_song(tone(6.0, 440.0), FeatureParams(kind="mel", n_slices=1))
    assert abs(int(mel[0].mean(axis=1).argmax()) - band) <= 1
    mel3 = extract.compute_song(tone(6.0, 440.0), FeatureParams(kind="mel3", n_slices=1))
    for c in range(3):
        assert abs(int(mel3[0, :, :, c].mean(axis=1).argmax()) - band) <= 2
    for kind in ("mfcc", "mfcc_image"):
        p = FeatureParams(kind=kind, n_slices=1)
        low, high = (extract.compute_song(tone(6.0, f), p)[0] for f in (220.0, 880.0))
        assert np.abs(low - high).mean() > 0.05 * (np.abs(low).mean() + 1e-6)


def test_three_second_slices():
    p = FeatureParams(kind="mel3", slice_seconds=3.0, n_slices=10)
    assert p.shape == (128, 300, 3)
    assert extract.compute_song(tone(30.0), p).shape == (10, 128, 300, 3)


def test_short_clips_keep_whole_slices_only():
    p = FeatureParams(kind="mfcc")
    assert extract.slice_audio(tone(12.0), p).shape == (2, 5 * SR)
    assert extract.slice_audio(tone(4.0), p).shape == (0, 5 * SR)
    assert extract.compute_song(tone(4.0), p).shape == (0, 13, 216)
    # GTZAN clips of 29.93 s still give 6 slices: the last one is zero-padded (pad_seconds)
    sl = extract.slice_audio(tone(29.93), p)
    assert sl.shape == (6, 5 * SR) and np.all(sl[-1, -100:] == 0)
    assert extract.slice_audio(tone(29.5), p).shape[0] == 5


def test_slices_are_consecutive():
    y = np.arange(3 * SR * 2, dtype=np.float32)
    sl = extract.slice_audio(y, FeatureParams(slice_seconds=2.0, n_slices=3))
    np.testing.assert_array_equal(sl.ravel(), y)


def test_training_windows_overlap_and_cover_the_slices_span():
    y = np.arange(int(12.2 * SR), dtype=np.float32)
    base = FeatureParams(slice_seconds=2.0, n_slices=6)  # 12 s of consecutive slices
    w = extract.windows_of(base, 0.5)
    assert w.n_slices == 21 and w.hop_samples == SR // 2 and w.slice_samples == base.slice_samples
    win = extract.slice_audio(y, w)
    assert win.shape == (21, 2 * SR)
    for i in (0, 1, 20):  # window i starts i * 0.5 s in
        np.testing.assert_array_equal(win[i], y[i * SR // 2 : i * SR // 2 + 2 * SR])
    # every 4th window is one of the paper's slices: the same audio, hence the same features
    np.testing.assert_array_equal(win[::4], extract.slice_audio(y, base))
    short = extract.slice_audio(y[: int(4.1 * SR)], w)  # a short clip keeps its whole windows only
    assert short.shape[0] == 5
    assert extract.windows_of(base, 0) is base and extract.windows_of(base, 2.0) is base


def test_consecutive_slices_keep_their_store_key():
    """The key of hop 0 is computed without the windows' field, so it changes only when the feature version does
    (version 2, the sharded store, renamed every store on purpose: old ones are rebuilt, not misread)."""
    assert "hop_seconds" not in FeatureParams(kind="mel").to_dict()
    assert FeatureParams(kind="mel").key == "8a6741bc7d3b" and FeatureParams(kind="mfcc").key == "fafeb0dccb20"
    w = extract.windows_of(FeatureParams(kind="mel"), 1.0)
    assert w.key != FeatureParams(kind="mel").key and FeatureParams.from_dict(w.to_dict()) == w


def _real_clip(samples_dir):
    y, _ = dataset.read_audio(samples_dir / "genres" / "blues" / "blues.00000.au")
    return y


def test_log_mel_equals_librosa_on_real_clip(samples_dir):
    y = _real_clip(samples_dir)
    x = extract.compute_song(y, FeatureParams(kind="mel"))
    for i in (0, 5):
        seg = y[i * 5 * SR : (i + 1) * 5 * SR]
        ref = librosa.power_to_db(librosa.feature.melspectrogram(y=seg, sr=SR, n_fft=2048, hop_length=512, n_mels=128))
        np.testing.assert_allclose(x[i], ref, atol=1e-3)


def test_mfcc_equals_librosa_on_real_clip(samples_dir):
    y = _real_clip(samples_dir)
    x = extract.compute_song(y, FeatureParams(kind="mfcc"))
    ref = librosa.feature.mfcc(y=y[5 * SR : 10 * SR], sr=SR, n_mfcc=13)
    np.testing.assert_allclose(x[1], ref, rtol=1e-4, atol=1e-2)


def test_mel3_channels_match_their_resolutions(samples_dir):
    y = _real_clip(samples_dir)
    x = extract.compute_song(y, FeatureParams(kind="mel3"))
    seg = y[: 5 * SR]
    for c, (win, hop) in enumerate([(551, 220), (1102, 551), (2205, 1102)]):
        S = librosa.feature.melspectrogram(y=seg, sr=SR, n_fft=win, hop_length=hop, win_length=win, n_mels=128)
        ref = np.log(S + 1e-6)
        assert ref.shape[1] == 1 + 5 * SR // hop
        # end points survive the time resize; the middle is an interpolation of neighbouring frames
        np.testing.assert_allclose(x[0, :, 0, c], ref[:, 0], atol=1e-4)
        np.testing.assert_allclose(x[0, :, -1, c], ref[:, -1], atol=1e-4)
        assert abs(x[0, ..., c].mean() - ref.mean()) < 0.05 * abs(ref.mean()) + 0.05
    # the three channels differ (different resolutions), but describe the same sound
    assert not np.allclose(x[0, ..., 0], x[0, ..., 2])
    assert np.corrcoef(x[0, ..., 0].ravel(), x[0, ..., 2].ravel())[0, 1] > 0.8


def test_resize_time_is_linear():
    x = np.array([[0.0, 10.0, 20.0]])
    np.testing.assert_allclose(extract.resize_time(x, 5), [[0, 5, 10, 15, 20]])


def test_mfcc_image_is_rgb_in_unit_range():
    p = FeatureParams(kind="mfcc_image", image_height=32)
    x = extract.compute_song(tone(10.0), p)
    assert x.shape == (2, 32, 216, 3)
    assert x.min() >= 0 and x.max() <= 1
    assert x.std(axis=-1).mean() > 0.01  # colour, not grey


def test_params_key_is_stable_and_round_trips():
    p = FeatureParams(kind="mel3", slice_seconds=3.0, n_slices=10)
    q = FeatureParams.from_dict(json.loads(json.dumps(p.to_dict())))
    assert q == p and q.key == p.key
    assert FeatureParams(kind="mel").key != FeatureParams(kind="mfcc").key
    code = (
        "from gtzan_utils.features.extract import FeatureParams as F; "
        "print(F(kind='mel3', slice_seconds=3.0, n_slices=10).key)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == p.key  # no dependence on the process (hash randomisation)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "chroma"},
        {"slice_seconds": 0},
        {"n_slices": 0},
        {"image_height": 16},
        {"hop_seconds": -1},
        {"hop_seconds": 6},
    ],
)
def test_bad_parameters(kwargs):
    with pytest.raises(GtzanError):
        FeatureParams(**kwargs)
