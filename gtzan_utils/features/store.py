"""Feature store: one folder per (track list, feature parameters), arrays on disk in shards, nothing pickled.

Layout of ``<store_root>/<kind>-<params key>-<tracks key>/``::

    params.json         the FeatureParams, label order, format and ``shard_songs`` (S); the folder name hashes the
                        parameters with the track list
    tracks.parquet      the input track list (track_id, genre, path) in row order
    shards/00000.npy    float16 (S * n_slices, *shape): tracks 0 .. S-1; track i of a shard owns its rows
                        i*n_slices ... (i+1)*n_slices-1 (rows of a short or skipped track stay zero)
    shards/00000.json   the shard's done-marker, written last and atomically: slices per track, tracks skipped
                        (undecodable, damaged) with the reason, the host and process that computed it
    manifest.parquet    row, track_id, genre, label, slice_index, path   (written when every shard is done)
    complete.json       written last, atomically: the store is complete only when this file exists

**Who writes.** One task of :mod:`gtzan_utils.base.engine` builds one shard of songs for every kind being built:
it decodes each song once, computes all kinds from the shared STFT (:func:`extract.compute_song_kinds`), writes
the rows straight into each kind's shard file (a hidden temporary file, renamed when whole) and then the shard's
done-marker; it returns only small metadata. Workers write their own shards, so there is no single writer and no
lock; the process that started the build writes the manifest when every shard is done. A shard with its marker is
done: a killed run, or a task re-run after its worker died, recomputes only the shards without one. Two runs
filling one store compute the same shards twice and rename identical files over each other.

**Why ``.npy`` shards.** Training draws random batches (:mod:`gtzan_utils.features.batches`): a batch of 32
random slices reads in 0.18 ms from a memory-mapped ``.npy`` and in 23–76 ms from Zarr 3.1 (DESIGN.md), so readers
memory-map each shard (``allow_pickle=False``) — on a shared filesystem every node reads the same files. A writer
never maps its shard (it seeks and writes one song at a time), so its memory stays flat however large the data.
``S`` comes from the number of tracks alone (:func:`shard_songs`: at most 64, about 32 shards for small sets), so a
resumed run finds the same shards whatever its number of workers. Shown in notebook 02_preprocessing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gtzan_utils.base import engine
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.files import atomic_write, is_temporary, read_json, write_json, write_text
from gtzan_utils.data.dataset import audio_problem, genre_labels, read_audio
from gtzan_utils.features.extract import FeatureParams, compute_song_kinds

DTYPE = np.float16
#: The on-disk layout of a store (params.json's ``format``); folders of another format are refused, not misread.
STORE_FORMAT = 2
#: The most songs in one shard (one task); fewer for small sets, so that the work spreads over the workers.
MAX_SHARD_SONGS = 64
SHARDS = "shards"
#: Reads of at most this many rows copy row by row (a training batch); larger ones gather shard by shard.
BATCH_ROWS = 128
#: A shard's temporary file untouched for this long belongs to a killed task and is removed when the store finishes.
STALE_SECONDS = 600


def shard_songs(n_tracks: int) -> int:
    """Songs per shard for a store of ``n_tracks``: about 32 shards, between 1 and :data:`MAX_SHARD_SONGS` songs."""
    return int(min(MAX_SHARD_SONGS, max(1, -(-n_tracks // 32))))


def _empty_array(path: Path, shape) -> int:
    """A ``.npy`` file of ``shape`` in :data:`DTYPE`: its header only, the data left sparse. Returns the offset of
    the data in the file."""
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=DTYPE, shape=shape)
    offset = mm.offset
    del mm
    return offset


#: Bytes hashed at each end of a file by :func:`file_fingerprint`.
FINGERPRINT_BYTES = 1 << 16


def file_fingerprint(path) -> str:
    """Size and a hash of the first and last 64 KiB of a file ("missing" when absent): a file replaced by
    another of the same size changes it, a copy of the dataset elsewhere (another Colab session) does not.
    An edit confined to the middle of a file escapes it (hashing whole files costs a full read per run)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(FINGERPRINT_BYTES)
            fh.seek(max(0, size - FINGERPRINT_BYTES))
            tail = fh.read(FINGERPRINT_BYTES)
    except OSError:
        return "missing"
    return f"{size}:{hashlib.sha256(head + tail).hexdigest()[:16]}"


