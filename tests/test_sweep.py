"""Sweeps (classify.sweep): every fold one task on the engine, trained in a process of its own and pooled as
run_split pools folds; a finished fold is never trained twice, a killed training process resumes, bad input is one
error; tasks that ask for a GPU go one at a time to the workers that declare one."""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("keras")


from gtzan_utils.base import engine  # noqa: E402
from gtzan_utils.base.errors import GtzanError  # noqa: E402
from gtzan_utils.classify import experiment, sweep  # noqa: E402
from gtzan_utils.classify.settings import TrainSettings  # noqa: E402
from gtzan_utils.features import splits  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_engine_variables", "no_cluster_left")


@pytest.fixture(scope="module")
def tiny(tiny_store):
    """conftest's tiny store of 15 songs, a 3-fold split of them, and the songs."""
    s, tracks = tiny_store
    return s, splits.kfold_split(tracks, seed=0, k=3), tracks


def _stamps(folder):
    """When each fold's trained files were written (its model, history, scores and task record)."""
    names = ("model.keras", "history.csv", "metrics.json", "task.json", "task.log")
    return {p: p.stat().st_mtime_ns for name in names for p in sorted(folder.glob(f"fold_*/{name}"))}


@pytest.mark.slow
def test_folds_trained_as_tasks_pool_as_the_folds_trained_here(tiny, tmp_path, capsys):
    """The same 2-fold row trained here and as two tasks on a 2-worker local cluster: the same test predictions
    (within float noise: the tasks' TensorFlow runs one thread) and the same pooled scores; each fold ran in a
    process of its own started by a worker; a second sweep finds every fold finished and trains nothing."""
    s, _, tracks = tiny
    sp = splits.kfold_split(tracks, seed=0, k=2)
    settings = TrainSettings(epochs=3, verbose=0)
    here = sweep.run_rows({"r": sweep.Row("vanilla_cnn", s, sp, tmp_path / "here", settings)}, n_jobs=1)["r"]
    assert not list((tmp_path / "here").glob("fold_*/task.json"))  # trained in this process

    row = sweep.Row("vanilla_cnn", s, sp, tmp_path / "there", settings)
    there = sweep.run_rows({"r": row}, n_jobs=2)["r"]
    assert "2 of 2 fold(s) to train, one task each on a local cluster of 2 worker processes" in capsys.readouterr().out
    workers = engine.worker_pids(2)
    for fold in range(2):
        task = sweep.task_record(tmp_path / "there" / f"fold_{fold}")
        assert task["attempts"] == 1 and task["worker"] in workers and workers[task["worker"]] == task["pid"]
        assert task["child_pid"] not in set(workers.values()) | {os.getpid()}
    loaded = engine.client(2).run(lambda: "tensorflow" in sys.modules)
    assert not any(loaded.values())  # a worker only starts the fold's process: no TensorFlow, none of its noise
    a, b = here["results"]["_predictions"], there["results"]["_predictions"]
    np.testing.assert_array_equal(a["rows"], b["rows"])
    np.testing.assert_allclose(a["probs"], b["probs"], atol=1e-3)
    assert (
        here["metrics"]["results"]["song"]["accuracy_per_fold"]
        == there["metrics"]["results"]["song"]["accuracy_per_fold"]
    )
    assert there["metrics"]["protocol"]["folds"] == 2 and len(there["folds"]) == 2

    before = _stamps(tmp_path / "there")
    again = sweep.run_rows({"r": row}, n_jobs=2)["r"]
    assert "0 of 2 fold(s) to train" in capsys.readouterr().out
    assert _stamps(tmp_path / "there") == before  # loaded, nothing written again
    assert again["metrics"]["results"] == there["metrics"]["results"]


def _fold_task(s, sp, out, settings, threads=1) -> sweep.FoldTask:
    row = sweep.Row("vanilla_cnn", s, sp, out, settings)
    (task,) = [t for t in sweep.fold_tasks(row, threads) if t.fold == 0]
    return task


