"""Train / validation / test splits, each a pure function of (track list, seed).

==============  ===========================================================================================
name            what
==============  ===========================================================================================
``song``        stratified by genre, by song (default 80/10/10): no song on two sides. The default.
``kfold``       stratified k-fold by song; fold i tests on its songs, validates on a stratified part of
                the rest
``filtered``    the fault-filtered split of Kereliuk, Sturm & Larsen (2015): 443/197/290 songs, no
                artist on two sides; lists downloaded (sha256-checked) from the authors' repository
``paper``       the paper's code's random split of **slices**: slices of one song land on both sides. Leaky,
                kept only to measure the leak.
==============  ===========================================================================================

A split is a :class:`Split`: a name, a seed, a level (``song`` or ``slice``) and a list of folds, each a
mapping ``train/val/test → keys`` (track ids, or ``track_id#slice`` for the slice level). Saved as JSON.
Shown in notebook 02_preprocessing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.files import write_text
from gtzan_utils.base.layout import data_home

SPLITS: tuple[str, ...] = ("song", "kfold", "filtered", "paper")
SUBSETS: tuple[str, ...] = ("train", "val", "test")

FILTERED_URL = "https://raw.githubusercontent.com/coreyker/dnn-mgr/master/gtzan/{name}"
FILTERED_SHA256 = {
    "train_filtered.txt": "2b04966cef1486f1a7767b74271533fa23e220388db804a1937835e1fc4fa3fa",
    "valid_filtered.txt": "f8fbee7c52397a0e0f3a91dc54fedecb2e27f5bdc9a9daeab8cb10d077e26956",
    "test_filtered.txt": "09cafa6a89ce0a27f30ed250d56ecb4d03c22fffb5a693f96c7ae655ee02ac72",
}


@dataclass
class Split:
    """A named split: its folds (song or slice level, train/val/test track lists), seed and notes; saved as JSON."""

    name: str
    seed: int
    level: str  # "song" or "slice"
    folds: list[dict[str, list[str]]]
    leaky: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)

    def save(self, path) -> Path:
        """Write the split as JSON (atomically: a reader never sees half a file)."""
        return write_text(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path) -> Split:
        return cls(**json.loads(Path(path).read_text()))

    def rows(self, manifest: pd.DataFrame, subset: str, fold: int = 0) -> np.ndarray:
        """Positions in a store's manifest of the slices in ``subset`` of fold ``fold``."""
        keys = set(self.folds[fold][subset])
        if self.level == "song":
            mask = manifest.track_id.isin(keys)
        else:
            mask = (manifest.track_id + "#" + manifest.slice_index.astype(str)).isin(keys)
        return np.flatnonzero(mask.to_numpy())

    def members_key(self, fold: int = 0) -> str:
        """Hash of the exact train/validation/test members of ``fold``: a cached result is keyed by the songs
        (or slices) it was trained and tested on, never by the split's name alone."""
        f = self.folds[fold]
        blob = json.dumps({s: sorted(f[s]) for s in SUBSETS}, sort_keys=True)
        return hashlib.sha256(f"{self.level}|{blob}".encode()).hexdigest()[:16]

    def identity(self, fold: int = 0) -> dict:
        """What a cached result records of its split: name, seed, fold and the members' hash
        (:meth:`members_key`). Part of every training configuration (classifiers and the VAE)."""
        return {"split": self.name, "split_seed": self.seed, "fold": fold, "split_members": self.members_key(fold)}

    def songs_on_two_sides(self, fold: int = 0) -> int:
        """How many songs have slices in more than one subset of ``fold`` (0 for every split but ``paper``)."""
        sides = [{k.split("#")[0] for k in self.folds[fold][s]} for s in SUBSETS]
        return len((sides[0] & sides[1]) | (sides[0] & sides[2]) | (sides[1] & sides[2]))

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"fold": i, **{s: len(f[s]) for s in SUBSETS}} for i, f in enumerate(self.folds)])


