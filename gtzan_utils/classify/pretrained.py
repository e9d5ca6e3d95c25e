"""Audio backbones whose weights ship offline: musicnn (Pons & Serra 2019), rebuilt in Keras 3.

The four TF1 checkpoints of musicnn's PyPI wheel (``pip install --no-deps musicnn==0.1.0``, ISC licence) are
package data only: its own Python code needs TF1 and its metadata pins ``numpy<1.17``, so none of its modules
is ever imported. The package folder is found with ``importlib.util.find_spec`` (which does not execute the
package) and the variables are read with ``tf.compat.v1.train.NewCheckpointReader``; the architecture is
rebuilt here with plain Keras layers and the weights are set by variable name.

=============== ========================================= ==================================================
checkpoint      trained on                                embedding (penultimate)
=============== ========================================= ==================================================
``MSD_musicnn`` Million Song Dataset, top-50 Last.fm tags  200-d (batch-norm after dense 200), any input length
``MTT_musicnn`` MagnaTagATune, top-50 tags                 200-d, any input length
``MSD_vgg``     Million Song Dataset                       256-d (flattened last pooling), 187-frame patches
``MTT_vgg``     MagnaTagATune                              256-d, 187-frame patches
=============== ========================================= ==================================================

**Whole input or 3-s patches.** musicnn ends in a global max+mean pooling over time, so any input length goes
through whole: a 5-s store slice (313 frames) or a whole clip is one forward pass, and that is what every
function here does. The VGG checkpoints end in a dense layer on a fixed-size map, so their inputs are cut into
187-frame (≈ 3 s) patches (the last one aligned to the end) and patch outputs are averaged.

Input: :func:`input_features` (16 kHz, n_fft 512, hop 256, 96 mels, ``log10(10000·S + 1)`` in float32; the
store kind ``musicnn`` of :mod:`gtzan_utils.features.extract` holds the same arrays as (96, frames)).
Shown in notebook 04_transfer_learning.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.files import atomic_write, write_json, write_npy
from gtzan_utils.features.extract import MUSICNN_INPUT, FeatureParams, musicnn_log_mel, resample

CHECKPOINTS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
PIP_COMMAND = "pip install --no-deps musicnn==0.1.0"
#: frames of the patches the checkpoints were trained on (3 s at 16 kHz, hop 256)
PATCH_FRAMES = 187
N_MELS = MUSICNN_INPUT["n_mels"]
BN_EPSILON = 1e-3

#: musicnn's top-50 tags, in output order (facts of the checkpoints, from the musicnn package's documentation)
MSD_TAGS = (
    "rock",
    "pop",
    "alternative",
    "indie",
    "electronic",
    "female vocalists",
    "dance",
    "00s",
    "alternative rock",
    "jazz",
    "beautiful",
    "metal",
    "chillout",
    "male vocalists",
    "classic rock",
    "soul",
    "indie rock",
    "Mellow",
    "electronica",
    "80s",
    "folk",
    "90s",
    "chill",
    "instrumental",
    "punk",
    "oldies",
    "blues",
    "hard rock",
    "ambient",
    "acoustic",
    "experimental",
    "female vocalist",
    "guitar",
    "Hip-Hop",
    "70s",
    "party",
    "country",
    "easy listening",
    "sexy",
    "catchy",
    "funk",
    "electro",
    "heavy metal",
    "Progressive rock",
    "60s",
    "rnb",
    "indie pop",
    "sad",
    "House",
    "happy",
)
MTT_TAGS = (
    "guitar",
    "classical",
    "slow",
    "techno",
    "strings",
    "drums",
    "electronic",
    "rock",
    "fast",
    "piano",
    "ambient",
    "beat",
    "violin",
    "vocal",
    "synth",
    "female",
    "indian",
    "opera",
    "male",
    "singing",
    "vocals",
    "no vocals",
    "harpsichord",
    "loud",
    "quiet",
    "flute",
    "woman",
    "male vocal",
    "no vocal",
    "pop",
    "soft",
    "sitar",
    "solo",
    "man",
    "classic",
    "choir",
    "voice",
    "new age",
    "dance",
    "male voice",
    "female vocal",
    "beats",
    "harp",
    "cello",
    "no voice",
    "weird",
    "country",
    "metal",
    "female voice",
    "choral",
)

#: max-pooling (pool, stride) of the five VGG blocks, read from each checkpoint's own graph (they differ from
#: each other and from musicnn's models.py: built with the latter, MSD_vgg loads but its tags are off by 0.55)
VGG_POOLS = {
    "MSD_vgg": (((4, 1), (4, 1)), ((1, 4), (1, 4)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4))),
    "MTT_vgg": (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4))),
}

_CACHE: dict[str, object] = {}


def tags(checkpoint: str) -> tuple[str, ...]:
    """The 50 tag names of a checkpoint's output, in order."""
    _check_name(checkpoint)
    return MSD_TAGS if checkpoint.startswith("MSD") else MTT_TAGS