def _fingerprints(item: tuple[int, tuple[str, ...]]) -> tuple[int, list[str]]:
    """Task: ``(first index, paths)`` → ``(first index, their fingerprints)``."""
    first, paths = item
    return first, [file_fingerprint(p) for p in paths]


def tracks_key(tracks: pd.DataFrame, n_jobs: int | None = None) -> str:
    """Hash of the track list (ids, genres, file sizes and contents, see :func:`file_fingerprint`): a
    changed dataset, or one file replaced by another of the same size, gets a new store. The files are read
    through the engine (``n_jobs``; on a cluster by its workers)."""
    paths = [str(p) for p in tracks.path]
    prints = [""] * len(paths)
    per = engine.chunk_size(len(paths), n_jobs, most=512)
    items = [(r.start, tuple(paths[r.start : r.stop])) for r in engine.chunks(len(paths), per)]
    for first, part in engine.map_unordered(_fingerprints, items, n_jobs, progress=False):
        prints[first : first + len(part)] = part
    blob = "\n".join(f"{t}\t{g}\t{s}" for t, g, s in zip(tracks.track_id, tracks.genre, prints))
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def store_path(store_root, tracks: pd.DataFrame, params: FeatureParams, key: str | None = None) -> Path:
    """``key`` (from :func:`tracks_key`) spares re-hashing the track list for each kind."""
    return Path(store_root) / f"{params.kind}-{params.key}-{key or tracks_key(tracks)}"


def shard_file(path, shard: int, suffix: str = ".npy") -> Path:
    """The array (``.npy``) or done-marker (``.json``) of shard ``shard`` of the store at ``path``."""
    return Path(path) / SHARDS / f"{shard:05d}{suffix}"


def _check_format(path: Path, meta: dict) -> None:
    if meta.get("format") != STORE_FORMAT:
        raise GtzanError(
            f"feature store {path} was written by another version of gtzan_utils (format {meta.get('format', 1)}, "
            f"this one reads {STORE_FORMAT}): run notebook 02_preprocessing (or `gtzan featurize`) again to rebuild "
            f"it — the new store gets its own folder — and delete {path} when no run needs it"
        )


class FeatureStore:
    """A complete store, opened read-only: ``read(rows)``, ``manifest``, ``y``, ``params``, ``labels``, ``path``.

    Rows are positions in the manifest; :meth:`read` gathers them from the memory-mapped shards.
    """

    def __init__(self, path):
        self.path = Path(path)
        if not (self.path / "complete.json").exists():
            raise GtzanError(f"feature store {self.path} is incomplete: run `gtzan featurize` again to finish it")
        meta = json.loads((self.path / "params.json").read_text())
        _check_format(self.path, meta)
        self.params = FeatureParams.from_dict(meta["params"])
        self.labels: list[str] = meta["labels"]
        self.shard_songs: int = int(meta["shard_songs"])
        self.manifest = pd.read_parquet(self.path / "manifest.parquet")
        self.info = json.loads((self.path / "complete.json").read_text())
        self._x_rows = self.manifest.row.to_numpy(np.int64)
        self._rows_per_shard = self.shard_songs * self.params.n_slices
        self._shards: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.manifest)

    def __repr__(self) -> str:
        return (
            f"FeatureStore({self.path.name}: {len(self)} slices of {self.manifest.track_id.nunique()} "
            f"tracks, shape {self.params.shape}, {self.nbytes / 1e6:.1f} MB)"
        )

    @property
    def nbytes(self) -> int:
        return len(self) * int(np.prod(self.params.shape)) * np.dtype(DTYPE).itemsize

    @property
    def n_shards(self) -> int:
        return int(self.info["shards"])

    @property
    def y(self) -> np.ndarray:
        """Integer label of every manifest row."""
        return self.manifest.label.to_numpy()

    def shard(self, j: int) -> np.ndarray:
        """Shard ``j``'s float16 array, memory-mapped (opened once)."""
        x = self._shards.get(j)
        if x is None:
            mm = np.load(shard_file(self.path, j), mmap_mode="r", allow_pickle=False)
            x = self._shards[j] = mm.view(np.ndarray)  # a plain view (the mapping stays alive): faster indexing
        return x

    def shard_rows(self, j: int) -> np.ndarray:
        """The manifest positions of shard ``j``'s slices (consecutive: shards hold consecutive tracks)."""
        lo, hi = np.searchsorted(self._x_rows, [j * self._rows_per_shard, (j + 1) * self._rows_per_shard])
        return np.arange(lo, hi)

    def read(self, rows) -> np.ndarray:
        """float32 features of manifest rows ``rows`` (positions in the manifest, any order).

        A training batch (a few dozen rows) is copied row by row from the memory-mapped shards straight into the
        float32 output, which is as fast as one gather from a single array was (``docs/timings.md``); larger reads
        gather shard by shard."""
        rows = np.asarray(rows, dtype=np.int64)
        shard, local = np.divmod(self._x_rows[rows], self._rows_per_shard)
        out = np.empty((len(rows), *self.params.shape), np.float32)
        if len(rows) <= BATCH_ROWS:
            opened = self._shards
            for i, (j, r) in enumerate(zip(shard.tolist(), local.tolist())):
                x = opened.get(j)
                out[i] = (x if x is not None else self.shard(j))[r]
            return out
        order = np.argsort(shard, kind="stable")
        bounds = np.flatnonzero(np.diff(shard[order])) + 1
        for part in np.split(order, bounds):
            out[part] = self.shard(int(shard[part[0]]))[local[part]]
        return out


