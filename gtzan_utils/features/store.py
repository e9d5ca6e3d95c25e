"""Feature store: one folder per (track list, feature parameters), arrays on disk, nothing pickled.

Layout of ``<store_root>/<kind>-<params key>-<tracks key>/``::

    params.json     the FeatureParams (+ label order); the folder name hashes them with the track list
    tracks.csv      the input track list (track_id, genre, path) in row order
    X.npy           float16 (n_tracks * n_slices, *shape); track i owns rows i*n_slices ... (i+1)*n_slices-1
    progress.txt    "track_index n_slices" per finished track, appended after its rows are on disk
    manifest.csv    row, track_id, genre, label, slice_index, path   (written when every track is done)
    complete.json   written last, atomically: the store is complete only when this file exists (it lists
                    the tracks skipped as undecodable or damaged, with the reason)
    .lock           held (fcntl.flock) by the one process filling the store; a second one is refused

The writer never maps ``X.npy``: rows are written with ``os.pwrite`` so that its memory stays flat
however large the dataset (page cache is the kernel's, not the process's). A killed run resumes and
computes only the tracks missing from ``progress.txt``. Readers open ``X.npy`` memory-mapped with
``allow_pickle=False``. Shown in notebook 02_preprocessing.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.files import atomic_write, write_text
from gtzan_utils.data.dataset import audio_problem, genre_labels, read_audio
from gtzan_utils.features.extract import FeatureParams, compute_song_kinds

DTYPE = np.float16


def _empty_array(path: Path, shape) -> None:
    """A ``.npy`` file of ``shape`` in :data:`DTYPE`: its header only, the data left sparse."""
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=DTYPE, shape=shape)
    del mm


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


def tracks_key(tracks: pd.DataFrame) -> str:
    """Hash of the track list (ids, genres, file sizes and contents, see :func:`file_fingerprint`): a
    changed dataset, or one file replaced by another of the same size, gets a new store."""
    prints = [file_fingerprint(p) for p in tracks.path]
    blob = "\n".join(f"{t}\t{g}\t{s}" for t, g, s in zip(tracks.track_id, tracks.genre, prints))
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def store_path(store_root, tracks: pd.DataFrame, params: FeatureParams, key: str | None = None) -> Path:
    """``key`` (from :func:`tracks_key`) spares re-hashing the track list for each kind."""
    return Path(store_root) / f"{params.kind}-{params.key}-{key or tracks_key(tracks)}"


class FeatureStore:
    """A complete store, opened read-only: ``X`` (memory-mapped float16), ``manifest``, ``params``."""

    def __init__(self, path):
        self.path = Path(path)
        if not (self.path / "complete.json").exists():
            raise GtzanError(f"feature store {self.path} is incomplete: run `gtzan featurize` again to finish it")
        meta = json.loads((self.path / "params.json").read_text())
        self.params = FeatureParams.from_dict(meta["params"])
        self.labels: list[str] = meta["labels"]
        self.manifest = pd.read_csv(self.path / "manifest.csv", dtype={"track_id": str})
        self.X = np.load(self.path / "X.npy", mmap_mode="r", allow_pickle=False)
        self.info = json.loads((self.path / "complete.json").read_text())

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
    def y(self) -> np.ndarray:
        """Integer label of every manifest row."""
        return self.manifest.label.to_numpy()

    def read(self, rows) -> np.ndarray:
        """float32 features of manifest rows ``rows`` (positions in the manifest, any order)."""
        rows = np.asarray(rows, dtype=np.int64)
        x_rows = self.manifest.row.to_numpy()[rows]
        order = np.argsort(x_rows, kind="stable")
        out = np.empty((len(rows), *self.params.shape), np.float32)
        out[order] = self.X[x_rows[order]]
        return out


def _featurize_one(index: int, path: str, params_list: list[FeatureParams]):
    """Worker: (index, [float16 features per params] or None, error message)."""
    try:
        y, info = read_audio(path, sr=None)  # decoded once; each sample rate the kinds need is made once from it
        problem = audio_problem(y)
        if problem:
            raise GtzanError(f"{path}: {problem}")
        return index, [f.astype(DTYPE) for f in compute_song_kinds(y, params_list, sr=info["sr"])], ""
    except GtzanError as exc:
        return index, None, str(exc)


def _read_progress(path: Path) -> dict[int, int]:
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and all(p.isdigit() for p in parts):  # a torn last line is ignored
                done[int(parts[0])] = int(parts[1])
    return done


LOCK_NAME = ".lock"


def _lock(path: Path):
    """Hold ``path/.lock`` exclusively (``fcntl.flock``) until the returned file is closed; None where the
    platform or file system has no locks. Raises GtzanError naming the holder when another process has it."""
    try:
        import fcntl
    except ImportError:  # Windows
        return None
    fh = open(path / LOCK_NAME, "a+")  # noqa: SIM115 (held open: the lock lives as long as the writer)
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise GtzanError(
            f"feature store {path} is being written by {holder} (lock file {path / LOCK_NAME}): "
            f"wait until that run finishes, then run again; it reuses or resumes the store"
        ) from None
    except OSError:  # a file system without flock (some network mounts): go on unlocked
        fh.close()
        return None
    fh.seek(0)
    fh.truncate()
    fh.write(f"process {os.getpid()} on {socket.gethostname()}\n")
    fh.flush()
    return fh


class _Writer:
    """One store being filled: its X.npy (written with pwrite, never mapped) and its progress log.
    Holds the store's lock file from creation to :meth:`release`, so that two processes never fill one store."""

    def __init__(self, tracks: pd.DataFrame, params: FeatureParams, store_root, key: str):
        self.params = params
        self.path = path = store_path(store_root, tracks, params, key)
        self.lock = None
        self.complete = (path / "complete.json").exists()
        if self.complete:
            return
        path.mkdir(parents=True, exist_ok=True)
        self.lock = _lock(path)
        try:
            self._prepare(tracks)
        except BaseException:
            self.release()
            raise

    def release(self):
        if self.lock is not None:
            self.lock.close()  # closing the file drops the flock
            self.lock = None

    def _prepare(self, tracks: pd.DataFrame):
        params, path = self.params, self.path
        if (path / "complete.json").exists():  # finished by the process that held the lock before us
            self.complete = True
            return
        if not (path / "params.json").exists():
            meta = {"params": params.to_dict(), "labels": genre_labels(tracks)}
            write_text(path / "params.json", json.dumps(meta, indent=1))
        if not (path / "tracks.csv").exists():
            atomic_write(path / "tracks.csv", lambda tmp: tracks.to_csv(tmp, index=False))
        n, shape = params.n_slices, params.shape
        self.xpath = xpath = path / "X.npy"
        if not xpath.exists():
            # only the header is written; the file is sparse
            atomic_write(xpath, lambda tmp: _empty_array(tmp, (len(tracks) * n, *shape)))
        with open(xpath, "rb") as fh:
            np.lib.format.read_magic(fh)
            header_shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            self.offset = fh.tell()
        if header_shape != (len(tracks) * n, *shape) or dtype != np.dtype(DTYPE):
            raise GtzanError(f"{xpath} does not match its parameters: delete {path} and run again")
        self.row_bytes = int(np.prod(shape)) * np.dtype(DTYPE).itemsize
        self.progress_path = path / "progress.txt"
        self.done = _read_progress(self.progress_path)
        # rewrite the log from what parsed, so that a line torn by a kill cannot swallow the next one
        write_text(self.progress_path, "".join(f"{i} {k}\n" for i, k in sorted(self.done.items())))
        self.pending: list[str] = []

    def open(self):
        self.fd = os.open(self.xpath, os.O_RDWR)
        self.log = open(self.progress_path, "a")  # noqa: SIM115 (closed in close(), after the last commit)

    def write(self, i: int, feats: np.ndarray):
        data = feats.tobytes()
        try:
            n = os.pwrite(self.fd, data, self.offset + i * self.params.n_slices * self.row_bytes)
        except OSError as exc:
            n, why = -1, exc.strerror
        else:
            why = "disk full?"
        if n != len(data):  # the song is not recorded as done: a re-run computes it again
            raise GtzanError(
                f"writing {self.xpath} failed ({why}): {max(n, 0)} of {len(data)} bytes written. "
                f"Free some disk space and run again: it resumes from the last saved song"
            )
        self.pending.append(f"{i} {len(feats)}\n")

    def commit(self):
        os.fsync(self.fd)  # rows reach the disk before the progress line that vouches for them
        self.log.write("".join(self.pending))
        self.log.flush()
        os.fsync(self.log.fileno())
        for line in self.pending:
            i, k = line.split()
            self.done[int(i)] = int(k)
        self.pending.clear()

    def close(self):
        try:
            self.commit()
        except OSError as exc:  # a full disk while saving the progress log: the unlogged songs are redone
            raise GtzanError(
                f"cannot save the progress of {self.path} ({exc.strerror}): free some disk space "
                f"and run again; it resumes"
            ) from None
        finally:
            os.close(self.fd)
            self.log.close()


