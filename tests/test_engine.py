"""The execution engine (Dask distributed): in-process, a local cluster, a cluster started from the command line;
bounded errors instead of hangs; a store built by workers equals the one built here; a killed worker is survived."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from gtzan_utils.base import engine  # noqa: E402
from gtzan_utils.base.errors import GtzanError  # noqa: E402
from gtzan_utils.data import dataset  # noqa: E402
from gtzan_utils.data.synth import make_synthetic_gtzan  # noqa: E402
from gtzan_utils.features import store  # noqa: E402
from gtzan_utils.features.extract import KINDS, FeatureParams  # noqa: E402

#: Small songs: every kind of a 2.5-s song with two 1-s slices costs a few tens of milliseconds.
BASE = FeatureParams(slice_seconds=1.0, n_slices=2)

#: A worker preload that hides gtzan_utils, as on a node where the package is not installed.
BLOCKER = """
import sys

class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "gtzan_utils" or name.startswith("gtzan_utils."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Hide())
for _m in [m for m in sys.modules if m.startswith("gtzan_utils")]:
    del sys.modules[_m]
"""


pytestmark = pytest.mark.usefixtures("no_engine_variables", "no_cluster_left")


@contextlib.contextmanager
def cli_cluster(folder: Path, n_workers: int = 2, preload: str | None = None, timeout: float = 90.0):
    """``dask scheduler --scheduler-file F`` and ``dask worker --scheduler-file F --nworkers N --nthreads 1``
    started from the command line on 127.0.0.1 (random ports, no dashboards); yields F; kills both at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    sched_file = folder / "scheduler.json"
    dask = str(Path(sys.executable).parent / "dask")
    procs = []

    def start(args, log):
        out = open(folder / log, "w")  # noqa: SIM115 (closed with the process)
        env = dict(os.environ, DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_="None")
        popen = subprocess.Popen([dask, *args], stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        procs.append((popen, out))

    try:
        start(
            ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
            + ["--scheduler-file", str(sched_file)],
            "scheduler.log",
        )
        deadline = time.monotonic() + timeout
        while not sched_file.exists():
            assert time.monotonic() < deadline, (folder / "scheduler.log").read_text()
            assert procs[0][0].poll() is None, (folder / "scheduler.log").read_text()
            time.sleep(0.1)
        args = ["worker", "--scheduler-file", str(sched_file), "--nworkers", str(n_workers), "--nthreads", "1"]
        args += ["--host", "127.0.0.1", "--no-dashboard"] + (["--preload", preload] if preload else [])
        start(args, "workers.log")
        from distributed import Client

        with Client(scheduler_file=str(sched_file), timeout=timeout) as c:
            c.wait_for_workers(n_workers, timeout=timeout)
        yield sched_file
    finally:
        for proc, out in procs[::-1]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the group this test started: scheduler, or nannies + workers
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
            out.close()


def cluster_pids(sched_file) -> set[int]:
    """Process ids of the workers of the cluster described by ``sched_file``."""
    from distributed import Client

    with Client(scheduler_file=str(sched_file), timeout=30) as c:
        return set(c.run(os.getpid).values())


def _songs(tmp_path, per_genre: int = 2, seconds: float = 2.5):
    root = make_synthetic_gtzan(tmp_path / "synth", per_genre=per_genre, seconds=seconds, progress=False)
    return dataset.find_dataset(root)


def _all_rows(stores):
    return {k: s.read(np.arange(len(s))) for k, s in stores.items()}


# -- where work runs, and errors that do not hang --------------------------------------------------------------
def test_target_follows_n_jobs_and_the_environment(monkeypatch, tmp_path):
    assert engine.target().mode == "in-process" and engine.target(1).mode == "in-process"
    assert engine.target(2).mode == "local" and engine.describe(2) == "a local cluster of 2 worker processes"
    monkeypatch.setenv(engine.ENV_SCHEDULER_FILE, str(tmp_path / "s.json"))
    assert engine.target(1).mode == "cluster"  # a cluster named for the run wins over N_JOBS
    assert str(tmp_path / "s.json") in engine.describe(1)
    with pytest.raises(GtzanError, match="N_JOBS must be a whole number >= 1"):
        engine.target(0)
    monkeypatch.setenv(engine.ENV_TIMEOUT, "soon")
    with pytest.raises(GtzanError, match="GTZAN_ENGINE_TIMEOUT must be a number"):
        engine.target()


def test_in_process_map_runs_here_in_any_order_and_raises_task_errors():
    assert sorted(engine.map_unordered(abs, [-3, 2, -1], progress=False)) == [1, 2, 3]
    assert engine.client(1) is None and engine.worker_pids(1) == {}
    with pytest.raises(GtzanError, match="unknown feature kind"):
        list(engine.map_unordered(FeatureParams, ["nope"], progress=False))
    assert [list(r) for r in engine.chunks(5, 2)] == [[0, 1], [2, 3], [4]]
    assert engine.chunk_size(1000, 2) == 125 and engine.chunk_size(3, 2) == 1


def test_a_missing_scheduler_file_or_an_unreachable_scheduler_is_one_error(monkeypatch, tmp_path):
    missing = pytest.raises(GtzanError, match="scheduler file .*nowhere.json not found: start the scheduler with")
    with missing, engine.cluster_from(scheduler_file=tmp_path / "nowhere.json"):
        pass
    assert engine.ENV_SCHEDULER_FILE not in os.environ  # named for a block only: restored after it, even on error
    monkeypatch.setenv(engine.ENV_SCHEDULER_FILE, str(tmp_path / "nowhere.json"))
    with pytest.raises(GtzanError, match="scheduler file .*nowhere.json not found: start the scheduler with"):
        list(engine.map_unordered(abs, [1], progress=False))
    monkeypatch.delenv(engine.ENV_SCHEDULER_FILE)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(engine.ENV_SCHEDULER, f"tcp://127.0.0.1:{port}")
    monkeypatch.setenv(engine.ENV_TIMEOUT, "2")
    t0 = time.monotonic()
    with pytest.raises(GtzanError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 2 s"):
        list(engine.map_unordered(abs, [1], progress=False))
    assert time.monotonic() - t0 < 30


# -- a local cluster: the same stores as in this process --------------------------------------------------------
@pytest.mark.slow
def test_a_local_cluster_builds_the_same_stores_as_this_process(tmp_path):
    """20 songs, every kind, 2 worker processes: identical arrays and manifests, the shards written by the workers
    themselves; validation and the track-list key give what they give here."""
    tracks = _songs(tmp_path)
    here = store.featurize_all(tracks, KINDS, tmp_path / "here", base=BASE, n_jobs=1, progress=False)
    report_here = dataset.validate(tracks, min_seconds=1.0, progress=False)
    there = store.featurize_all(tracks, KINDS, tmp_path / "there", base=BASE, n_jobs=2, progress=False)
    workers = set(engine.worker_pids(2).values())
    assert len(workers) == 2 and os.getpid() not in workers
    want, got = _all_rows(here), _all_rows(there)
    for kind in KINDS:
        np.testing.assert_array_equal(got[kind], want[kind], err_msg=kind)
        assert there[kind].manifest.equals(here[kind].manifest)
        assert there[kind].path.name == here[kind].path.name  # the same track-list key
        pids = {json.loads(store.shard_file(there[kind].path, j, ".json").read_text())["pid"] for j in range(20)}
        assert pids <= workers
    assert len(tracks) == 20 and there["mel"].n_shards == 20
    report_there = dataset.validate(tracks, min_seconds=1.0, progress=False, n_jobs=2)
    assert report_there.table.equals(report_here.table)


@pytest.mark.slow
def test_a_worker_killed_while_featurizing_is_survived(tmp_path):
    """SIGKILL one of two workers once the first shard is done: the build completes (Dask reruns the lost tasks on
    the restarted worker), every song is in the store exactly once, and no shard finished before the kill is
    computed again (its marker is the same file)."""
    tracks = _songs(tmp_path, per_genre=3, seconds=3.5)
    want = _all_rows(store.featurize_all(tracks, KINDS, tmp_path / "here", base=BASE, n_jobs=1, progress=False))
    victim = next(iter(engine.worker_pids(2).values()))
    root = tmp_path / "there"
    result, errors = {}, []

    def build():
        try:
            result.update(store.featurize_all(tracks, KINDS, root, base=BASE, n_jobs=2, progress=False))
        except Exception as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    deadline = time.monotonic() + 120
    markers = []
    while not markers and time.monotonic() < deadline and thread.is_alive():
        markers = list(root.glob("mel-*/shards/*.json"))
        time.sleep(0.005)
    os.kill(victim, signal.SIGKILL)
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.glob("*/shards/*.json")}
    thread.join(timeout=300)
    assert not thread.is_alive() and not errors, errors
    assert before and len(before) < 5 * 30, "the kill came after the build: nothing was tested"
    for p, stamp in before.items():
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stamp, f"{p} was computed again"
    got = _all_rows(result)
    for kind in KINDS:
        np.testing.assert_array_equal(got[kind], want[kind], err_msg=kind)
        m = result[kind].manifest
        assert m.groupby("track_id").size().to_dict() == dict.fromkeys(tracks.track_id, BASE.n_slices)
        assert not m.duplicated(["track_id", "slice_index"]).any()
    assert victim not in set(engine.worker_pids(2).values())  # the nanny restarted the killed worker


# -- a cluster started from the command line (tests/test_notebooks.py runs all six notebooks on one) -------------
@pytest.mark.slow
def test_a_worker_without_the_package_gives_one_error_not_a_hang(tmp_path, monkeypatch, capsys):
    from gtzan_utils.run import cli

    blocker = tmp_path / "hide_gtzan_utils.py"
    blocker.write_text(BLOCKER)
    tracks = _songs(tmp_path, per_genre=1)
    with cli_cluster(tmp_path / "cluster", n_workers=1, preload=str(blocker)) as sched_file:
        monkeypatch.setenv(engine.ENV_TIMEOUT, "20")
        t0 = time.monotonic()
        status = cli.main(
            [
                "featurize",
                str(Path(tracks.path[0]).parent.parent),
                "--kinds",
                "mfcc",
                "--store",
                str(tmp_path / "s"),
                "--scheduler-file",
                str(sched_file),
            ]
        )
        err = capsys.readouterr().err
        assert time.monotonic() - t0 < 60
    assert status == 1 and err.count("\n") == 1, err
    assert engine.ENV_SCHEDULER_FILE not in os.environ  # the command named the cluster for itself only
    assert "cannot import gtzan_utils (ModuleNotFoundError: No module named 'gtzan_utils')" in err
    assert "Install the same gtzan_utils on every worker" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()  # nothing was started
