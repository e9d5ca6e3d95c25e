"""Splits: song-level sides never share a song (but for `paper`), pure functions of (tracks, seed)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from gtzan_utils.base.constants import GENRES
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.features import splits


def gtzan_tracks(per_genre=100) -> pd.DataFrame:
    ids = [f"{g}.{i:05d}" for g in GENRES for i in range(per_genre)]
    return pd.DataFrame({"track_id": ids, "genre": [t.split(".")[0] for t in ids], "path": ids})


def manifest_of(tracks, n=6) -> pd.DataFrame:
    return pd.DataFrame(
        [(t, g, s) for t, g in zip(tracks.track_id, tracks.genre) for s in range(n)],
        columns=["track_id", "genre", "slice_index"],
    )


def songs(keys):
    return {k.split("#")[0] for k in keys}


def assert_song_disjoint(sp):
    for i, fold in enumerate(sp.folds):
        a, b, c = (songs(fold[s]) for s in splits.SUBSETS)
        assert not (a & b) and not (a & c) and not (b & c)
        assert sp.songs_on_two_sides(i) == 0


def test_song_split_is_disjoint_stratified_and_sized():
    t = gtzan_tracks()
    sp = splits.song_split(t, seed=3)
    assert_song_disjoint(sp)
    f = sp.folds[0]
    assert [len(f[s]) for s in splits.SUBSETS] == [800, 100, 100]
    genre = dict(zip(t.track_id, t.genre))
    assert pd.Series([genre[x] for x in f["test"]]).value_counts().tolist() == [10] * 10


def test_splits_are_pure_functions_of_tracks_and_seed():
    t = gtzan_tracks(20)
    shuffled = t.sample(frac=1, random_state=1)
    assert splits.song_split(t, 0).folds == splits.song_split(shuffled, 0).folds
    assert splits.song_split(t, 0).folds != splits.song_split(t, 1).folds
    assert splits.kfold_split(t, 7).folds == splits.kfold_split(shuffled, 7).folds
    m = manifest_of(t)
    assert splits.paper_split(m, 2).folds == splits.paper_split(m.iloc[::-1], 2).folds


def test_kfold_tests_every_song_exactly_once():
    t = gtzan_tracks(20)
    sp = splits.kfold_split(t, seed=0, k=5)
    assert len(sp.folds) == 5
    assert_song_disjoint(sp)
    tested = [x for f in sp.folds for x in f["test"]]
    assert sorted(tested) == sorted(t.track_id)
    assert all(len(f["test"]) == 40 for f in sp.folds)
    assert all(len(f["val"]) > 0 for f in sp.folds)


def test_kfold_needs_enough_songs():
    with pytest.raises(GtzanError, match="at least 5 songs"):
        splits.kfold_split(gtzan_tracks(3), k=5)


def test_paper_split_leaks_songs():
    t = gtzan_tracks(10)
    sp = splits.paper_split(manifest_of(t), seed=0)
    assert sp.leaky and sp.level == "slice"
    f = sp.folds[0]
    assert sum(len(f[s]) for s in splits.SUBSETS) == 600
    assert len(songs(f["train"]) & songs(f["test"])) > 30  # the leak this split exists to measure
    assert sp.songs_on_two_sides() >= len(songs(f["train"]) & songs(f["test"]))


def test_rows_select_manifest_positions():
    t = gtzan_tracks(10)
    m = manifest_of(t)
    sp = splits.song_split(t, 0)
    rows = sp.rows(m, "test")
    assert len(rows) == 6 * len(sp.folds[0]["test"])
    assert set(m.track_id.iloc[rows]) == set(sp.folds[0]["test"])
    paper = splits.paper_split(m, 0)
    assert sorted(np.concatenate([paper.rows(m, s) for s in splits.SUBSETS]).tolist()) == list(range(len(m)))


def test_save_load_round_trip(tmp_path):
    sp = splits.kfold_split(gtzan_tracks(10), seed=1, k=3)
    back = splits.Split.load(sp.save(tmp_path / "kfold.json"))
    assert back == sp


def _filtered_lists(meta_dir):
    return {
        s: [splits._track_name(x) for x in (meta_dir / f"{n}_filtered.txt").read_text().splitlines() if x.strip()]
        for s, n in zip(splits.SUBSETS, ("train", "valid", "test"))
    }


def test_filtered_split_on_gtzan_names(meta_dir):
    t = gtzan_tracks()
    t.loc[t.track_id == "jazz.00054", "track_id"] = "dropped"  # Kaggle's undecodable file is absent
    sp = splits.filtered_split(t, lists=_filtered_lists(meta_dir))
    assert_song_disjoint(sp)
    f = sp.folds[0]
    assert (len(f["train"]), len(f["val"]), len(f["test"])) == (442, 197, 290)
    assert sp.extra["missing"] == ["jazz.00054"]


def test_filtered_split_refuses_other_data(meta_dir):
    other = pd.DataFrame({"track_id": [f"song{i}" for i in range(50)], "genre": ["a", "b"] * 25})
    with pytest.raises(GtzanError, match="needs GTZAN"):
        splits.filtered_split(other, lists=_filtered_lists(meta_dir))


def test_filtered_lists_download_checks_hashes(meta_dir, http_root, monkeypatch, tmp_path):
    www, url = http_root
    for n in splits.FILTERED_SHA256:
        (www / n).write_bytes((meta_dir / n).read_bytes())
    monkeypatch.setattr(splits, "FILTERED_URL", url + "/{name}")
    lists = splits.filtered_lists(tmp_path / "cache")
    assert [len(lists[s]) for s in splits.SUBSETS] == [443, 197, 290]
    assert lists["train"][0] == "blues.00029"
    # a tampered list fails the hash check, naming both hashes
    (www / "test_filtered.txt").write_text("blues/blues.00000.wav\n")
    bad = hashlib.sha256(b"blues/blues.00000.wav\n").hexdigest()
    with pytest.raises(GtzanError) as exc:
        splits.filtered_lists(tmp_path / "cache2")
    assert bad in str(exc.value) and splits.FILTERED_SHA256["test_filtered.txt"] in str(exc.value)


def test_unknown_split_name():
    with pytest.raises(GtzanError, match="unknown split"):
        splits.make_split("random", gtzan_tracks(5))
