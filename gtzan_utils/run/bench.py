"""Benchmarks that print figures (not tests): ``gtzan bench featurize``, ``memory``, ``stream``, ``train``, ``scale``.

* ``featurize``: the same songs through (a) the feature store (whole song per librosa call, engine workers)
  and (b) the naive loop of the paper's code (load each 5-s slice separately with ``librosa.load(offset=...)``, one
  librosa call per slice and kind, keep everything in a list); prints both times and the ratio.
* ``memory``: peak RSS of the whole process tree of ``gtzan featurize`` (all kinds) on 1,000 songs against
  100 songs: each task writes its shard one song at a time, so memory must not grow with the data.
* ``stream``: vanilla CNN on mel, samples/s when batches stream from the store against ``model.fit`` on the
  same slices held in memory.
* ``train``: seconds per training step (batch 32) of every Table-1 cell at its full input size on this
  machine, and the extrapolated time of one epoch and of a full GTZAN run (800 training songs x 6 slices).
* ``scale``: the engine (:mod:`gtzan_utils.base.engine`) featurizing all kinds in this process (T1) and on a local
  cluster of N worker processes (or the cluster of ``--scheduler``): songs/s, the scaling efficiency T1 / (N · TN),
  start-up time, the cost of an empty task, peak RSS of each worker and of the client, bytes and files per kind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from gtzan_utils.base.constants import SR

BENCH_KINDS = ("mfcc", "mel", "mel3")


def _naive(paths, p_mfcc, p_mel, p_mel3) -> dict:
    """The paper's code's way: one load and one librosa call per slice and kind, arrays kept in lists."""
    import librosa

    from gtzan_utils.features.extract import resize_time

    out = {"mfcc": [], "mel": [], "mel3": []}
    for path in paths:
        for i in range(p_mfcc.n_slices):
            y, _ = librosa.load(path, sr=SR, offset=i * p_mfcc.slice_seconds, duration=p_mfcc.slice_seconds)
            if len(y) < p_mfcc.slice_samples:
                break
            out["mfcc"].append(librosa.feature.mfcc(y=y, sr=SR, n_mfcc=p_mfcc.n_mfcc))
            out["mel"].append(librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR, n_mels=p_mel.n_mels)))
            chans = []
            for win, hop in p_mel3._mel3_frames():
                S = librosa.feature.melspectrogram(
                    y=y, sr=SR, n_fft=win, hop_length=hop, win_length=win, n_mels=p_mel3.n_mels
                )
                chans.append(resize_time(np.log(S + p_mel3.mel3_eps), p_mel3.mel3_width))
            out["mel3"].append(np.stack(chans, axis=-1))
    return {k: np.asarray(v) for k, v in out.items()}


def bench_featurize(songs: int = 40, jobs: int = 2) -> dict:
    """Time the feature store against the naive per-slice loop on ``songs`` synthetic songs; returns the figures."""
    from gtzan_utils.data.dataset import find_dataset, read_audio, resolve_data
    from gtzan_utils.features.extract import FeatureParams, compute_song
    from gtzan_utils.features.store import featurize_all

    per_genre = max(1, songs // 10)
    tracks = find_dataset(resolve_data("synth", synth_per_genre=per_genre, synth_seconds=30.0)).iloc[:songs]
    params = {k: FeatureParams(kind=k) for k in BENCH_KINDS}
    y, _ = read_audio(tracks.path.iloc[0])
    for p in params.values():  # warm up numba and caches in this process: time steady state only
        compute_song(y[: 6 * SR], p)
    _naive(tracks.path.iloc[:1], *params.values())

    t0 = time.perf_counter()
    naive = _naive(tracks.path, *params.values())
    t_naive = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        stores = featurize_all(tracks, BENCH_KINDS, tmp, n_jobs=jobs, progress=False)
        t_store = time.perf_counter() - t0
        assert all(len(stores[k]) == len(naive[k]) for k in BENCH_KINDS)
        t0 = time.perf_counter()
        featurize_all(tracks, BENCH_KINDS, Path(tmp) / "serial", n_jobs=1, progress=False)
        t_serial = time.perf_counter() - t0
    result = {
        "songs": len(tracks),
        "kinds": list(BENCH_KINDS),
        "naive_s": round(t_naive, 2),
        "store_s": round(t_store, 2),
        "store_1_job_s": round(t_serial, 2),
        "jobs": jobs,
        "ratio": round(t_naive / t_store, 2),
        "ratio_1_job": round(t_naive / t_serial, 2),
    }
    print(
        f"featurize {result['songs']} songs x 30 s, kinds {', '.join(BENCH_KINDS)}:\n"
        f"  naive loop (paper's code):     {t_naive:7.2f} s\n"
        f"  feature store, 1 job:          {t_serial:7.2f} s  ({result['ratio_1_job']:.2f}x)\n"
        f"  feature store, {jobs} jobs:         {t_store:7.2f} s  ({result['ratio']:.2f}x)"
    )
    return result


# -- memory ------------------------------------------------------------------------------------------
def _proc_status_kb(pid: int, field: str) -> int:
    """A memory field of ``/proc/<pid>/status`` (``VmRSS``: resident now, ``VmHWM``: its peak), in kB; 0 where
    /proc is absent or the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_kb(pid: int) -> int:
    return _proc_status_kb(pid, "VmRSS")