def _rng(seed: int, *salt: str) -> np.random.Generator:
    digest = hashlib.sha256(("|".join([str(seed), *salt])).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _by_genre(tracks: pd.DataFrame) -> dict[str, list[str]]:
    """Track ids per genre, sorted: input order never matters."""
    t = tracks.drop_duplicates("track_id")
    return {g: sorted(ids) for g, ids in t.groupby("genre").track_id}


def _counts(n: int, fractions: tuple[float, ...]) -> list[int]:
    """Largest-remainder allocation of n items to fractions (every part at least 1 when n allows)."""
    raw = np.asarray(fractions) / sum(fractions) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    for i in range(len(counts)):  # make sure no subset is empty when there are enough items
        if counts[i] == 0 and n >= len(counts):
            j = int(np.argmax(counts))
            counts[j] -= 1
            counts[i] += 1
    return counts.tolist()


def song_split(tracks: pd.DataFrame, seed: int = 0, fractions=(0.8, 0.1, 0.1)) -> Split:
    """Stratified train/val/test by song."""
    fold = {s: [] for s in SUBSETS}
    for genre, ids in _by_genre(tracks).items():
        ids = list(_rng(seed, "song", genre).permutation(ids))
        start = 0
        for subset, k in zip(SUBSETS, _counts(len(ids), fractions)):
            fold[subset] += ids[start : start + k]
            start += k
    return Split(
        "song",
        seed,
        "song",
        [{s: sorted(v) for s, v in fold.items()}],
        note=f"stratified by genre, by song, fractions {list(fractions)}",
    )


def kfold_split(tracks: pd.DataFrame, seed: int = 0, k: int = 5, val_fraction: float = 0.1) -> Split:
    """Stratified k-fold by song; each fold's validation songs come from its training part."""
    if k < 2:
        raise GtzanError(f"k-fold needs k >= 2, got {k}")
    per_genre = _by_genre(tracks)
    if min(len(v) for v in per_genre.values()) < k:
        raise GtzanError(f"k-fold with k={k} needs at least {k} songs per genre; use a smaller k or the song split")
    folds = [{s: [] for s in SUBSETS} for _ in range(k)]
    for gi, (genre, ids) in enumerate(per_genre.items()):
        ids = list(_rng(seed, "kfold", genre).permutation(ids))
        assign = [(j + gi) % k for j in range(len(ids))]  # rotate so fold sizes stay balanced over genres
        for f in range(k):
            test = [t for t, a in zip(ids, assign) if a == f]
            rest = [t for t, a in zip(ids, assign) if a != f]
            n_val = max(1, int(round(val_fraction * len(rest)))) if len(rest) > 1 else 0
            folds[f]["test"] += test
            folds[f]["val"] += rest[:n_val]
            folds[f]["train"] += rest[n_val:]
    folds = [{s: sorted(v) for s, v in fold.items()} for fold in folds]
    return Split("kfold", seed, "song", folds, note=f"stratified {k}-fold by song, val {val_fraction:g} of the rest")


def paper_split(manifest: pd.DataFrame, seed: int = 0, fractions=(0.8, 0.1, 0.1)) -> Split:
    """The paper's code's random split of slices (LEAKY: slices of one song on both sides)."""
    keys = sorted((manifest.track_id + "#" + manifest.slice_index.astype(str)).unique())
    keys = list(_rng(seed, "paper").permutation(keys))
    counts = _counts(len(keys), fractions)
    fold, start = {}, 0
    for subset, c in zip(SUBSETS, counts):
        fold[subset] = sorted(keys[start : start + c])
        start += c
    return Split(
        "paper",
        seed,
        "slice",
        [fold],
        leaky=True,
        note="random split of slices as in the paper: slices of one song on both sides; kept only to measure the leak",
    )


def _track_name(line: str) -> str:
    """'blues/blues.00029.wav' -> 'blues.00029' (any extension)."""
    name = line.strip().replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if name.count(".") >= 2 else name


def filtered_lists(cache_dir=None, progress: bool = False) -> dict[str, list[str]]:
    """Download (once, sha256-checked) Kereliuk et al.'s three lists; subset → track names."""
    from gtzan_utils.data.dataset import fetch

    cache_dir = Path(cache_dir or data_home() / "meta")
    out = {}
    for subset, name in zip(SUBSETS, FILTERED_SHA256):
        path = fetch(FILTERED_URL.format(name=name), FILTERED_SHA256[name], cache_dir, fname=name, progress=progress)
        out[subset] = [_track_name(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def filtered_split(
    tracks: pd.DataFrame, lists: dict[str, list[str]] | None = None, cache_dir=None, min_match: float = 0.9
) -> Split:
    """The fault-filtered split; tracks not in the lists are left out (that is the filtering)."""
    lists = lists or filtered_lists(cache_dir)
    ids = {tid.rsplit("/", 1)[-1]: tid for tid in tracks.track_id}
    listed = [n for names in lists.values() for n in names]
    found = [n for n in listed if n in ids]
    if len(found) < min_match * len(listed):
        raise GtzanError(
            f"the fault-filtered split needs GTZAN: only {len(found)} of its {len(listed)} tracks are in this "
            f"dataset (names like blues.00029). Use the song or kfold split for other data."
        )
    fold = {s: sorted(ids[n] for n in lists[s] if n in ids) for s in SUBSETS}
    missing = sorted(set(listed) - set(found))
    return Split(
        "filtered",
        0,
        "song",
        [fold],
        note="Kereliuk, Sturm & Larsen (2015) fault-filtered split",
        extra={"missing": missing, "left_out": sorted(set(ids) - set(listed))},
    )


def make_split(
    name: str, tracks: pd.DataFrame, seed: int = 0, manifest: pd.DataFrame | None = None, k: int = 5, cache_dir=None
) -> Split:
    """Build a split by name and return the :class:`Split`; ``paper`` needs a store manifest (it splits slices).

    Notebook: 02_preprocessing
    """
    if name == "song":
        return song_split(tracks, seed)
    if name == "kfold":
        return kfold_split(tracks, seed, k=k)
    if name == "filtered":
        return filtered_split(tracks, cache_dir=cache_dir)
    if name == "paper":
        if manifest is None:
            raise GtzanError("the paper split divides slices: pass a store manifest")
        return paper_split(manifest, seed)
    raise GtzanError(f"unknown split {name!r}: use one of {', '.join(SPLITS)}")