@pytest.mark.slow
def test_a_killed_training_process_is_started_again_and_resumes(tiny, tmp_path):
    """SIGKILL the fold's training process once two epochs are in its history: the task starts it again, the fold
    resumes after its last finished epoch (every epoch in the history once) and finishes."""
    import psutil

    s, sp, _ = tiny
    task = _fold_task(s, sp, tmp_path / "k", TrainSettings(epochs=5, patience=20, min_epoch_slices=2000, verbose=0))
    history, killed = tmp_path / "k" / "fold_0" / "history.csv", []

    def kill_once():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if history.exists() and len(history.read_text().splitlines()) >= 3:  # header + 2 epochs
                for child in psutil.Process().children(recursive=True):
                    if "child_main" in " ".join(child.cmdline()):
                        child.kill()
                        killed.append(child.pid)
                        return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_once, daemon=True)
    killer.start()
    result = sweep.train_fold(task)
    killer.join(timeout=5)
    assert killed, "the training finished before the kill: nothing was tested"
    assert result["attempts"] == 2 and result["child_pid"] != killed[0]
    epochs = [int(line.split(",")[0]) for line in history.read_text().splitlines()[1:]]
    assert epochs == list(range(5))
    log = (tmp_path / "k" / "fold_0" / "task.log").read_text()
    assert "--- attempt 2" in log
    exp = sweep.Row("vanilla_cnn", s, sp, tmp_path / "k", TrainSettings(**task.settings)).experiment(0)
    assert exp.run_folder(experiment.experiment_config(exp)["key"]).is_finished()


def test_bad_input_is_one_error_and_not_retried(tiny, tmp_path):
    """A fold whose store is gone: one GtzanError naming the store, after one attempt (a retry cannot mend it)."""
    s, sp, _ = tiny
    task = _fold_task(s, sp, tmp_path / "b", TrainSettings(epochs=1, verbose=0))
    gone = tmp_path / "moved-away"
    bad = sweep.FoldTask(**{**json.loads(task.to_json()), "store": str(gone)})
    with pytest.raises(GtzanError, match="moved-away"):
        sweep.train_fold(bad)
    assert (tmp_path / "b" / "fold_0" / "task.log").read_text().count("--- attempt") == 1


def test_tasks_travel_as_paths_and_parameters(tiny, tmp_path):
    """A fold's task is JSON of paths and the settings' fields (no model, no array); the split it names is the
    row's, saved beside the folds; finished folds are not tasks."""
    s, sp, _ = tiny
    settings = TrainSettings(epochs=2, input_size=(8, 16), weights="none", verbose=0)
    row = sweep.Row("vanilla_cnn", s, sp, tmp_path / "p", settings)
    tasks = sweep.fold_tasks(row, threads=1)
    assert [t.fold for t in tasks] == [0, 1, 2]
    back = sweep.FoldTask.from_json(tasks[1].to_json())
    assert back == tasks[1] and TrainSettings(**back.settings) == settings
    assert splits.Split.load(back.split) == sp and back.store == str(s.path.resolve())
    assert back.out_dir == str((tmp_path / "p" / "fold_1").resolve())
    (tmp_path / "p" / "fold_1").mkdir(parents=True)
    exp = row.experiment(1)
    cfg = experiment.experiment_config(exp)
    (tmp_path / "p" / "fold_1" / "model.keras").write_text("stand-in")
    (tmp_path / "p" / "fold_1" / "metrics.json").write_text(json.dumps({"config_key": cfg["key"]}))
    assert [t.fold for t in sweep.fold_tasks(row)] == [0, 2]


def _held(seconds: float) -> tuple[float, float]:
    start = time.monotonic()
    time.sleep(seconds)
    return start, time.monotonic()


def test_gpu_tasks_run_one_at_a_time_where_workers_declare_gpus(monkeypatch):
    """A worker with two threads and ``GPU=1`` runs the tasks that ask for a GPU one after another; on a cluster
    where no worker declares a GPU the request is dropped (the tasks would wait for ever)."""
    from distributed import LocalCluster

    in_this_process = {"n_workers": 1, "threads_per_worker": 2, "processes": False, "dashboard_address": None}
    with LocalCluster(**in_this_process, resources={"GPU": 1}) as gpu_cluster:  # inproc://: no network
        monkeypatch.setenv(engine.ENV_SCHEDULER, gpu_cluster.scheduler_address)
        spans = sorted(engine.map_unordered(_held, [0.4, 0.4], progress=False, resources={"GPU": 1}))
        assert spans[1][0] >= spans[0][1] - 0.01  # the second began when the first ended
        engine.shutdown()
    with LocalCluster(**in_this_process) as cpu_cluster:
        monkeypatch.setenv(engine.ENV_SCHEDULER, cpu_cluster.scheduler_address)
        c = engine.client()
        assert engine.usable_resources(c, {"GPU": 1}) is None
        spans = sorted(engine.map_unordered(_held, [0.4, 0.4], progress=False, resources={"GPU": 1}))
        assert spans[1][0] < spans[0][1]  # both ran at once, on the worker's two threads
        engine.shutdown()