def build_stores(
    tracks: pd.DataFrame,
    params_list,
    store_root,
    n_jobs: int = 2,
    progress: bool = True,
    flush_every: int = 16,
    limit: int | None = None,
) -> dict[str, FeatureStore] | None:
    """Featurize ``tracks`` (path, genre, track_id) into one store per entry of ``params_list`` in one pass
    (each song is read once and the kinds share their STFTs); resumes partial stores; returns them by kind.

    A file that cannot be featurized (undecodable, NaN/inf samples, all silent, too short) is skipped: the
    store is finished without it, its reason is printed and kept in ``complete.json`` (``skipped``). A store
    being filled by another process raises GtzanError (its lock file is held). ``limit`` stops after that
    many new tracks (used by tests to simulate a killed run; returns None). Notebook: 02_preprocessing.
    """
    from joblib import Parallel, delayed

    from gtzan_utils.base.progress import progress as show_progress

    tracks = tracks[["track_id", "genre", "path"]].reset_index(drop=True)
    if tracks.empty:
        raise GtzanError("no tracks to featurize: check the data folder with `gtzan validate`")
    key = tracks_key(tracks)
    writers: list[_Writer] = []
    try:
        for p in params_list:
            writers.append(_Writer(tracks, p, store_root, key))
        active = [w for w in writers if not w.complete]
        todo = [i for i in range(len(tracks)) if any(i not in w.done for w in active)]
        if limit is not None:
            todo = todo[:limit]
        errors: dict[int, str] = {}
        t0 = time.perf_counter()
        if todo:

            def job(i):
                return [w.params for w in active if i not in w.done]

            if n_jobs == 1:
                results = (_featurize_one(i, tracks.path[i], job(i)) for i in todo)
            else:
                results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                    delayed(_featurize_one)(i, tracks.path[i], job(i)) for i in todo
                )
            kinds = ", ".join(w.params.kind for w in active)
            for w in active:
                w.open()
            try:
                shown = show_progress(
                    results, total=len(todo), desc=f"featurize {kinds}", unit="song", disable=not progress
                )
                for n_done, (i, feats, err) in enumerate(shown, 1):
                    if feats is None:
                        errors[i] = err
                        continue
                    for w, f in zip([w for w in active if i not in w.done], feats):
                        w.write(i, f)
                    if n_done % flush_every == 0:
                        for w in active:
                            w.commit()
            finally:
                for w in active:
                    w.close()
        if errors:
            listing = "\n  ".join(f"{tracks.track_id[i]}: {e}" for i, e in sorted(errors.items()))
            print(
                f"skipped {len(errors)} file(s) that cannot be featurized (the other tracks are kept; "
                f"`gtzan validate` lists them):\n  {listing}"
            )
        if any(i not in w.done and i not in errors for w in active for i in range(len(tracks))):
            return None  # stopped early on purpose (limit)
        labels = genre_labels(tracks)
        for w in active:
            _finish(
                w.path,
                tracks,
                labels,
                w.done,
                w.params.n_slices,
                time.perf_counter() - t0,
                skipped={tracks.track_id[i]: e for i, e in sorted(errors.items())},
            )
        return {w.params.kind: FeatureStore(w.path) for w in writers}
    finally:
        for w in writers:
            w.release()


