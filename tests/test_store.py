"""Feature store: values, layout, resume after a kill, no pickles, clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gtzan_utils import data, features, store
from gtzan_utils.errors import GtzanError
from gtzan_utils.features import FeatureParams

P = FeatureParams(kind="mfcc", slice_seconds=2.0, n_slices=4)


def test_store_holds_the_features(tiny_dataset, tmp_path):
    tracks = data.find_dataset(tiny_dataset)
    s = store.build_store(tracks, P, tmp_path / "stores", n_jobs=1, progress=False)
    assert len(s) == 6 * 4 and s.X.dtype == np.float16
    assert s.path.name.startswith(f"mfcc-{P.key}-")
    assert s.params == P
    assert s.labels == list(data.GENRES)  # GTZAN genre names keep GTZAN's label order, even for a subset
    assert set(s.manifest.columns) >= {"row", "track_id", "genre", "label", "slice_index", "path"}
    y, _ = data.read_audio(tracks.path[3])
    expected = features.compute_song(y, P)
    rows = np.flatnonzero(s.manifest.track_id == tracks.track_id[3])
    np.testing.assert_allclose(s.read(rows), expected, rtol=2e-3, atol=0.05)  # float16
    assert np.array_equal(s.y[rows], [s.labels.index(tracks.genre[3])] * 4)
    # plain arrays: loadable without pickle
    np.load(s.path / "X.npy", allow_pickle=False, mmap_mode="r")
    # a second build finds the complete store and returns it without work
    again = store.build_store(tracks, P, tmp_path / "stores", n_jobs=1, progress=False)
    assert again.path == s.path


def test_resume_after_kill_computes_only_missing(tiny_dataset, tmp_path, monkeypatch):
    tracks = data.find_dataset(tiny_dataset)
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
    tracks = data.find_dataset(tiny_dataset)
    a = store.build_store(tracks, P, tmp_path / "a", n_jobs=1, progress=False)
    b = store.build_store(tracks, P, tmp_path / "b", n_jobs=2, progress=False)
    # equal up to one float16 step: worker processes run BLAS with another thread count (summation order)
    np.testing.assert_allclose(np.asarray(a.X, np.float32), np.asarray(b.X, np.float32), rtol=2e-3, atol=1e-3)


def test_short_clip_records_its_slices(tmp_path):
    from conftest import write_dataset

    root = write_dataset(tmp_path / "genres", genres=("blues",), per_genre=1, seconds=5.0)
    write_dataset(tmp_path / "genres", genres=("rock",), per_genre=1, seconds=11.0)
    s = store.build_store(data.find_dataset(root), P, tmp_path / "s", n_jobs=1, progress=False)
    assert s.manifest.groupby("track_id").size().to_dict() == {"blues.00000": 2, "rock.00000": 4}
    assert s.info["tracks_with_fewer_slices"] == {"blues.00000": 2}


def test_unreadable_file_keeps_the_rest(tiny_dataset, tmp_path):
    tracks = data.find_dataset(tiny_dataset)
    (tiny_dataset / "rock" / "rock.00001.wav").write_bytes(b"garbage" * 100)
    with pytest.raises(GtzanError, match="rock.00001.wav") as exc:
        store.build_store(tracks, P, tmp_path / "s", n_jobs=1, progress=False)
    assert "run again" in str(exc.value)
    path = store.store_path(tmp_path / "s", tracks, P)
    assert len((path / "progress.txt").read_text().splitlines()) == 5


def test_index_round_trip(tiny_dataset, tmp_path):
    tracks = data.find_dataset(tiny_dataset)
    stores = store.featurize_all(tracks, ["mfcc", "mel"], tmp_path / "s", base=P, n_jobs=1, progress=False)
    store.write_index(stores, tmp_path / "run")
    back = store.open_index(tmp_path / "run")
    assert {k: v.path for k, v in back.items()} == {k: v.path for k, v in stores.items()}
    assert json.loads((tmp_path / "run" / "stores.json").read_text())
    table = store.describe(back)
    assert table.set_index("kind").loc["mel", "slices"] == 24
    with pytest.raises(GtzanError, match="02_preprocessing"):
        store.open_index(tmp_path / "elsewhere")
