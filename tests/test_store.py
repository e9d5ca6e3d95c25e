"""Feature store: values, layout, resume after a kill, no pickles, clear errors."""

from __future__ import annotations

import json

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
    assert len(s) == 6 * 4 and s.X.dtype == np.float16
    assert s.path.name.startswith(f"mfcc-{P.key}-")
    assert s.params == P
    assert s.labels == list(dataset.GENRES)  # GTZAN genre names keep GTZAN's label order, even for a subset
    assert set(s.manifest.columns) >= {"row", "track_id", "genre", "label", "slice_index", "path"}
    y, _ = dataset.read_audio(tracks.path[3])
    expected = extract.compute_song(y, P)
    rows = np.flatnonzero(s.manifest.track_id == tracks.track_id[3])
    np.testing.assert_allclose(s.read(rows), expected, rtol=2e-3, atol=0.05)  # float16
    assert np.array_equal(s.y[rows], [s.labels.index(tracks.genre[3])] * 4)
    # plain arrays: loadable without pickle
    np.load(s.path / "X.npy", allow_pickle=False, mmap_mode="r")
    # a second build finds the complete store and returns it without work
    again = store.build_store(tracks, P, tmp_path / "stores", n_jobs=1, progress=False)
    assert again.path == s.path


def test_resume_after_kill_computes_only_missing(tiny_dataset, tmp_path, monkeypatch):
    tracks = dataset.find_dataset(tiny_dataset)
    root = tmp_path / "stores"
    assert store.build_store(tracks, P, root, n_jobs=1, progress=False, limit=2, flush_every=1) is None
    path = store.store_path(root, tracks, P)
    assert not (path / "complete.json").exists()
    with pytest.raises(GtzanError, match="incomplete"):
        store.FeatureStore(path)
    # the kill also tore the last progress line: it is ignored (that track is redone)
    with open(path / "progress.txt", "a") as f:
        f.write("4 ")
    calls = []
    real = store._featurize_one
    monkeypatch.setattr(store, "_featurize_one", lambda i, p, prm: calls.append(i) or real(i, p, prm))
    s = store.build_store(tracks, P, root, n_jobs=1, progress=False)
    assert sorted(calls) == [2, 3, 4, 5]
    fresh = store.build_store(tracks, P, tmp_path / "fresh", n_jobs=1, progress=False)
    np.testing.assert_array_equal(s.read(np.arange(len(s))), fresh.read(np.arange(len(fresh))))


def test_parallel_workers_give_the_same_store(tiny_dataset, tmp_path):
    tracks = dataset.find_dataset(tiny_dataset)
    a = store.build_store(tracks, P, tmp_path / "a", n_jobs=1, progress=False)
    b = store.build_store(tracks, P, tmp_path / "b", n_jobs=2, progress=False)
    # equal up to one float16 step: worker processes run BLAS with another thread count (summation order)
    np.testing.assert_allclose(np.asarray(a.X, np.float32), np.asarray(b.X, np.float32), rtol=2e-3, atol=1e-3)


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
    assert len(s) == 12 and np.isfinite(np.asarray(s.X[s.manifest.row], np.float32)).all()
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


def test_a_short_write_fails_loudly_and_the_song_is_not_recorded(tiny_dataset, tmp_path, monkeypatch):
    import os

    tracks = dataset.find_dataset(tiny_dataset)
    real = os.pwrite
    calls = []

    def full_disk(fd, data_, offset):
        calls.append(offset)
        return real(fd, data_[: len(data_) // 2], offset) if len(calls) == 3 else real(fd, data_, offset)

    monkeypatch.setattr(os, "pwrite", full_disk)
    full = P.n_slices * int(np.prod(P.shape)) * 2  # float16 bytes of one song
    with pytest.raises(GtzanError, match=f"{full // 2} of {full} bytes written") as exc:
        store.build_store(tracks, P, tmp_path / "s", n_jobs=1, progress=False, flush_every=1)
    assert "run again" in str(exc.value)
    path = store.store_path(tmp_path / "s", tracks, P)
    assert (path / "progress.txt").read_text().split() == ["0", "4", "1", "4"]  # not the third song
    assert not (path / "complete.json").exists()
    monkeypatch.setattr(os, "pwrite", real)
    s = store.build_store(tracks, P, tmp_path / "s", n_jobs=1, progress=False)
    fresh = store.build_store(tracks, P, tmp_path / "fresh", n_jobs=1, progress=False)
    np.testing.assert_array_equal(s.read(np.arange(len(s))), fresh.read(np.arange(len(fresh))))


def test_a_second_writer_is_refused_while_the_first_holds_the_store(tiny_dataset, tmp_path):
    import subprocess
    import sys

    tracks = dataset.find_dataset(tiny_dataset)
    path = store.store_path(tmp_path / "s", tracks, P)
    path.mkdir(parents=True)
    holder = subprocess.Popen(  # another process that holds the store's lock, as a running featurize does
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
            "f.write('process 4242 on elsewhere'); f.flush(); print('locked', flush=True); sys.stdin.read()",
            str(path / ".lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(GtzanError, match="being written by process 4242 on elsewhere") as exc:
            store.build_store(tracks, P, tmp_path / "s", n_jobs=1, progress=False)
        assert "run again" in str(exc.value)
        assert not (path / "X.npy").exists() and not (path / "progress.txt").exists()  # nothing touched
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    s = store.build_store(tracks, P, tmp_path / "s", n_jobs=1, progress=False)  # the lock is free again
    assert len(s) == 24


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
