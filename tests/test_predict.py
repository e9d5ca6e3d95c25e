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

from gtzan_utils.base.errors import GtzanError  # noqa: E402
from gtzan_utils.classify import predict  # noqa: E402


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


def test_cli_predicts_the_real_samples_and_skips_a_corrupt_file(model_dir, samples_dir, tmp_path, capsys):
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
    assert "absl::InitializeLog" not in r.stderr and "cudart_stub" not in r.stderr  # TensorFlow's start-up: filtered
    from gtzan_utils.run import cli  # in-process from here: the command line itself was run above

    capsys.readouterr()
    assert cli.main([*cmd[3:], "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["predictions"]) == 4 and doc["skipped"][0]["file"] == str(corrupt)
    assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-4 for p in doc["predictions"])
    assert all(p["n_slices"] == 30 for p in doc["predictions"])  # 30-s GTZAN clips, 1-s slices
    assert cli.main(["predict", str(corrupt), "--model", str(model_dir)]) == 1  # nothing readable at all


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


def test_files_that_are_not_a_classifier_are_refused_in_one_line(model_dir, tmp_path):
    from gtzan_utils.run import cli

    folder = tmp_path / "run" / "exp"
    folder.mkdir(parents=True)
    for name in ("model.keras", "features.json"):
        (folder / name).write_bytes((model_dir / name).read_bytes())
    head = keras.Sequential([keras.Input((200,)), keras.layers.Dense(3, activation="softmax")])
    head.save(folder / "best.keras")  # what 0.3's runs left beside a musicnn head's model.keras
    with pytest.raises(GtzanError, match="training checkpoint.*model.keras"):
        predict.load_classifier(folder / "best.keras")
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "features.json").write_bytes((model_dir / "features.json").read_bytes())
    head.save(lone / "model.keras")
    with pytest.raises(GtzanError, match=r"takes inputs of shape \(200,\)"):
        predict.load_classifier(lone)
    vae_dir = tmp_path / "vae"
    vae_dir.mkdir()
    (vae_dir / "vae.keras").write_bytes(b"not loaded: the name says what it is")
    with pytest.raises(GtzanError, match="gtzan generate"):
        predict.load_classifier(vae_dir / "vae.keras")
    song = tmp_path / "song.wav"
    sf.write(song, tone(2.0, 300), SR)
    for bad in (folder / "best.keras", lone, vae_dir / "vae.keras"):
        assert cli.main(["predict", str(song), "--model", str(bad)]) == 1  # one line on stderr, no traceback


def test_a_synthetic_model_given_real_music_says_so(model_dir, tmp_path, capsys):
    from gtzan_utils.data import dataset
    from gtzan_utils.run import cli

    synth = tmp_path / "synth" / "genres"
    (synth / "jazz").mkdir(parents=True)
    (synth / "SYNTH.json").write_text("{}")
    sf.write(synth / "jazz" / "jazz.00000.wav", tone(2.0, 300), SR)
    real = tmp_path / "mine.wav"
    sf.write(real, tone(2.0, 300), SR)
    assert dataset.dataset_source([synth / "jazz" / "jazz.00000.wav"]) == "synthetic"
    assert dataset.dataset_source([real]) == "folder"
    trained = {"source": "synthetic", "n_songs": 80, "n_dataset_songs": 100, "profile": "quick"}
    note = predict.domain_note(trained, [real])
    assert "synthetic set (80 songs, quick profile)" in note and "msd_musicnn" in note
    assert predict.domain_note(trained, [synth / "jazz" / "jazz.00000.wav"]) is None  # synthetic songs: fine
    assert predict.domain_note({**trained, "source": "folder"}, [real]) is None
    # the model folder records what it learnt from; a copy marked synthetic warns on the command line
    assert predict.trained_on_of(model_dir)["source"] == "folder"
    marked = tmp_path / "marked"
    marked.mkdir()
    (marked / "model.keras").write_bytes((model_dir / "model.keras").read_bytes())
    meta = json.loads((model_dir / "features.json").read_text())
    (marked / "features.json").write_text(json.dumps({**meta, "trained_on": trained}))
    assert cli.main(["predict", str(real), "--model", str(marked)]) == 0
    out = capsys.readouterr()
    assert out.err.count("\n") == 1 and "mean nothing for real music" in out.err
    line = out.out.strip()
    assert line.startswith("mine.wav (2 slices): ") and "%" in line
    uncertain = {"file": "x.wav", "n_slices": 1, "probabilities": {"a": 0.4, "b": 0.35, "c": 0.25}}
    assert predict.describe(uncertain).endswith("a 40%, b 35%, c 25% (low confidence)")


# trains models or runs TensorFlow graphs: not in `make test-fast`
pytestmark = pytest.mark.slow