def is_vgg(checkpoint: str) -> bool:
    """True when ``checkpoint`` is one of the VGG-style musicnn checkpoints (its name ends in ``_vgg``)."""
    return checkpoint.endswith("_vgg")


def _check_name(checkpoint: str) -> None:
    if checkpoint not in CHECKPOINTS:
        raise GtzanError(f"unknown musicnn checkpoint {checkpoint!r}: use one of {', '.join(CHECKPOINTS)}")


def package_dir() -> Path:
    """The installed musicnn package folder (found, never imported); GtzanError naming the pip command."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise GtzanError(
            f"the musicnn weights are not installed: run `{PIP_COMMAND}` (data only: its code is "
            f"never imported; `make setup` does it)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def checkpoint_dir(checkpoint: str = "MSD_musicnn") -> Path:
    """Folder of one checkpoint (its files are literally named ``.index``, ``.data-00000-of-00001``, ``.meta``)."""
    _check_name(checkpoint)
    d = package_dir() / checkpoint
    if not (d / ".index").exists():
        raise GtzanError(f"{d} has no checkpoint: reinstall the weights with `{PIP_COMMAND} --force-reinstall`")
    return d


def weights_key(checkpoint: str) -> str:
    """Short hash of a checkpoint's variable file: cached embeddings are keyed by it."""
    d = checkpoint_dir(checkpoint)
    h = hashlib.sha256()
    with open(d / ".data-00000-of-00001", "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def read_checkpoint(checkpoint: str) -> dict[str, np.ndarray]:
    """Every variable of a checkpoint but the optimiser's, by name. ``tf.train.load_checkpoint`` cannot be used:
    the ``checkpoint`` file points to an absolute path on the author's machine; the reader takes the prefix."""
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(str(checkpoint_dir(checkpoint)) + "/")
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if "Adam" not in k and "power" not in k}


# -- input --------------------------------------------------------------------------------------------------
def input_features(y, sr: int) -> np.ndarray:
    """The backbones' input of audio ``y`` (samples,) or a batch (n, samples) at ``sr`` → float32
    (frames, 96) or (n, frames, 96): resampled to 16 kHz, mel power (n_fft 512, hop 256, 96 bands), then
    ``log10(10000·S + 1)`` computed in float32. Notebook: 04_transfer_learning."""
    y = np.asarray(y, np.float32)
    if y.ndim not in (1, 2):
        raise GtzanError(f"audio must be (samples,) or (n, samples), not {y.shape}")
    y = (
        resample(y, int(sr), MUSICNN_INPUT["sr"])
        if y.ndim == 1
        else np.stack([resample(row, int(sr), MUSICNN_INPUT["sr"]) for row in y])
        if len(y)
        else y
    )
    return np.swapaxes(musicnn_log_mel(y, FeatureParams(kind="musicnn")), -1, -2).astype(np.float32)


# -- the networks ---------------------------------------------------------------------------------------------
def _bn(name):
    import keras

    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=name)