def build_store(tracks: pd.DataFrame, params: FeatureParams, store_root, **kw) -> FeatureStore | None:
    """:func:`build_stores` for one kind."""
    out = build_stores(tracks, [params], store_root, **kw)
    return None if out is None else out[params.kind]


def _finish(
    path: Path,
    tracks: pd.DataFrame,
    labels: list[str],
    done: dict[int, int],
    n: int,
    seconds: float,
    skipped: dict[str, str] | None = None,
) -> None:
    label_of = {g: i for i, g in enumerate(labels)}
    rows = [
        (i * n + s, t.track_id, t.genre, label_of[t.genre], s, t.path)
        for i, t in enumerate(tracks.itertuples(index=False))
        for s in range(done.get(i, 0))
    ]
    manifest = pd.DataFrame(rows, columns=["row", "track_id", "genre", "label", "slice_index", "path"])
    atomic_write(path / "manifest.csv", lambda tmp: manifest.to_csv(tmp, index=False))
    short = {tracks.track_id[i]: k for i, k in done.items() if k < n}
    info = {
        "tracks": len(tracks),
        "slices": len(manifest),
        "tracks_with_fewer_slices": short,
        "skipped": skipped or {},
        "seconds_last_session": round(seconds, 2),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    write_text(path / "complete.json", json.dumps(info, indent=1))


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
        disk = sum(f.stat().st_blocks * 512 for f in s.path.iterdir() if f.is_file())
        rows.append(
            {
                "kind": kind,
                "slice shape": str(s.params.shape),
                "slices": len(s),
                "tracks": s.manifest.track_id.nunique(),
                "MB on disk": round(disk / 1e6, 1),
                "store": s.path.name,
            }
        )
    return pd.DataFrame(rows)