def _descendants(pid: int) -> list[int]:
    parents = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parents[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out += kids
        frontier += kids
    return out


def peak_rss(cmd: list[str], interval: float = 0.2) -> dict:
    """Run ``cmd``; sample the RSS of it and all its descendants; return peaks in MB and the wall time."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = {"tree": 0, "parent": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            parent = _rss_kb(proc.pid)
            tree = parent + sum(_rss_kb(c) for c in _descendants(proc.pid))
            peak["tree"], peak["parent"] = max(peak["tree"], tree), max(peak["parent"], parent)
            stop.wait(interval)

    t0 = time.perf_counter()
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, err = proc.communicate()
    stop.set()
    th.join()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err[-2000:]}")
    return {
        "peak_tree_mb": round(peak["tree"] / 1024),
        "peak_parent_mb": round(peak["parent"] / 1024),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def bench_memory(songs: int = 1000, jobs: int = 2) -> dict:
    """Peak RSS of ``gtzan featurize`` on 100 and on ``songs`` synthetic songs; returns ``{songs: figures}``."""
    from gtzan_utils.data.dataset import resolve_data

    results = {}
    for n in (100, songs):
        data = resolve_data("synth", synth_per_genre=n // 10, synth_seconds=30.0)
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [
                sys.executable,
                "-m",
                "gtzan_utils",
                "featurize",
                str(data),
                "--kinds",
                "all",
                "--store",
                tmp,
                "--jobs",
                str(jobs),
            ]
            results[n] = peak_rss(cmd)
            results[n]["store_gb"] = round(
                sum(f.stat().st_blocks * 512 for f in Path(tmp).rglob("*") if f.is_file()) / 1e9, 2
            )
        print(
            f"featurize {n:>5} songs (all kinds): peak RSS tree {results[n]['peak_tree_mb']} MB, parent "
            f"{results[n]['peak_parent_mb']} MB, {results[n]['seconds']} s, store {results[n]['store_gb']} GB",
            flush=True,
        )
    a, b = results[100], results[songs]
    print(
        f"difference {songs} vs 100 songs: {b['peak_tree_mb'] - a['peak_tree_mb']:+d} MB (tree), "
        f"{b['peak_parent_mb'] - a['peak_parent_mb']:+d} MB (parent)"
    )
    return results


def _stores(songs: int, kinds, jobs: int = 2):
    from gtzan_utils.base.layout import data_home
    from gtzan_utils.data.dataset import find_dataset, resolve_data
    from gtzan_utils.features.extract import FeatureParams
    from gtzan_utils.features.store import featurize_all

    tracks = find_dataset(resolve_data("synth", synth_per_genre=max(1, songs // 10), synth_seconds=30.0))
    return featurize_all(tracks, kinds, data_home() / "stores", base=FeatureParams(), n_jobs=jobs, progress=False)


def bench_stream(songs: int = 200, epochs: int = 2) -> dict:
    """Samples/s of the vanilla CNN fed from the store against in-memory ``fit``; returns the figures as a dict."""
    import keras

    from gtzan_utils.classify.models import build_model
    from gtzan_utils.classify.training import train_stats
    from gtzan_utils.features.batches import StoreBatches

    s = _stores(songs, ["mel"])["mel"]
    rows = np.arange(len(s))
    mean, var = train_stats(s, rows)

    def model():
        keras.utils.set_random_seed(0)
        return build_model("vanilla_cnn", s.params.shape, "mel", mean=mean, variance=var)

    m = model()
    batches = StoreBatches(s, rows, 32, shuffle=True)
    m.fit(batches, epochs=1, verbose=0)  # trace once
    t0 = time.perf_counter()
    m.fit(batches, epochs=epochs, verbose=0)
    t_stream = time.perf_counter() - t0
    X, y = s.read(rows), s.y[rows]
    m = model()
    m.fit(X, y, batch_size=32, epochs=1, verbose=0)
    t0 = time.perf_counter()
    m.fit(X, y, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    t_mem = time.perf_counter() - t0
    n = len(rows) * epochs
    out = {
        "slices": len(rows),
        "epochs": epochs,
        "stream_samples_s": round(n / t_stream, 1),
        "memory_samples_s": round(n / t_mem, 1),
        "ratio": round(t_mem / t_stream, 3),
        "in_memory_mb": round(X.nbytes / 1e6, 1),
    }
    print(
        f"vanilla CNN on mel {s.params.shape}, {len(rows)} slices x {epochs} epochs:\n"
        f"  streaming from the store: {out['stream_samples_s']:8.1f} samples/s\n"
        f"  fit on arrays in memory:  {out['memory_samples_s']:8.1f} samples/s  ({out['in_memory_mb']} MB held)\n"
        f"  ratio stream / memory:    {out['ratio']:.3f}"
    )
    return out


TABLE1_CELLS = (
    ("vanilla_cnn", "mfcc"),
    ("vanilla_cnn", "mel"),
    ("vanilla_cnn", "mel3"),
    ("mobilenetv2", "mfcc_image"),
    ("densenet121", "mel3"),
)


def bench_train(steps: int = 5, batch_size: int = 32, train_slices: int = 4800, epochs: int = 30) -> list[dict]:
    """Seconds per step at full input size, on random inputs (speed does not depend on the values); transfer
    models with their base frozen, as in stage 1 of the paper."""
    import keras

    from gtzan_utils.classify.models import base_of, build_model
    from gtzan_utils.features.extract import FeatureParams

    rows = []
    for name, kind in TABLE1_CELLS:
        shape = FeatureParams(kind=kind).shape
        m = build_model(name, shape, kind, weights=None)
        if name != "vanilla_cnn":  # stage 1 of the paper: ImageNet base frozen, only the head learns
            base_of(m).trainable = False
            m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        x = np.random.default_rng(0).standard_normal((batch_size, *shape)).astype(np.float32)
        y = np.arange(batch_size) % 10
        t0 = time.perf_counter()
        m.train_on_batch(x, y)
        trace = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(steps):
            m.train_on_batch(x, y)
        step = (time.perf_counter() - t0) / steps
        epoch_min = step * np.ceil(train_slices / batch_size) / 60
        rows.append(
            {
                "model": name,
                "input": kind,
                "shape": shape,
                "first_step_s": round(trace, 1),
                "step_s": round(step, 3),
                "epoch_min": round(epoch_min, 1),
                f"{epochs}_epochs_h": round(epoch_min * epochs / 60, 2),
            }
        )
        print(
            f"{name:<12} {kind:<11} {str(shape):<15} first step {trace:6.1f} s, {step:6.3f} s/step, "
            f"epoch of {train_slices} slices {epoch_min:6.1f} min, {epochs} epochs {epoch_min * epochs / 60:5.2f} h",
            flush=True,
        )
        del m
        keras.backend.clear_session()
    return rows


def _train_once(songs: int, epochs: int, deterministic: bool) -> dict:
    """One seeded training of the vanilla CNN on mel (in its own process: op determinism cannot be switched off
    once on). Returns seconds per epoch and a hash of the final weights."""
    import hashlib

    import keras

    from gtzan_utils.classify.models import build_model
    from gtzan_utils.classify.training import seed_everything, train_stats
    from gtzan_utils.features.batches import StoreBatches

    s = _stores(songs, ["mel"])["mel"]
    rows = np.arange(len(s))
    mean, var = train_stats(s, rows)
    if deterministic:
        seed_everything(0)
    else:
        keras.utils.set_random_seed(0)
    m = build_model("vanilla_cnn", s.params.shape, "mel", mean=mean, variance=var)
    batches = StoreBatches(s, rows, 32, shuffle=True)
    m.fit(batches, epochs=1, verbose=0)  # traces
    t0 = time.perf_counter()
    m.fit(batches, epochs=epochs, verbose=0)
    seconds = (time.perf_counter() - t0) / epochs
    digest = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in m.get_weights())).hexdigest()[:12]
    return {"deterministic": deterministic, "epoch_s": round(seconds, 2), "weights": digest}


def bench_determinism(songs: int = 100, epochs: int = 2) -> list[dict]:
    """Cost and effect of TensorFlow's op determinism: two seeded trainings with it and two without, each in a
    fresh process; prints seconds per epoch and whether the final weights of the two runs are identical."""
    import json
    import subprocess
    import sys

    _stores(songs, ["mel"])  # featurize once, outside the timed processes
    rows = []
    for det in (True, True, False, False):
        code = (
            f"import json; from gtzan_utils.run.bench import _train_once; "
            f"print(json.dumps(_train_once({songs}, {epochs}, {det})))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    for det in (True, False):
        runs = [r for r in rows if r["deterministic"] == det]
        same = runs[0]["weights"] == runs[1]["weights"]
        mean = sum(r["epoch_s"] for r in runs) / len(runs)
        print(
            f"op determinism {'on ' if det else 'off'}: {mean:6.2f} s per epoch of {songs * 6} slices; "
            f"two runs {'identical' if same else 'DIFFER'}"
        )
    return rows


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process over its life (``VmHWM``), in MB; 0 where /proc is absent."""
    return _proc_status_kb(pid, "VmHWM") / 1024


def _worker_peaks(n_jobs: int) -> list[float]:
    from gtzan_utils.base import engine

    c = engine.client(n_jobs)
    return [round(v, 1) for v in c.run(_peak_rss_mb_here).values()] if c is not None else []


def _peak_rss_mb_here() -> float:
    """The calling process's :func:`_peak_rss_mb` (run on each worker)."""
    return _peak_rss_mb(os.getpid())


def _reset_peak_rss() -> bool:
    """Start the calling process's peak RSS afresh (Linux: ``5`` into ``/proc/self/clear_refs``); False elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def bench_scale(songs: int = 40, jobs: int = 2, seconds: float = 30.0) -> dict:
    """Featurize ``songs`` synthetic songs of ``seconds`` (all five kinds, the notebooks' parameters) through the
    engine on a local cluster of ``jobs`` worker processes (or, with ``$GTZAN_SCHEDULER(_FILE)`` set, on that
    cluster) and in this process (1 worker: the serial baseline T1, no engine overhead); print songs/s, the scaling
    efficiency T1 / (N · TN), start-up, the cost of an empty task, peak RSS of each worker and of the client during
    the cluster's build (peaks reset just before it) and the store's bytes and files per kind. Each is warmed up
    (imports, numba) on other songs before the timed build."""
    from gtzan_utils.base import engine
    from gtzan_utils.base.layout import data_home
    from gtzan_utils.data.dataset import find_dataset
    from gtzan_utils.features.extract import KINDS, FeatureParams
    from gtzan_utils.features.store import featurize_all

    per_genre = max(1, -(-(songs + 10) // 10))
    data = data_home() / f"synth-{per_genre}x{seconds:g}s-seed0"  # where resolve_data("synth") keeps it
    cmd = [sys.executable, "-m", "gtzan_utils", "synth", str(data), "--per-genre", str(per_genre)]
    subprocess.run([*cmd, "--seconds", str(seconds)], check=True, capture_output=True)  # not in this process's RSS
    everything = find_dataset(data / "genres")
    tracks, warm = everything.iloc[:songs].reset_index(drop=True), everything.iloc[songs : songs + 4]
    on_cluster = engine.target().mode == "cluster"
    sizes = [jobs, 1] if jobs > 1 or on_cluster else [1]
    rows, per_kind, client_mb = [], {}, None
    for n in sizes:
        engine.shutdown()
        t0 = time.perf_counter()
        engine.client(n)
        startup = time.perf_counter() - t0
        workers = len(engine.worker_pids(n)) or n
        with tempfile.TemporaryDirectory() as tmp:
            featurize_all(warm, KINDS, Path(tmp) / "warm", base=FeatureParams(), n_jobs=n, progress=False)
            t0 = time.perf_counter()
            for _ in engine.map_unordered(abs, range(200), n, progress=False):  # abs(i): a task that does nothing
                pass
            empty_ms = (time.perf_counter() - t0) / 200 * 1e3
            _reset_peak_rss()
            c = engine.client(n)
            if c is not None:
                c.run(_reset_peak_rss)
            t0 = time.perf_counter()
            stores = featurize_all(tracks, KINDS, Path(tmp) / "s", base=FeatureParams(), n_jobs=n, progress=False)
            took = time.perf_counter() - t0
            for kind, st in stores.items():
                files = [f for f in st.path.rglob("*") if f.is_file()]
                per_kind[kind] = {
                    "bytes": sum(f.stat().st_size for f in files),
                    "files": len(files),
                    "bytes_per_song": round(sum(f.stat().st_size for f in files) / len(tracks)),
                    "shards": st.n_shards,
                }
        rows.append(
            {
                "workers": workers,
                "seconds": round(took, 2),
                "songs_per_s": round(len(tracks) / took, 2),
                "startup_s": round(startup, 2),
                "empty_task_ms": round(empty_ms, 2),
                "worker_peak_rss_mb": _worker_peaks(n) or [round(_peak_rss_mb(os.getpid()), 1)],
                "where": engine.describe(n),
            }
        )
        if client_mb is None:
            client_mb = round(_peak_rss_mb(os.getpid()), 1)
    engine.shutdown()
    rows.sort(key=lambda r: r["workers"])
    t1 = rows[0]["seconds"] if rows[0]["workers"] == 1 and not on_cluster else None
    for r in rows:
        r["efficiency"] = round(t1 / (r["workers"] * r["seconds"]), 2) if t1 else None
    where = "the cluster at " + (engine.target().scheduler or engine.target().scheduler_file) if on_cluster else ""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"featurize {len(tracks)} synthetic songs x {seconds:g} s, all kinds ({', '.join(KINDS)}), "
        f"{os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}{', on ' + where if where else ''}:"
    )
    for r in rows:
        eff = f"efficiency T1/(N*TN) {r['efficiency']:.2f}" if r["efficiency"] is not None else ""
        print(
            f"  {r['workers']} worker(s), {r['where']}: {r['seconds']:7.2f} s, {r['songs_per_s']:6.2f} songs/s  {eff}\n"
            f"      start-up {r['startup_s']:.2f} s, empty task {r['empty_task_ms']:.2f} ms, "
            f"peak RSS per worker {r['worker_peak_rss_mb']} MB"
        )
    print(f"  client (this `gtzan bench` process, TensorFlow loaded) peak RSS while workers featurized: {client_mb} MB")
    for kind, k in per_kind.items():
        print(
            f"  {kind:<11} {k['bytes'] / 1e6:8.1f} MB in {k['files']:4d} files ({k['shards']} shards), "
            f"{k['bytes_per_song'] / 1e6:.3f} MB per song"
        )
    return {"rows": rows, "client_peak_rss_mb": client_mb, "kinds": per_kind, "songs": len(tracks)}


def main(what: str, songs: int | None = None, jobs: int = 2):
    """Run the benchmark ``what`` (``gtzan bench``) and return its dict of figures."""
    if what == "scale":
        return bench_scale(songs or 40, jobs)
    if what == "determinism":
        return bench_determinism(songs or 100)
    if what == "featurize":
        return bench_featurize(songs or 200, jobs)
    if what == "stream":
        return bench_stream(songs or 200)
    if what == "train":
        return bench_train()
    return bench_memory(songs or 1000, jobs)