def _build_musicnn(checkpoint: str):
    """musicnn: timbral (7×38, 7×67) and temporal (128, 64, 32 × 1) convolutions, each max-pooled over
    frequency; a dense mid-end of three 7-frame convolutions (the last two residual); max and mean over time,
    interleaved per channel as in the original; BN, dense 200 (the embedding after its BN), dense 50 sigmoid."""
    import keras

    L = keras.layers
    x_in = keras.Input(shape=(None, N_MELS), name="log_mel")
    x = L.Reshape((-1, N_MELS, 1), name="add_channel")(x_in)
    x = _bn("batch_normalization")(x)
    front = []
    for i, (conv, width) in enumerate((("conv2d", 38), ("conv2d_1", 67))):  # timbral: 'same' in time only
        t = L.ZeroPadding2D(((3, 3), (0, 0)), name=f"pad_{conv}")(x)
        t = L.Conv2D(204, (7, width), activation="relu", name=conv)(t)
        t = _bn(f"batch_normalization_{i + 1}")(t)
        front.append(L.MaxPooling2D((1, N_MELS - width + 1), name=f"freqpool_{conv}")(t))
    for i, length in enumerate((128, 64, 32)):  # temporal
        t = L.Conv2D(51, (length, 1), padding="same", activation="relu", name=f"conv2d_{i + 2}")(x)
        t = _bn(f"batch_normalization_{i + 3}")(t)
        front.append(L.MaxPooling2D((1, N_MELS), name=f"freqpool_conv2d_{i + 2}")(t))
    f = L.Concatenate(axis=-1, name="frontend")(front)  # (batch, frames, 1, 561)
    mids, h = [f], f
    for i in range(3):  # the original convolves a (frames, channels, 1) map with a (7, channels) kernel: same thing
        c = L.ZeroPadding2D(((3, 3), (0, 0)), name=f"pad_conv2d_{i + 5}")(h)
        c = L.Conv2D(64, (7, 1), activation="relu", name=f"conv2d_{i + 5}")(c)
        c = _bn(f"batch_normalization_{i + 6}")(c)
        h = c if i == 0 else L.Add(name=f"residual_{i}")([c, h])
        mids.append(h)
    m = L.Concatenate(axis=-1, name="midend")(mids)  # (batch, frames, 1, 753)
    n = int(m.shape[-1])
    mx = L.Reshape((n, 1), name="max_col")(L.GlobalMaxPooling2D(name="time_max")(m))
    mean = L.Reshape((n, 1), name="mean_col")(L.GlobalAveragePooling2D(name="time_mean")(m))
    pooled = L.Flatten(name="pooled")(L.Concatenate(axis=-1, name="max_mean")([mx, mean]))  # max0, mean0, max1...
    z = _bn("batch_normalization_9")(pooled)
    z = L.Dropout(0.5, name="dropout_pooled")(z)
    z = L.Dense(200, activation="relu", name="dense")(z)
    emb = _bn("batch_normalization_10")(z)
    z = L.Dropout(0.5, name="dropout_embedding")(emb)
    out = L.Dense(50, activation="sigmoid", name="dense_1")(z)
    return keras.Model(x_in, [out, emb], name=checkpoint)


def _build_vgg(checkpoint: str):
    """VGG-like: five 3×3 convolutions of 128 filters (BN, max-pool of the checkpoint's own shape), flatten
    (the 256-d embedding), dense 50 sigmoid. Fixed 187-frame input."""
    import keras

    L = keras.layers
    x_in = keras.Input(shape=(PATCH_FRAMES, N_MELS), name="log_mel")
    x = L.Reshape((PATCH_FRAMES, N_MELS, 1), name="add_channel")(x_in)
    x = _bn("batch_normalization")(x)
    for i, (pool, stride) in enumerate(VGG_POOLS[checkpoint]):
        x = L.Conv2D(128, 3, padding="same", activation="relu", name=f"{i + 1}CNN")(x)
        x = _bn(f"batch_normalization_{i + 1}")(x)
        x = L.MaxPooling2D(pool, strides=stride, name=f"pool{i + 1}")(x)
        if i < 4:
            x = L.Dropout(0.25, name=f"dropout{i + 1}")(x)
    emb = L.Flatten(name="pooled")(x)
    z = L.Dropout(0.5, name="dropout_embedding")(emb)
    out = L.Dense(50, activation="sigmoid", name="dense")(z)
    return keras.Model(x_in, [out, emb], name=checkpoint)