# -- building: one task per shard ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ShardTask:
    """One shard to build (what a task receives): its index, the global index of its first track, the tracks'
    paths, and the ``(params, store folder)`` of every kind still missing this shard."""

    shard: int
    first: int
    paths: tuple[str, ...]
    targets: tuple[tuple[FeatureParams, str], ...]


def _marker(path, shard: int) -> dict | None:
    return read_json(shard_file(path, shard, ".json"))


def _write_together(paths: list[Path], write) -> None:
    """``write(temporary paths)``, then every file renamed into place (:func:`atomic_write`, nested): all of them
    or, if ``write`` fails, none."""
    if not paths:
        write([])
        return
    atomic_write(paths[0], lambda tmp: _write_together(paths[1:], lambda rest: write([tmp, *rest])))


def _featurize_song(path: str, params_list: list[FeatureParams]) -> tuple[list[np.ndarray] | None, str]:
    """Every kind of one song, decoded once: ([float16 features per params], "") or (None, why not)."""
    try:
        y, info = read_audio(path, sr=None)  # decoded once; each sample rate the kinds need is made once from it
        problem = audio_problem(y)
        if problem:
            raise GtzanError(f"{path}: {problem}")
        return [f.astype(DTYPE) for f in compute_song_kinds(y, params_list, sr=info["sr"])], ""
    except GtzanError as exc:
        return None, str(exc)


