"""gtzan predict: any readable file, any length, rate or channels; bad files reported and skipped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

keras = pytest.importorskip("keras")

from conftest import SR, tone  # noqa: E402

from gtzan_utils import predict  # noqa: E402
from gtzan_utils.errors import GtzanError  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(mel_classifier):
    return Path(mel_classifier["out_dir"])


def test_a_model_folder_carries_its_feature_parameters(model_dir, mel_store):
    s, _ = mel_store
    model, params, labels = predict.load_classifier(model_dir)
    assert params == s.params and labels == s.labels
    assert predict.load_classifier(model_dir / "model.keras")[1] == s.params


def test_any_rate_channels_and_length(model_dir, tmp_path):
    model, params, labels = predict.load_classifier(model_dir)
    stereo = tmp_path / "stereo44k.flac"
    sf.write(stereo, tone(3.5, 330, sr=44100, channels=2), 44100)
    r = predict.predict_file(model, params, labels, stereo)
    assert r["n_slices"] == 3  # 1-s slices of a 3.5-s file (the partial fourth is dropped)
    assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert r["genre"] == max(r["probabilities"], key=r["probabilities"].get)
    long = tmp_path / "long.wav"
    sf.write(long, tone(14.0, 220), SR)
    assert predict.predict_file(model, params, labels, long)["n_slices"] == 14  # all of it, not n_slices of the store
    short = tmp_path / "short.wav"
    sf.write(short, tone(0.3, 220), SR)
    with pytest.raises(GtzanError, match="too short"):
        predict.predict_file(model, params, labels, short)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), SR)  # a valid header and no samples
    with pytest.raises(GtzanError, match="no audio"):
        predict.predict_file(model, params, labels, empty)
    top = predict.top_k(r, 3)
    assert len(top) == 3 and top.probability.is_monotonic_decreasing


def test_missing_model_or_parameters_say_what_to_do(model_dir, tmp_path):
    with pytest.raises(GtzanError, match="not found"):
        predict.load_classifier(tmp_path / "nope.keras")
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "model.keras").write_bytes((model_dir / "model.keras").read_bytes())
    with pytest.raises(GtzanError, match="features.json"):
        predict.load_classifier(lone)


def test_cli_predicts_the_real_samples_and_skips_a_corrupt_file(model_dir, samples_dir, tmp_path):
    real = sorted(samples_dir.glob("genres/*/*.au"))[:2] + sorted(samples_dir.glob("Data/genres_original/*/*.wav"))[:2]
    assert len(real) == 4
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really a wave file")
    files = [str(real[0]), str(corrupt), *map(str, real[1:])]
    cmd = [sys.executable, "-m", "gtzan_utils", "predict", *files, "--model", str(model_dir)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr  # some files skipped
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 4 and all("%" in line and "slices" in line for line in lines)
    assert "corrupt.wav" in r.stderr and "Traceback" not in r.stderr
    j = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300)
    doc = json.loads(j.stdout)
    assert len(doc["predictions"]) == 4 and doc["skipped"][0]["file"] == str(corrupt)
    assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-4 for p in doc["predictions"])
    assert all(p["n_slices"] == 30 for p in doc["predictions"])  # 30-s GTZAN clips, 1-s slices
    none = subprocess.run(
        cmd[:4] + [str(corrupt), "--model", str(model_dir)], capture_output=True, text=True, timeout=300
    )
    assert none.returncode == 1


def test_probability_table_has_a_row_per_file(model_dir, tmp_path):
    model, params, labels = predict.load_classifier(model_dir)
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"t{i}.wav")
        sf.write(paths[-1], tone(2.0, 200 + 100 * i), SR)
    done, failed = predict.predict_files(model, params, labels, paths + [tmp_path / "missing.wav"])
    table = predict.probability_table(done)
    assert list(table.file) == ["t0.wav", "t1.wav"] and len(failed) == 1
    np.testing.assert_allclose(table[labels].sum(axis=1), 1.0, atol=1e-4)


def test_cli_skips_damaged_audio_naming_the_reason(model_dir, tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, tone(2.0, 300), SR)
    nan = tone(2.0, 300, sr=44100)
    nan[500] = np.nan
    sf.write(tmp_path / "nan44k.wav", nan, 44100, subtype="FLOAT")  # NaN, and a rate that needs resampling
    sf.write(tmp_path / "silent.wav", np.zeros(2 * SR, np.float32), SR)
    files = [str(tmp_path / n) for n in ("nan44k.wav", "good.wav", "silent.wav")]
    r = subprocess.run(
        [sys.executable, "-m", "gtzan_utils", "predict", *files, "--model", str(model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2, r.stderr  # some files skipped, the others predicted
    assert "Traceback" not in r.stderr
    assert len(r.stdout.strip().splitlines()) == 1 and "good.wav (2 slices)" in r.stdout
    skipped = [line for line in r.stderr.splitlines() if line.startswith("gtzan predict: skipped")]
    assert len(skipped) == 2
    assert "nan44k.wav" in skipped[0] and "1 non-finite samples (NaN/inf)" in skipped[0]
    assert "silent.wav" in skipped[1] and "all silent" in skipped[1]


# trains models or runs TensorFlow graphs: not in `make test-fast`
pytestmark = pytest.mark.slow