def build_backbone(checkpoint: str = "MSD_musicnn", weights: bool = True):
    """A new backbone ``keras.Model``: input (frames, 96) log-mel, outputs ``[tags (50 sigmoid), embedding]``;
    with the checkpoint's weights set by variable name (``weights=False``: random initialisation). Each call
    builds a fresh copy (for training); :func:`load_backbone` is the cached one. Notebook: 04_transfer_learning."""
    import keras

    _check_name(checkpoint)
    if weights:
        variables = read_checkpoint(checkpoint)  # fails early, with the pip command, if the package is missing
    model = _build_vgg(checkpoint) if is_vgg(checkpoint) else _build_musicnn(checkpoint)
    if not weights:
        return model
    used = set()
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            names = ("gamma", "beta", "moving_mean", "moving_variance")
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            names = ("kernel", "bias")
        else:
            continue
        values = [variables[f"{layer.name}/{v}"] for v in names]
        shapes = [tuple(w.shape) for w in layer.get_weights()]
        layer.set_weights([np.reshape(v, s) for v, s in zip(values, shapes)])  # (7, C, 1, 64) → (7, 1, C, 64)
        used.update(f"{layer.name}/{v}" for v in names)
    missing = set(variables) - used
    if missing:
        raise GtzanError(f"{checkpoint}: variables not loaded {sorted(missing)[:5]}: the rebuild does not match")
    return model


def load_backbone(checkpoint: str = "MSD_musicnn"):
    """The pretrained backbone of a checkpoint, built once per process (do not train it: use
    :func:`build_backbone` for a copy). Outputs ``[tags (n, 50), embedding (n, d)]``. Notebook: 04_transfer_learning."""
    if checkpoint not in _CACHE:
        _CACHE[checkpoint] = build_backbone(checkpoint)
    return _CACHE[checkpoint]


def patches(x: np.ndarray, frames: int = PATCH_FRAMES) -> np.ndarray:
    """(frames_total, 96) → (k, frames, 96): consecutive patches, the last aligned to the end (a shorter input is
    zero-padded to one patch)."""
    n = len(x)
    if n <= frames:
        return np.pad(x, ((0, frames - n), (0, 0)))[None]
    starts = list(range(0, n - frames + 1, frames))
    if starts[-1] != n - frames:
        starts.append(n - frames)
    return np.stack([x[s : s + frames] for s in starts])