def _one_blas_thread():
    """BLAS limited to one thread, as in a Dask worker of one thread: the same sums in the same order wherever a task
    runs (in this process or on a worker), so the arrays are identical; and no oversubscription on a worker."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn (a librosa dependency); without it, no limit
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def build_shard(task: ShardTask) -> dict:
    """Task: build shard ``task.shard`` of every store in ``task.targets`` that lacks its done-marker, song by
    song, and write the markers; returns the shard's metadata (``songs``, ``kinds`` computed, ``skipped``, where it
    ran). A shard whose markers all exist is not recomputed (a task re-run after its worker died)."""
    t0 = time.perf_counter()
    todo = [(p, Path(root)) for p, root in task.targets if _marker(root, task.shard) is None]
    where = {"host": socket.gethostname(), "pid": os.getpid()}
    out = {"shard": task.shard, "songs": len(task.paths), "kinds": [p.kind for p, _ in todo], **where}
    if not todo:
        out["skipped"] = (_marker(task.targets[0][1], task.shard) or {}).get("skipped", {}) if task.targets else {}
        return out
    params_list = [p for p, _ in todo]
    k = len(task.paths)
    slices = {p.kind: [0] * k for p in params_list}
    skipped: dict[str, str] = {}

    def write(tmps: list[Path]):
        offsets = [_empty_array(tmp, (k * p.n_slices, *p.shape)) for tmp, p in zip(tmps, params_list)]
        handles = [open(tmp, "r+b") for tmp in tmps]  # noqa: SIM115 (closed below, after the last song)
        try:
            with _one_blas_thread():
                for i, song in enumerate(task.paths):
                    feats, why = _featurize_song(song, params_list)
                    if feats is None:
                        skipped[str(task.first + i)] = why
                        continue
                    for fh, off, p, f in zip(handles, offsets, params_list, feats):
                        row_bytes = int(np.prod(p.shape)) * np.dtype(DTYPE).itemsize
                        fh.seek(off + i * p.n_slices * row_bytes)
                        fh.write(f.tobytes())
                        slices[p.kind][i] = len(f)
            for fh in handles:
                fh.flush()
                os.fsync(fh.fileno())  # the rows reach the disk before the marker that vouches for them
        finally:
            for fh in handles:
                fh.close()

    try:
        _write_together([shard_file(root, task.shard) for _, root in todo], write)
        for p, root in todo:
            marker = {
                "shard": task.shard,
                "first": task.first,
                "songs": k,
                "slices": slices[p.kind],
                "skipped": skipped,
                "seconds": round(time.perf_counter() - t0, 3),
                **where,
                "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
            write_json(shard_file(root, task.shard, ".json"), marker, indent=None)
    except OSError as exc:
        raise GtzanError(
            f"writing shard {task.shard} of {todo[0][1]} failed ({exc.strerror or exc}): free some disk space and run "
            f"again; it resumes from the last finished shard"
        ) from None
    seconds = round(time.perf_counter() - t0, 3)
    return {**out, "skipped": skipped, "seconds": seconds}


def _prepare(tracks: pd.DataFrame, params: FeatureParams, path: Path) -> int:
    """Create the store folder's params.json and tracks.parquet if missing; returns its songs per shard."""
    meta = read_json(path / "params.json")
    if meta is None:
        meta = {
            "params": params.to_dict(),
            "labels": genre_labels(tracks),
            "format": STORE_FORMAT,
            "shard_songs": shard_songs(len(tracks)),
        }
        write_json(path / "params.json", meta)
    _check_format(path, meta)
    if not (path / "tracks.parquet").exists():
        atomic_write(path / "tracks.parquet", lambda tmp: tracks.to_parquet(tmp, index=False))
    return int(meta["shard_songs"])


def build_stores(
    tracks: pd.DataFrame,
    params_list,
    store_root,
    n_jobs: int = 2,
    progress: bool = True,
    limit: int | None = None,
) -> dict[str, FeatureStore] | None:
    """Featurize ``tracks`` (path, genre, track_id) into one store per entry of ``params_list`` in one pass
    (each song is read once and the kinds share their STFTs); resumes partial stores; returns them by kind.

    The work goes through :mod:`gtzan_utils.base.engine` (``n_jobs`` local worker processes, 1 = this process, or the
    cluster of ``$GTZAN_SCHEDULER``), one task per shard. A file that cannot be featurized (undecodable, NaN/inf
    samples, all silent, too short) is skipped: the store is finished without it, its reason is printed and kept
    in ``complete.json`` (``skipped``). ``limit`` stops after that many shards (tests use it to simulate a killed
    run; returns None). Notebook: 02_preprocessing.
    """
    tracks = tracks[["track_id", "genre", "path"]].reset_index(drop=True)
    if tracks.empty:
        raise GtzanError("no tracks to featurize: check the data folder with `gtzan validate`")
    t0 = time.perf_counter()
    key = tracks_key(tracks, n_jobs)
    paths = {p.kind: store_path(store_root, tracks, p, key) for p in params_list}
    active = [p for p in params_list if not (paths[p.kind] / "complete.json").exists()]
    per_shard = {p.kind: _prepare(tracks, p, paths[p.kind]) for p in active}
    tasks = []
    for size in sorted(set(per_shard.values())):  # one layout unless stores of another layout are being resumed
        group = [p for p in active if per_shard[p.kind] == size]
        for j, r in enumerate(engine.chunks(len(tracks), size)):
            targets = tuple((p, str(paths[p.kind])) for p in group if _marker(paths[p.kind], j) is None)
            if targets:
                tasks.append(ShardTask(j, r.start, tuple(str(x) for x in tracks.path[r.start : r.stop]), targets))
    if limit is not None:
        tasks = tasks[:limit]
    if tasks:
        kinds = ", ".join(p.kind for p in active)
        results = engine.map_unordered(
            build_shard,
            tasks,
            n_jobs,
            desc=f"featurize {kinds}",
            unit="song",
            progress=progress,
            size=lambda r: r["songs"],
            total=sum(len(t.paths) for t in tasks),
        )
        for _ in results:
            pass
    n_shards = {p.kind: len(engine.chunks(len(tracks), per_shard[p.kind])) for p in active}
    if any(_marker(paths[p.kind], j) is None for p in active for j in range(n_shards[p.kind])):
        return None  # stopped early on purpose (limit)
    labels = genre_labels(tracks)
    shown = False
    for p in active:
        skipped = _finish(paths[p.kind], tracks, labels, p.n_slices, per_shard[p.kind], time.perf_counter() - t0)
        if skipped and not shown:
            listing = "\n  ".join(f"{t}: {e}" for t, e in skipped.items())
            print(
                f"skipped {len(skipped)} file(s) that cannot be featurized (the other tracks are kept; "
                f"`gtzan validate` lists them):\n  {listing}"
            )
            shown = True
    return {p.kind: FeatureStore(paths[p.kind]) for p in params_list}


