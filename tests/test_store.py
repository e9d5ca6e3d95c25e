"""Feature store: values, shards and their markers, resume after a kill, no pickles, clear errors."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from gtzan_utils.base.errors import GtzanError
from gtzan_utils.data import dataset
from gtzan_utils.features import extract, store
from gtzan_utils.features.extract import FeatureParams

P = FeatureParams(kind="mfcc", slice_seconds=2.0, n_slices=4)


def test_store_holds_the_features(tiny_dataset, tmp_path):
    tracks = dataset.find_dataset(tiny_dataset)
    s = store.build_store(tracks, P, tmp_path / "stores", n_jobs=1, progress=False)
    assert len(s) == 6 * 4 and s.shard(0).dtype == np.float16 and s.read([0]).dtype == np.float32
    assert s.path.name.startswith(f"mfcc-{P.key}-")
    assert s.params == P
    assert s.labels == list(dataset.GENRES)  # GTZAN genre names keep GTZAN's label order, even for a subset
    assert set(s.manifest.columns) >= {"row", "track_id", "genre", "label", "slice_index", "path"}
    y, _ = dataset.read_audio(tracks.path[3])
    expected = extract.compute_song(y, P)
    rows = np.flatnonzero(s.manifest.track_id == tracks.track_id[3])
    np.testing.assert_allclose(s.read(rows), expected, rtol=2e-3, atol=0.05)  # float16
    assert np.array_equal(s.y[rows], [s.labels.index(tracks.genre[3])] * 4)
    # plain arrays, one per shard of songs (6 songs: one each), loadable without pickle; a done-marker per shard
    assert s.shard_songs == 1 and s.n_shards == 6
    for j in range(6):
        x = np.load(store.shard_file(s.path, j), allow_pickle=False, mmap_mode="r")
        assert x.shape == (4, *P.shape)
        assert json.loads(store.shard_file(s.path, j, ".json").read_text())["slices"] == [4]
    assert (s.path / "manifest.parquet").exists() and not list(s.path.glob("*.csv"))
    # a second build finds the complete store and returns it without work
    again = store.build_store(tracks, P, tmp_path / "stores", n_jobs=1, progress=False)
    assert again.path == s.path


def test_resume_after_kill_computes_only_missing(tiny_dataset, tmp_path, monkeypatch):
    tracks = dataset.find_dataset(tiny_dataset)
    root = tmp_path / "stores"
    assert store.build_store(tracks, P, root, n_jobs=1, progress=False, limit=2) is None  # killed after 2 shards
    path = store.store_path(root, tracks, P)
    assert not (path / "complete.json").exists()
    with pytest.raises(GtzanError, match="incomplete"):
        store.FeatureStore(path)
    done = {j: store.shard_file(path, j, ".json").stat().st_mtime_ns for j in (0, 1)}
    # the kill also left a shard renamed into place without its marker, and a killed task's temporary file: shard 2
    # is redone (its marker vouches for the rows, not the file); the store's end removes a temporary file nobody has
    # touched for 10 minutes (a live one belongs to another run filling the same store)
    store.shard_file(path, 2).write_bytes(b"half a shard")
    stale, live = path / store.SHARDS / ".00003.npy.4242-1.tmp", path / store.SHARDS / ".00004.npy.4243-1.tmp"
    stale.write_bytes(b"torn")
    live.write_bytes(b"being written")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    calls = []
    real = store._featurize_song
    monkeypatch.setattr(store, "_featurize_song", lambda song, prm: calls.append(song) or real(song, prm))
    s = store.build_store(tracks, P, root, n_jobs=1, progress=False)
    assert sorted(calls) == sorted(tracks.path[2:])  # the complete shards were not recomputed
    assert {j: store.shard_file(path, j, ".json").stat().st_mtime_ns for j in (0, 1)} == done
    assert not stale.exists() and live.exists()
    fresh = store.build_store(tracks, P, tmp_path / "fresh", n_jobs=1, progress=False)
    np.testing.assert_array_equal(s.read(np.arange(len(s))), fresh.read(np.arange(len(fresh))))
    assert s.manifest.drop(columns="path").equals(fresh.manifest.drop(columns="path"))


def test_reads_gather_rows_across_shards_in_any_order(tmp_path):
    from conftest import write_dataset

    root = write_dataset(tmp_path / "genres", genres=("blues", "rock"), per_genre=40, seconds=2.0)
    p = FeatureParams(kind="mfcc", slice_seconds=1.0, n_slices=2)
    s = store.build_store(dataset.find_dataset(root), p, tmp_path / "s", n_jobs=1, progress=False)
    assert s.shard_songs == 3 and s.n_shards == 27 and len(s) == 160  # 80 songs: ceil(80 / 32) per shard
    whole = np.concatenate([np.asarray(s.shard(j), np.float32) for j in range(s.n_shards)])
    rows = np.random.default_rng(0).permutation(len(s))[:50]
    np.testing.assert_array_equal(s.read(rows), whole[s.manifest.row.to_numpy()[rows]])
    np.testing.assert_array_equal(s.read([7, 7, 3]), whole[s.manifest.row.to_numpy()[[7, 7, 3]]])
    everything = np.random.default_rng(1).permutation(len(s))  # more than a batch: gathered shard by shard
    assert len(everything) > store.BATCH_ROWS
    np.testing.assert_array_equal(s.read(everything), whole[s.manifest.row.to_numpy()[everything]])
    assert s.read([]).shape == (0, *p.shape)
    assert list(s.shard_rows(1)) == [6, 7, 8, 9, 10, 11]


def test_old_stores_are_rebuilt_not_misread(tiny_dataset, tmp_path):
    """A store of the format before shards (one X.npy, manifest.csv) has another folder name (the feature version
    is in the key), and opening one by its path says to rebuild it."""
    tracks = dataset.find_dataset(tiny_dataset)
    s = store.build_store(tracks, P, tmp_path / "s", n_jobs=1, progress=False)
    assert P.to_dict()["feature_version"] == 2
    old = tmp_path / "s" / "mfcc-oldkey-12345678"
    old.mkdir()
    (old / "params.json").write_text(json.dumps({"params": P.to_dict(), "labels": s.labels}))
    (old / "complete.json").write_text("{}")
    with pytest.raises(GtzanError, match="another version of gtzan_utils.*run notebook 02_preprocessing"):
        store.FeatureStore(old)


def test_short_clip_records_its_slices(tmp_path):
    from conftest import write_dataset

    root = write_dataset(tmp_path / "genres", genres=("blues",), per_genre=1, seconds=5.0)
    write_dataset(tmp_path / "genres", genres=("rock",), per_genre=1, seconds=11.0)
    s = store.build_store(dataset.find_dataset(root), P, tmp_path / "s", n_jobs=1, progress=False)
    assert s.manifest.groupby("track_id").size().to_dict() == {"blues.00000": 2, "rock.00000": 4}
    assert s.info["tracks_with_fewer_slices"] == {"blues.00000": 2}


def test_bad_files_are_skipped_and_the_store_is_finished(tiny_dataset, tmp_path, capsys):
    import soundfile as sf

    tracks = dataset.find_dataset(tiny_dataset)
    (tiny_dataset / "rock" / "rock.00001.wav").write_bytes(b"garbage" * 100)  # undecodable
    y = np.full(int(11 * 22050), np.nan, np.float32)
    sf.write(tiny_dataset / "jazz" / "jazz.00000.wav", y, 22050, subtype="FLOAT")  # NaN samples
    sf.write(tiny_dataset / "blues" / "blues.00001.wav", np.zeros_like(y), 22050)  # all silent
    s = store.build_store(tracks, P, tmp_path / "s", n_jobs=1, progress=False)
    assert sorted(s.manifest.track_id.unique()) == ["blues.00000", "jazz.00001", "rock.00000"]
    assert len(s) == 12 and np.isfinite(s.read(np.arange(len(s)))).all()
    skipped = s.info["skipped"]
    assert set(skipped) == {"rock.00001", "jazz.00000", "blues.00001"}
    assert "cannot decode" in skipped["rock.00001"] and "non-finite" in skipped["jazz.00000"]
    assert "all silent" in skipped["blues.00001"]
    out = capsys.readouterr().out
    assert "skipped 3 file(s)" in out and "jazz.00000" in out and "rock.00001.wav" in out
    # finished: a second call reuses it without work
    assert store.build_store(tracks, P, tmp_path / "s", n_jobs=1, progress=False).path == s.path


def test_a_replaced_file_of_the_same_size_gets_a_new_store(tiny_dataset, tmp_path):
    import soundfile as sf
    from conftest import tone

    tracks = dataset.find_dataset(tiny_dataset)
    key = store.tracks_key(tracks)
    path = tiny_dataset / "rock" / "rock.00000.wav"
    size = path.stat().st_size
    sf.write(path, tone(11.0, 999.0, seed=7), 22050, subtype="PCM_16")  # another song, same length
    assert path.stat().st_size == size
    assert store.tracks_key(tracks) != key
    # a copy of the dataset elsewhere (another Colab session) keeps its key
    import shutil

    shutil.copytree(tiny_dataset, tmp_path / "copy")
    assert store.tracks_key(dataset.find_dataset(tmp_path / "copy")) == store.tracks_key(tracks)


def test_a_full_disk_fails_loudly_and_the_shard_is_not_recorded(tiny_dataset, tmp_path, monkeypatch):
    tracks = dataset.find_dataset(tiny_dataset)
    real = store._empty_array
    calls = []

    def full_disk(path, shape):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(path, shape)

    monkeypatch.setattr(store, "_empty_array", full_disk)
    with pytest.raises(GtzanError, match=r"writing shard 2 of .* failed \(No space left on device\)") as exc:
        store.build_store(tracks, P, tmp_path / "s", n_jobs=1, progress=False)
    assert "run again" in str(exc.value)
    path = store.store_path(tmp_path / "s", tracks, P)
    written = sorted(f.name for f in (path / store.SHARDS).iterdir())
    assert written == ["00000.json", "00000.npy", "00001.json", "00001.npy"]  # no trace of shard 2, no temp file
    assert not (path / "complete.json").exists()
    monkeypatch.setattr(store, "_empty_array", real)
    s = store.build_store(tracks, P, tmp_path / "s", n_jobs=1, progress=False)
    fresh = store.build_store(tracks, P, tmp_path / "fresh", n_jobs=1, progress=False)
    np.testing.assert_array_equal(s.read(np.arange(len(s))), fresh.read(np.arange(len(fresh))))


def test_two_builds_of_one_store_at_once_give_one_correct_store(tiny_dataset, tmp_path):
    """No lock: two writers compute the same shards and rename identical files over each other."""
    import threading

    tracks = dataset.find_dataset(tiny_dataset)
    out, errors = [], []

    def build():
        try:
            out.append(store.build_store(tracks, P, tmp_path / "s", n_jobs=1, progress=False))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(out) == 2 and out[0].path == out[1].path
    fresh = store.build_store(tracks, P, tmp_path / "fresh", n_jobs=1, progress=False)
    np.testing.assert_array_equal(out[0].read(np.arange(len(fresh))), fresh.read(np.arange(len(fresh))))


def test_index_round_trip(tiny_dataset, tmp_path):
    tracks = dataset.find_dataset(tiny_dataset)
    stores = store.featurize_all(tracks, ["mfcc", "mel"], tmp_path / "s", base=P, n_jobs=1, progress=False)
    store.write_index(stores, tmp_path / "run")
    back = store.open_index(tmp_path / "run")
    assert {k: v.path.resolve() for k, v in back.items()} == {k: v.path.resolve() for k, v in stores.items()}
    assert json.loads((tmp_path / "run" / "stores.json").read_text())
    table = store.describe(back)
    assert table.set_index("kind").loc["mel", "slices"] == 24
    with pytest.raises(GtzanError, match="02_preprocessing"):
        store.open_index(tmp_path / "elsewhere")


def test_index_survives_a_new_session(tiny_dataset, tmp_path, capsys):
    """Colab: the run folder and the stores move together, or the stores reappear under data/stores."""
    import os
    import shutil

    tracks = dataset.find_dataset(tiny_dataset)
    session = tmp_path / "session1"
    stores = store.featurize_all(tracks, ["mfcc"], session / "data" / "stores", base=P, n_jobs=1, progress=False)
    store.write_index(stores, session / "runs" / "r" / "02_preprocessing")
    recorded = json.loads((session / "runs" / "r" / "02_preprocessing" / "stores.json").read_text())
    assert not any(os.path.isabs(p) or str(tmp_path) in p for p in recorded.values())
    # the whole tree moved (another mount point): found through the relative path
    moved = tmp_path / "session2"
    shutil.move(session, moved)
    s = store.open_index(moved / "runs" / "r" / "02_preprocessing")["mfcc"]
    assert s.path.resolve() == (moved / "data" / "stores" / stores["mfcc"].path.name).resolve() and len(s) == 24
    # only the run folder kept (on Drive); the stores rebuilt under the data home: found by name, announced
    run = tmp_path / "drive" / "r"
    shutil.move(moved / "runs" / "r", run)
    home = tmp_path / "home3"
    os.environ["GTZAN_DATA_HOME"] = str(home)  # the autouse fixture restores it
    shutil.move(moved / "data" / "stores", home / "stores")
    s = store.open_index(run / "02_preprocessing")["mfcc"]
    assert s.path == home / "stores" / stores["mfcc"].path.name
    assert "is not at" in capsys.readouterr().out
    # found nowhere: say how to rebuild
    shutil.rmtree(home / "stores")
    with pytest.raises(GtzanError, match="run notebook 02_preprocessing again") as exc:
        store.open_index(run / "02_preprocessing")
    assert stores["mfcc"].path.name in str(exc.value)