def forward(features, checkpoint: str = "MSD_musicnn", batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(tags (n, 50), embeddings (n, d)) of inputs ``features`` (n, frames, 96), one row per input: musicnn takes
    each input whole; the VGG checkpoints average their 187-frame patches."""
    model = load_backbone(checkpoint)
    x = np.asarray(features, np.float32)
    if not is_vgg(checkpoint):
        t, e = model.predict(x, batch_size=batch_size, verbose=0)
        return np.asarray(t, np.float32), np.asarray(e, np.float32)
    per = [patches(row) for row in x]
    t, e = model.predict(np.concatenate(per), batch_size=batch_size, verbose=0)
    bounds = np.cumsum([0] + [len(p) for p in per])
    return (
        np.stack([t[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])]).astype(np.float32),
        np.stack([e[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])]).astype(np.float32),
    )


def _clip_features(clips, sr) -> list[np.ndarray]:
    if isinstance(clips, np.ndarray) and clips.ndim == 2:
        return list(input_features(clips, sr))
    if isinstance(clips, np.ndarray) and clips.ndim == 1:
        raise GtzanError("clips must be an array (n, samples) or a list of 1-D arrays; wrap one clip in a list")
    return [input_features(c, sr) for c in clips]


def _grouped(feats: list[np.ndarray], checkpoint: str, batch_size: int, which: int) -> np.ndarray:
    """One output row per clip; clips of equal length share batches (musicnn takes each whole)."""
    out = [None] * len(feats)
    lengths = {}
    for i, f in enumerate(feats):
        lengths.setdefault(len(f), []).append(i)
    for idx in lengths.values():
        rows = forward(np.stack([feats[i] for i in idx]), checkpoint, batch_size)[which]
        for i, r in zip(idx, rows):
            out[i] = r
    return np.stack(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def embed_audio(clips, sr: int, checkpoint: str = "MSD_musicnn", batch_size: int = 32) -> np.ndarray:
    """One embedding per clip, float32 (n, d) (d = 200 for musicnn, 256 for VGG): ``clips`` an array (n, samples)
    or a list of 1-D arrays at ``sr``. Each clip goes through musicnn whole (global pooling over time); VGG
    averages its 3-s patches. Notebook: 04_transfer_learning."""
    return _grouped(_clip_features(clips, sr), checkpoint, batch_size, 1)


def clip_tags(clips, sr: int, checkpoint: str = "MSD_musicnn", batch_size: int = 32) -> np.ndarray:
    """Tag probabilities (n, 50) of clips, computed as :func:`embed_audio` computes embeddings."""
    return _grouped(_clip_features(clips, sr), checkpoint, batch_size, 0)


def top_tags(clip, sr: int, checkpoint: str = "MSD_musicnn", k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most probable tags of one clip (whole clip through musicnn): [(tag, probability), ...].
    Notebook: 04_transfer_learning (shows that the weights loaded)."""
    probs = clip_tags([np.asarray(clip, np.float32)], sr, checkpoint)[0]
    order = np.argsort(-probs)[:k]
    names = tags(checkpoint)
    return [(names[i], float(probs[i])) for i in order]


# -- embeddings of a feature store ------------------------------------------------------------------------
#: Manifest rows per embedding task (one shard file each): about 2 MB of input, 400 KB of embeddings.
EMBED_ROWS = 512


@dataclass(frozen=True)
class EmbedTask:
    """One shard of a store's embeddings (what a task receives): the store folder, manifest rows ``first`` to
    ``stop``, the checkpoint, and the folder the shard goes to."""

    store: str
    first: int
    stop: int
    checkpoint: str
    batch_size: int
    folder: str


_OPEN_STORES: dict = {}


def _open_store(path: str):
    """The feature store at ``path``, opened once per process (a worker runs many tasks of one store)."""
    from gtzan_utils.features.store import FeatureStore

    if path not in _OPEN_STORES:
        if len(_OPEN_STORES) >= 4:
            _OPEN_STORES.clear()
        _OPEN_STORES[path] = FeatureStore(path)
    return _OPEN_STORES[path]


def _embedding_shard(folder, first: int, suffix: str = ".npy") -> Path:
    return Path(folder) / f"{first:09d}{suffix}"


def embed_rows(task: EmbedTask) -> dict:
    """Task: the embeddings of manifest rows ``task.first`` to ``task.stop`` of a ``musicnn`` store, written as one
    ``.npy`` shard and then its done-marker (both atomically) where the task runs; the backbone is loaded once per
    process. A shard with its marker is not recomputed. Returns small metadata (rows, host, process)."""
    import os
    import socket
    import time

    t0 = time.perf_counter()
    where = {"first": task.first, "rows": task.stop - task.first, "host": socket.gethostname(), "pid": os.getpid()}
    marker = _embedding_shard(task.folder, task.first, ".json")
    if marker.exists():
        return {**where, "computed": False}
    x = _open_store(task.store).read(np.arange(task.first, task.stop))
    emb = forward(np.swapaxes(x, 1, 2), task.checkpoint, task.batch_size)[1].astype(np.float32)
    write_npy(_embedding_shard(task.folder, task.first), emb)
    doc = {**where, "seconds": round(time.perf_counter() - t0, 3)}
    write_json(marker, doc, indent=None)
    return {**doc, "computed": True}


def _concatenate(parts: list[Path], path: Path, n: int) -> None:
    """Stream the ``.npy`` shards ``parts`` (float32 rows, in order) into one ``.npy`` of ``n`` rows, atomically,
    one shard in memory at a time."""
    first = np.load(parts[0], mmap_mode="r", allow_pickle=False)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False}

    def write(tmp: Path):
        with open(tmp, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, {**header, "shape": (n, *first.shape[1:])})
            for part in parts:
                fh.write(np.ascontiguousarray(np.load(part, allow_pickle=False), np.float32).tobytes())

    atomic_write(path, write)