def build_store(tracks: pd.DataFrame, params: FeatureParams, store_root, **kw) -> FeatureStore | None:
    """:func:`build_stores` for one kind."""
    out = build_stores(tracks, [params], store_root, **kw)
    return None if out is None else out[params.kind]


def _finish(path: Path, tracks: pd.DataFrame, labels: list[str], n: int, size: int, seconds: float) -> dict:
    """The manifest and complete.json of a store whose shards are all done, from their markers; returns the tracks
    skipped (track id → reason)."""
    counts = np.zeros(len(tracks), np.int64)
    skipped: dict[str, str] = {}
    workers = set()
    for j, r in enumerate(engine.chunks(len(tracks), size)):
        m = _marker(path, j)
        counts[r.start : r.stop] = m["slices"]
        skipped.update({tracks.track_id[int(i)]: why for i, why in m["skipped"].items()})
        workers.add(f"{m['host']}:{m['pid']}")
    track = np.repeat(np.arange(len(tracks)), counts)
    slice_index = np.arange(len(track)) - np.repeat(np.cumsum(counts) - counts, counts)
    label_of = {g: i for i, g in enumerate(labels)}
    manifest = pd.DataFrame(
        {
            "row": track * n + slice_index,
            "track_id": tracks.track_id.to_numpy()[track],
            "genre": tracks.genre.to_numpy()[track],
            "label": tracks.genre.map(label_of).to_numpy(np.int64)[track],
            "slice_index": slice_index,
            "path": tracks.path.to_numpy()[track],
        }
    )
    atomic_write(path / "manifest.parquet", lambda tmp: manifest.to_parquet(tmp, index=False))
    now = time.time()
    for f in (path / SHARDS).iterdir():  # temporary files of tasks killed mid-shard; a live writer (another run
        with contextlib.suppress(FileNotFoundError):  # filling this store) touches its own with every song
            if is_temporary(f) and now - f.stat().st_mtime > STALE_SECONDS:
                f.unlink()
    info = {
        "tracks": len(tracks),
        "slices": len(manifest),
        "shards": len(engine.chunks(len(tracks), size)),
        "shard_songs": size,
        "tracks_with_fewer_slices": {tracks.track_id[i]: int(c) for i, c in enumerate(counts) if 0 < c < n},
        "skipped": skipped,
        "workers": sorted(workers),
        "seconds_last_session": round(seconds, 2),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    write_json(path / "complete.json", info)
    return skipped


def featurize_all(
    tracks: pd.DataFrame, kinds, store_root, base: FeatureParams | None = None, n_jobs: int = 2, progress: bool = True
) -> dict[str, FeatureStore]:
    """One store per kind (a dict kind → :class:`FeatureStore`), sharing every parameter of ``base`` but the kind,
    filled in one pass.

    Notebook: 02_preprocessing
    """
    import dataclasses

    base = base or FeatureParams()
    return build_stores(
        tracks, [dataclasses.replace(base, kind=k) for k in kinds], store_root, n_jobs=n_jobs, progress=progress
    )


# -- the run folder's index of stores (written by 02, read by 03-05) -------------------------------------
INDEX_NAME = "stores.json"
#: The index of the overlapping training windows (:func:`gtzan_utils.features.extract.windows_of`), same format.
WINDOWS_INDEX = "windows.json"


def _relative(path: Path, start: Path) -> str:
    try:
        return os.path.relpath(Path(path).resolve(), Path(start).resolve())
    except ValueError:  # another drive (Windows): no relative path exists
        return str(Path(path).resolve())


def write_index(stores: dict[str, FeatureStore], out_dir, name: str = INDEX_NAME) -> Path:
    """``out_dir/stores.json`` (or ``name``): each kind's store as a path relative to ``out_dir`` (no absolute path
    that dies with a Colab session; the folder name alone identifies the store). Returns the path.

    Notebook: 02_preprocessing
    """
    path = Path(out_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps({k: _relative(s.path, path.parent) for k, s in stores.items()}, indent=1))
    return path


def open_index(out_dir, search=(), name: str = INDEX_NAME) -> dict[str, FeatureStore]:
    """The stores that notebook 02 wrote into ``out_dir`` (its folder of the run), by kind.

    A store is looked for where ``stores.json`` records it (relative to ``out_dir``; older indexes hold
    absolute paths), then by its folder name under each root of ``search`` and under ``data/stores`` (the
    default store root, ``$GTZAN_DATA_HOME/stores``); a store found elsewhere is announced. A store found
    nowhere raises GtzanError saying how to rebuild it (run 02 again: the same data and parameters give the
    same folder name).

    Notebook: 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation
    """
    from gtzan_utils.base.layout import data_home

    path = Path(out_dir) / name
    if not path.exists():
        raise GtzanError(f"{path} not found: run notebook 02_preprocessing for this run folder first")
    out, lost = {}, []
    for kind, recorded in json.loads(path.read_text()).items():
        recorded = Path(recorded)
        first = Path(os.path.normpath(recorded if recorded.is_absolute() else path.parent / recorded))
        roots = [Path(r).expanduser() for r in search] + [data_home() / "stores"]
        candidates = [first] + [r / recorded.name for r in roots]
        found = next((c for c in candidates if (c / "complete.json").exists()), None)
        found = found or next((c for c in candidates if c.is_dir()), None)  # an incomplete one says so
        if found is None:
            lost.append(f"{kind} ({recorded.name})")
            continue
        if found != first:
            print(f"feature store {recorded.name} is not at {first}; using {found}")
        out[kind] = FeatureStore(found)
    if lost:
        raise GtzanError(
            f"feature store(s) {', '.join(lost)} listed in {path} were not found where it records them nor "
            f"under {data_home() / 'stores'}. Stores live outside the run folder (on Colab they vanish with the "
            f"session unless STORE_DIR or GTZAN_DATA_HOME points to Drive): run notebook 02_preprocessing again "
            f"with the same DATA and parameters to rebuild them, or set GTZAN_DATA_HOME to the folder holding "
            f"stores/"
        )
    return out


def open_windows(out_dir, search=()) -> dict[str, FeatureStore]:
    """The training-window stores that notebook 02 wrote into ``out_dir`` (``windows.json``), by kind; ``{}`` when
    it wrote none (``TRAIN_HOP_SECONDS`` 0). Found and reported like :func:`open_index`.

    Notebook: 03_vanilla_cnn, 05_vae_generation
    """
    if not (Path(out_dir) / WINDOWS_INDEX).exists():
        return {}
    return open_index(out_dir, search, name=WINDOWS_INDEX)


def describe(stores: dict[str, FeatureStore]) -> pd.DataFrame:
    """A DataFrame of the kind, slice shape, slices, tracks and bytes on disk of each store.

    Notebook: 02_preprocessing
    """
    rows = []
    for kind, s in stores.items():
        files = [f for f in s.path.rglob("*") if f.is_file()]
        disk = sum(f.stat().st_blocks * 512 for f in files)
        rows.append(
            {
                "kind": kind,
                "slice shape": str(s.params.shape),
                "slices": len(s),
                "tracks": s.manifest.track_id.nunique(),
                "shards": s.n_shards,
                "files": len(files),
                "MB on disk": round(disk / 1e6, 1),
                "store": s.path.name,
            }
        )
    return pd.DataFrame(rows)
