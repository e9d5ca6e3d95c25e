"""Layout discovery, validation of broken files, download with hash checks, CLI errors."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import SR, tone, write_dataset

from gtzan_utils.base.errors import GtzanError
from gtzan_utils.data import dataset


# -- discovery ---------------------------------------------------------------------------------------
def test_original_layout(tiny_dataset):
    df = dataset.find_dataset(tiny_dataset)
    assert list(df.columns) == ["path", "genre", "track_id"]
    assert len(df) == 6
    assert df.track_id.tolist() == sorted(df.track_id)
    assert set(df.genre) == {"blues", "rock", "jazz"}
    assert all(t.startswith(g + ".") for t, g in zip(df.track_id, df.genre))


def test_kaggle_layout_ignores_images_and_csv(tmp_path):
    base = tmp_path / "Data"
    write_dataset(base / "genres_original", per_genre=2)
    (base / "images_original" / "blues").mkdir(parents=True)
    (base / "images_original" / "blues" / "blues00000.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (base / "features_30_sec.csv").write_text("filename,label\n")
    df = dataset.find_dataset(tmp_path)  # the parent of Data/ works too
    assert len(df) == 6
    assert all("genres_original" in p for p in df.path)


def test_real_samples_both_layouts(samples_dir):
    au = dataset.find_dataset(samples_dir / "genres")
    wav = dataset.find_dataset(samples_dir / "Data")
    assert len(au) == len(wav) == 10
    assert au.track_id.tolist() == wav.track_id.tolist()
    assert dataset.genre_labels(au) == list(dataset.GENRES)
    # both layouts under one folder are two datasets: the user is told to pick one
    with pytest.raises(GtzanError, match="more than one dataset"):
        dataset.find_dataset(samples_dir)
    y_au, _ = dataset.read_audio(au.path[0])
    y_wav, _ = dataset.read_audio(wav.path[0])
    np.testing.assert_array_equal(y_au, y_wav)


def test_missing_and_empty_folder(tmp_path):
    with pytest.raises(GtzanError, match="does not exist"):
        dataset.find_dataset(tmp_path / "nope")
    (tmp_path / "empty" / "blues").mkdir(parents=True)
    with pytest.raises(GtzanError, match="no audio files"):
        dataset.find_dataset(tmp_path / "empty")


def test_files_without_genre_folders(tmp_path):
    sf.write(tmp_path / "a.wav", tone(1.0), SR)
    with pytest.raises(GtzanError, match="one folder per genre"):
        dataset.find_dataset(tmp_path)


# -- validation ---------------------------------------------------------------------------------------
def test_validate_reports_each_problem(tmp_path):
    root = write_dataset(tmp_path / "genres", genres=("blues", "rock"), per_genre=1, seconds=6.0)
    (root / "blues" / "blues.00054.wav").write_bytes(b"not a RIFF file at all" * 10)  # corrupt
    (root / "blues" / "blues.00055.wav").write_bytes(b"")  # zero bytes
    sf.write(root / "rock" / "rock.00002.wav", tone(2.0), SR)  # too short
    sf.write(root / "rock" / "rock.00003.wav", tone(6.0, sr=44100, channels=2), 44100)  # stereo 44.1 kHz
    (root / "rock" / "cover.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # not audio: ignored
    df = dataset.find_dataset(root)
    assert "cover" not in " ".join(df.track_id)
    report = dataset.validate(df, progress=False)
    t = report.table.set_index("track_id")
    assert not t.loc["blues.00054", "usable"] and "unreadable" in t.loc["blues.00054", "note"]
    assert not t.loc["blues.00055", "usable"] and "unreadable" in t.loc["blues.00055", "note"]
    assert not t.loc["rock.00002", "usable"] and "too short" in t.loc["rock.00002", "note"]
    assert t.loc["rock.00003", "usable"]
    assert "resampled 44100->22050" in t.loc["rock.00003", "note"]
    assert "downmixed 2->1" in t.loc["rock.00003", "note"]
    assert t.loc["rock.00003", "seconds"] == pytest.approx(6.0, abs=0.01)
    assert sorted(report.usable.track_id) == ["blues.00000", "rock.00000", "rock.00003"]
    assert "blues.00054" in report.summary()
    saved = pd.read_csv(report.save(tmp_path / "report.csv"))
    assert len(saved) == 6


def _truncate(path, keep: float):
    """Cut a written file to ``keep`` of its bytes: its header still announces the whole length."""
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(int(size * keep))


def damaged_dataset(root, seconds: float = 6.0):
    """blues/rock clips of ``seconds`` s, and one of each kind of damage that still decodes."""
    write_dataset(root, genres=("blues", "rock"), per_genre=3, seconds=seconds)
    nan = tone(seconds)
    nan[1000:1010] = np.nan
    sf.write(root / "blues" / "blues.00010.wav", nan, SR, subtype="FLOAT")  # NaN samples
    inf = tone(seconds)
    inf[-5] = np.inf
    sf.write(root / "blues" / "blues.00011.au", inf, SR, subtype="FLOAT")  # inf samples
    sf.write(root / "rock" / "rock.00010.wav", np.zeros(int(seconds * SR), np.float32), SR)  # all silent
    sf.write(root / "rock" / "rock.00011.wav", tone(seconds / 3), SR)  # a third of the usual length
    sf.write(root / "rock" / "rock.00012.au", tone(seconds), SR, subtype="PCM_16")
    _truncate(root / "rock" / "rock.00012.au", 0.34)  # truncated: header says 6 s, data holds ~2 s
    sf.write(root / "blues" / "blues.00001.au", tone(seconds), SR)  # a second file of blues.00001
    return root


def test_validate_flags_audio_that_decodes_but_is_damaged(tmp_path):
    root = damaged_dataset(tmp_path / "genres")
    df = dataset.find_dataset(root)  # a track with two files no longer stops the run
    assert df.track_id.is_unique and len(df) == 11
    assert df.set_index("track_id").loc["blues.00001", "path"].endswith(".wav")  # the usual extension is kept
    report = dataset.validate(df, min_seconds=1.0, progress=False)
    t = report.table
    notes = dict(zip(t.path.map(lambda p: p.rsplit("/", 1)[-1]), t.note))
    use = dict(zip(t.path.map(lambda p: p.rsplit("/", 1)[-1]), t.usable))
    assert "10 non-finite samples (NaN/inf), excluded" in notes["blues.00010.wav"] and not use["blues.00010.wav"]
    assert "1 non-finite samples (NaN/inf), excluded" in notes["blues.00011.au"] and not use["blues.00011.au"]
    assert notes["rock.00010.wav"] == "all silent, excluded" and not use["rock.00010.wav"]
    # short clips stay, flagged with the slices they give
    assert notes["rock.00011.wav"] == "short: 2.0 s where clips usually last 6.0 s; gives 2 of 6 slices"
    assert use["rock.00011.wav"]
    assert notes["rock.00012.au"].startswith("truncated: the header announces 6.0 s, the data holds 2.0 s")
    assert notes["rock.00012.au"].endswith("gives 2 of 6 slices") and use["rock.00012.au"]
    assert notes["blues.00001.au"] == "second file blues.00001.au of the track (blues.00001.wav is used), excluded"
    assert not use["blues.00001.au"]
    assert len(t) == 12 and report.usable.track_id.is_unique and len(report.usable) == 8
    for name in ("blues.00010", "rock.00010", "rock.00011", "rock.00012"):
        assert name in report.summary()
    assert report.missing == []  # two genres: not GTZAN


def test_cli_featurize_skips_damaged_files_and_keeps_the_rest(tmp_path):
    root = damaged_dataset(tmp_path / "genres", seconds=3.0)
    r = _gtzan(
        "featurize",
        str(root),
        "--kinds",
        "mfcc",
        "--slice-seconds",
        "1",
        "--n-slices",
        "2",
        "--jobs",
        "1",
        "--store",
        str(tmp_path / "stores"),
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "blues.00010" in r.stdout and "non-finite samples (NaN/inf), excluded" in r.stdout
    assert "rock.00010" in r.stdout and "all silent, excluded" in r.stdout
    assert "rock.00011" in r.stdout and "gives 1 of 2 slices" in r.stdout
    from gtzan_utils.features.store import FeatureStore

    (path,) = (tmp_path / "stores").iterdir()
    s = FeatureStore(path)
    assert sorted(s.manifest.track_id.unique()) == [
        "blues.00000",
        "blues.00001",
        "blues.00002",
        "rock.00000",
        "rock.00001",
        "rock.00002",
        "rock.00011",
        "rock.00012",
    ]
    assert s.manifest.groupby("track_id").size()[["blues.00000", "rock.00011", "rock.00012"]].tolist() == [2, 1, 1]
    assert np.isfinite(s.read(np.arange(len(s)))).all()


def _gtzan_like(root, genres=dataset.GENRES, ids=(0, 1)):
    for g in genres:
        (root / g).mkdir(parents=True, exist_ok=True)
        for i in ids:
            sf.write(root / g / f"{g}.{i:05d}.au", tone(0.5, seed=i), SR, subtype="PCM_16")
    return root


def test_validate_lists_missing_gtzan_tracks(tmp_path):
    root = _gtzan_like(tmp_path / "genres", ids=(0, 1, 99))
    (root / "jazz" / "jazz.00099.au").unlink()
    report = dataset.validate(dataset.find_dataset(root), min_seconds=0.25, progress=False)
    assert len(report.missing) == 1000 - 29
    assert report.missing[:3] == ["blues.00002", "blues.00003", "blues.00004"]
    assert "jazz.00099" in report.missing and "jazz.00001" not in report.missing and "rock.00099" not in report.missing
    assert "GTZAN: 971 of 1000 expected tracks missing: blues.00002" in report.summary()
    r = _gtzan("validate", str(root), "--min-seconds", "0.25", "--report", str(tmp_path / "r.csv"))
    assert r.returncode == 0 and "971 of 1000 expected tracks missing" in r.stdout
    # not GTZAN: a genre short, other names, or the synthetic set (SYNTH.json)
    assert (
        dataset.missing_gtzan_tracks(dataset.find_dataset(_gtzan_like(tmp_path / "nine", genres=dataset.GENRES[:9])))
        == []
    )
    other = _gtzan_like(tmp_path / "other", ids=(0, 100))
    assert dataset.missing_gtzan_tracks(dataset.find_dataset(other)) == []
    (root / "SYNTH.json").write_text("{}")
    assert dataset.missing_gtzan_tracks(dataset.find_dataset(root)) == []


def test_read_audio_resamples_and_downmixes(tmp_path):
    p = tmp_path / "x.flac"
    sf.write(p, tone(1.0, sr=44100, channels=2), 44100)
    y, info = dataset.read_audio(p)
    assert info == {"sr": 44100, "channels": 2, "frames": 44100}
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) == SR


# -- download ------------------------------------------------------------------------------------------
def _archive(folder, name="genres.tar.gz"):
    src = folder / "src"
    write_dataset(src / "genres", genres=("blues", "pop"), per_genre=1, seconds=1.0, ext=".au")
    path = folder / name
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src / "genres", arcname="genres")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_good_hash(http_root, tmp_path):
    www, url = http_root
    archive, sha = _archive(www)
    dest = tmp_path / "gtzan"
    genres = dataset.download(dest, urls=(f"{url}/missing.tar.gz", f"{url}/{archive.name}"), sha256=sha, progress=False)
    assert genres == dest / "genres"
    assert len(dataset.find_dataset(genres)) == 2
    # a second call reuses the extracted copy without the network
    assert dataset.download(dest, urls=("http://127.0.0.1:9/none",), sha256=sha, progress=False) == genres


def test_download_bad_hash_names_both(http_root, tmp_path):
    www, url = http_root
    archive, sha = _archive(www)
    wrong = "0" * 64
    with pytest.raises(GtzanError) as exc:
        dataset.download(tmp_path / "g", urls=(f"{url}/{archive.name}",), sha256=wrong, progress=False)
    assert wrong in str(exc.value) and sha in str(exc.value)
    assert not (tmp_path / "g" / "genres").exists()


def test_download_unreachable(tmp_path):
    with pytest.raises(GtzanError, match="no GTZAN mirror"):
        dataset.download(tmp_path, urls=("http://127.0.0.1:9/genres.tar.gz",), progress=False)


def test_safe_extract_refuses_escape(tmp_path):
    evil = tmp_path / "evil.tar"
    payload = tmp_path / "p.txt"
    payload.write_text("x")
    with tarfile.open(evil, "w") as tar:
        tar.add(payload, arcname="../../escaped.txt")
    with pytest.raises(GtzanError, match="outside"):
        dataset.safe_extract(evil, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


# -- command line ---------------------------------------------------------------------------------------
def _gtzan(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "gtzan_utils", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.mark.parametrize("cmd", ["validate", "featurize"])
def test_cli_missing_folder_is_one_line(tmp_path, cmd):
    r = _gtzan(cmd, str(tmp_path / "nowhere"))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "does not exist" in r.stderr


def test_cli_empty_folder(tmp_path):
    r = _gtzan("validate", str(tmp_path))
    assert r.returncode == 1 and "no audio files" in r.stderr and "Traceback" not in r.stderr


def test_cli_validate_writes_report(tiny_dataset, tmp_path):
    r = _gtzan("validate", str(tiny_dataset), "--report", str(tmp_path / "r.csv"))
    assert r.returncode == 0, r.stderr
    assert "6 files, 6 usable" in r.stdout
    assert len(pd.read_csv(tmp_path / "r.csv")) == 6