def store_embeddings(
    store, checkpoint: str = "MSD_musicnn", batch_size: int = 32, progress: bool = True, n_jobs: int | None = None
) -> np.ndarray:
    """Embeddings (n manifest rows, d) of a ``musicnn`` feature store, one per slice (each slice whole), cached in
    the store folder as ``embeddings-<checkpoint>-<weights key>.npy`` (beside it a ``.json`` naming the processes that
    computed it) and returned memory-mapped (read-only); a rerun loads the file.

    The pass goes through :mod:`gtzan_utils.base.engine`, :data:`EMBED_ROWS` slices per task: each task writes its
    own shard (``embeddings-...shards/<first row>.npy`` and a done-marker), so no process holds every embedding and
    a killed pass resumes; the shards are then streamed into the one file. ``n_jobs`` None runs here (TensorFlow
    already uses every core of this machine) unless ``gtzan run --scheduler`` named a cluster, whose workers then
    run it (each loads the backbone once). Notebook: 04_transfer_learning."""
    import shutil

    from gtzan_utils.base import engine

    if store.params.kind != "musicnn":
        raise GtzanError(
            f"embeddings need the 'musicnn' feature kind, not {store.params.kind!r}: add musicnn to "
            f"FEATURE_KINDS of notebook 02"
        )
    if not len(store):
        raise GtzanError(f"feature store {store.path} holds no slice: check the data folder with `gtzan validate`")
    path = Path(store.path) / f"embeddings-{checkpoint}-{weights_key(checkpoint)}.npy"
    if path.exists():
        emb = np.load(path, mmap_mode="r", allow_pickle=False)
        if len(emb) == len(store):
            return emb
    folder = path.with_suffix(".shards")
    ranges = engine.chunks(len(store), EMBED_ROWS)
    tasks = [
        EmbedTask(str(store.path), r.start, r.stop, checkpoint, batch_size, str(folder))
        for r in ranges
        if not _embedding_shard(folder, r.start, ".json").exists()
    ]
    results = engine.map_unordered(
        embed_rows,
        tasks,
        n_jobs,
        desc=f"embed {checkpoint}",
        unit="slice",
        progress=progress,
        size=lambda r: r["rows"],
        total=sum(t.stop - t.first for t in tasks),
    )
    for _ in results:
        pass
    markers = [json.loads(_embedding_shard(folder, r.start, ".json").read_text()) for r in ranges]
    _concatenate([_embedding_shard(folder, r.start) for r in ranges], path, len(store))
    workers = sorted({f"{m['host']}:{m['pid']}" for m in markers})
    write_json(path.with_suffix(".json"), {"rows": len(store), "shards": len(ranges), "workers": workers})
    shutil.rmtree(folder, ignore_errors=True)
    return np.load(path, mmap_mode="r", allow_pickle=False)


class EmbeddedStore:
    """A ``musicnn`` feature store seen through one checkpoint's cached embeddings (:func:`store_embeddings`):
    ``read(rows)`` gives the (k, d) embeddings of those rows; manifest, labels and ``y`` are the store's. Training
    and scoring code that reads a store (``StoreBatches``, ``evaluate``) then runs a frozen backbone's head on
    embeddings computed once, instead of running the backbone every epoch."""

    def __init__(self, store, checkpoint: str = "MSD_musicnn", progress: bool = True):
        self.store, self.checkpoint = store, checkpoint
        self.embeddings = store_embeddings(store, checkpoint, progress=progress)
        self.manifest, self.labels, self.path, self.params = store.manifest, store.labels, store.path, store.params

    @property
    def y(self) -> np.ndarray:
        return self.store.y

    def __len__(self) -> int:
        return len(self.embeddings)

    def read(self, rows) -> np.ndarray:
        return np.asarray(self.embeddings[np.asarray(rows, np.int64)], np.float32)


# -- a look at the weights ----------------------------------------------------------------------------------
def demo_clips(
    genres=("jazz", "classical", "metal"), seconds: float = 30.0
) -> tuple[list[tuple[str, np.ndarray]], int, bool]:
    """Clips to show tags of: the real GTZAN excerpts of ``../shared/gtzan_samples`` where that folder exists,
    otherwise synthetic clips of the same genres. Returns ([(name, audio)], sample rate, real?).

    Notebook: 04_transfer_learning
    """
    from gtzan_utils.base.constants import REPO_ROOT, SR
    from gtzan_utils.data.dataset import read_audio

    shared = REPO_ROOT.parent / "shared" / "gtzan_samples" / "genres"
    found = [shared / g / f"{g}.00000.au" for g in genres]
    if all(p.exists() for p in found):
        return [(p.stem, read_audio(p, sr=SR)[0][: int(seconds * SR)]) for p in found], SR, True
    from gtzan_utils.data.synth import synth_clip

    return [(f"synthetic {g}", synth_clip(g, 0, seconds=seconds)) for g in genres], SR, False


def tag_table(clips, sr: int, checkpoints=("MSD_musicnn", "MTT_musicnn"), k: int = 3):
    """A DataFrame: one row per clip, the top-``k`` tags of each checkpoint.

    Notebook: 04_transfer_learning
    """
    import pandas as pd

    rows = []
    for name, y in clips:
        row = {"clip": name}
        for ck in checkpoints:
            row[ck] = ", ".join(f"{t} {p:.2f}" for t, p in top_tags(y, sr, ck, k))
        rows.append(row)
    return pd.DataFrame(rows)
