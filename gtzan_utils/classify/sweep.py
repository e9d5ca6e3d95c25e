"""Sweeps: the rows of Table 1 a notebook trains — models × inputs × splits × folds (× seeds) — one task per fold.

A :class:`Row` is one row to compute: a model on a feature store with a split and :class:`TrainSettings`, into a
folder (k folds: ``fold_<i>`` inside it, the row's ``metrics.json`` pooling them). :func:`run_rows` computes a
notebook's rows and returns, for each, what :func:`gtzan_utils.classify.experiment.run_split` returns:

* **here** — ``TRAIN_JOBS`` 1 and no cluster, the default: one fold after another in this process, exactly
  ``run_split`` (Keras' output in the notebook, breakpoints work). On a 2-core machine this is also the fastest
  way: one model on two threads trains a fold in about half the time of one thread, so two folds at once finish
  no sooner and each pays a fresh process (measured: docs/timings.md, "Sweeps: folds as tasks").
* **on the engine** — ``gtzan run --scheduler``/``--scheduler-file`` named a cluster (or ``TRAIN_JOBS`` ≥ 2: a
  local cluster of that many workers): every (row, fold) not finished yet is one task, a :class:`FoldTask` of
  paths and parameters. The worker runs it in a **fresh Python process** (:func:`train_fold`), so TensorFlow's
  graphs, memory and thread pools end with the fold and a crash takes only that process; its output goes to
  ``task.log`` in the fold's folder, and ``task.json`` says where and how long it ran. Each task asks for one
  ``GPU`` (Dask resources): workers started with ``--resources GPU=1`` train one fold at a time, and workers
  without GPUs take the tasks when no worker declares one. The folds are then pooled here exactly as run_split
  pools them (each finished fold is loaded and scored on its test songs).

Retries are safe because a run folder knows its state (:class:`gtzan_utils.base.resume.RunFolder`): a finished fold
is loaded, never trained twice; a training process that died (killed, out of memory) is started once more and
resumes from its last finished epoch; a worker lost mid-fold makes Dask run the task elsewhere, which resumes the
same way (the training process of a lost worker ends with it). A :class:`GtzanError` (bad input) is not retried.
Shown in notebooks 03_vanilla_cnn and 04_transfer_learning.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gtzan_utils.base import engine, layout
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.files import read_json, write_json
from gtzan_utils.classify.settings import TrainSettings

if TYPE_CHECKING:
    from gtzan_utils.classify.experiment import Experiment


def _experiment():
    """The experiment module, imported when needed: it imports Keras, and a worker that only starts a fold's
    process must not load TensorFlow (nor print its start-up lines into the notebook of a local cluster)."""
    from gtzan_utils.classify import experiment

    return experiment


#: How often a fold's training process is started before the task fails (a killed process resumes the fold).
ATTEMPTS = 2
#: The exit status of a training process stopped by a :class:`GtzanError` (bad input: not retried).
USER_ERROR = 3
#: What a worker runs for one fold: a fresh interpreter of the worker's own environment.
CHILD = (sys.executable, "-c", "from gtzan_utils.classify.sweep import child_main; child_main()")
#: Threads of a fold's TensorFlow on a cluster worker (default: TensorFlow's own, every core of the node).
ENV_THREADS = "GTZAN_TRAIN_THREADS"


@dataclass(frozen=True, eq=False)
class Row:
    """One row of Table 1 to compute: ``model_name`` on ``store``'s slices with ``split`` (every fold) and
    ``settings``, into ``out_dir``; ``train_store``: the overlapping training windows of notebook 02.

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """

    model_name: str
    store: object
    split: object
    out_dir: Path
    settings: TrainSettings
    train_store: object = None

    def experiment(self, fold: int) -> Experiment:
        folder = layout.row_fold_dir(self.out_dir, fold, len(self.split.folds))
        return _experiment().Experiment(
            self.model_name, self.store, self.split, folder, self.settings, fold, self.train_store
        )

    def describe(self) -> str:
        """E.g. ``vanilla_cnn on mfcc (13, 216), training windows, song split``."""
        p = self.store.params
        windows = ", training windows" if self.train_store is not None else ""
        return f"{self.model_name} on {p.kind} {p.shape}{windows}, {self.split.name} split"


@dataclass(frozen=True)
class FoldTask:
    """What one fold's task receives (paths and parameters, as JSON): the model, the store folders, the split's
    JSON file, the fold and its folder, the settings' fields and TensorFlow's threads (0: its default)."""

    model_name: str
    store: str
    split: str
    fold: int
    out_dir: str
    settings: dict
    train_store: str = ""
    threads: int = 0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FoldTask:
        return cls(**json.loads(text))


def fold_tasks(row: Row, threads: int = 0) -> list[FoldTask]:
    """The tasks of ``row``'s folds that have not finished, its split saved beside them (``split.json``) for the
    workers to read."""
    split_file = row.split.save(Path(row.out_dir) / "split.json")
    tasks = []
    for fold in range(len(row.split.folds)):
        if _finished(row, fold):
            continue
        exp = row.experiment(fold)
        tasks.append(
            FoldTask(
                row.model_name,
                str(Path(row.store.path).resolve()),
                str(split_file.resolve()),
                fold,
                str(Path(exp.out_dir).resolve()),
                row.settings.to_dict(),
                str(Path(row.train_store.path).resolve()) if row.train_store is not None else "",
                threads,
            )
        )
    return tasks


def _finished(row: Row, fold: int) -> bool:
    exp = row.experiment(fold)
    return exp.run_folder(_experiment().experiment_config(exp)["key"]).is_finished()


# -- on a worker: one fold in a fresh process ---------------------------------------------------------------
def _child_env(task: FoldTask) -> dict:
    env = dict(os.environ)
    for name in (engine.ENV_SCHEDULER, engine.ENV_SCHEDULER_FILE, "MALLOC_TRIM_THRESHOLD_"):
        env.pop(name, None)  # the fold's own maps run in its process; glibc's default malloc (see engine.UNSET_TRIM)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.pop(name, None)  # Dask's nanny sets 1 for its worker (featurizing); a fold gets the threads below
    threads = task.threads or int(env.get(ENV_THREADS) or 0)
    if threads:
        env[ENV_THREADS] = env["OMP_NUM_THREADS"] = str(threads)
    return env


def _last_line(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


def train_fold(task: FoldTask) -> dict:
    """Task: one fold (:func:`gtzan_utils.classify.experiment.run_experiment`) in a fresh Python process started
    where the task runs, its output appended to ``task.log`` in the fold's folder; a process that dies is started
    once more (it resumes the fold). Returns small metadata — where, which process, seconds, attempts — also
    written to ``task.json``."""
    out = Path(task.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log, where, t0 = out / "task.log", engine.here(), time.perf_counter()
    for attempt in range(1, ATTEMPTS + 1):
        with open(log, "a") as fh:
            fh.write(f"--- attempt {attempt}: worker {where['worker'] or '(none)'} on {where['host']}\n")
            fh.flush()
            proc = subprocess.Popen(
                CHILD, stdin=subprocess.PIPE, stdout=fh, stderr=subprocess.STDOUT, text=True, env=_child_env(task)
            )
            proc.communicate(task.to_json())
        if proc.returncode == 0:
            break
        if proc.returncode == USER_ERROR:
            raise GtzanError(_last_line(log).removeprefix("GtzanError: "))
    else:
        raise GtzanError(
            f"fold {task.fold} of {out}: its training process failed {ATTEMPTS} times (last exit status "
            f"{proc.returncode}); the end of its output ({log}): {_last_line(log)}"
        )
    doc = {**where, "child_pid": proc.pid, "attempts": attempt, "seconds": round(time.perf_counter() - t0, 1)}
    write_json(out / "task.json", doc)
    return {**doc, "fold": task.fold, "out_dir": str(out)}


def _exit_with_parent() -> None:
    """End this process when the worker that started it is gone (a lost worker's fold is run elsewhere: two
    processes must not train into one folder)."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(70)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def run_fold_here(task: FoldTask) -> dict:
    """The fold of ``task`` in this process: its store, windows and split opened from their paths, TensorFlow
    limited to ``task.threads`` (or ``$GTZAN_TRAIN_THREADS``), a GPU used when there is one."""
    from gtzan_utils.features.splits import Split
    from gtzan_utils.features.store import FeatureStore

    store = FeatureStore(task.store)  # bad input fails here, before TensorFlow starts
    train_store = FeatureStore(task.train_store) if task.train_store else None
    split, settings = Split.load(task.split), TrainSettings(**{**task.settings, "verbose": 2})

    import tensorflow as tf

    from gtzan_utils.classify.training import setup_device

    threads = int(os.environ.get(ENV_THREADS) or task.threads or 0)
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    setup_device()
    return _experiment().run_experiment(
        task.model_name, store, split, task.out_dir, settings, fold=task.fold, train_store=train_store
    )


def child_main() -> None:
    """Entry of a fold's training process (:data:`CHILD`): the :class:`FoldTask` as JSON on standard input."""
    task = FoldTask.from_json(sys.stdin.read())
    _exit_with_parent()
    try:
        run_fold_here(task)
    except GtzanError as exc:
        print(f"GtzanError: {exc}", file=sys.stderr, flush=True)
        sys.exit(USER_ERROR)


# -- in the notebook: a sweep -------------------------------------------------------------------------------
def _prepare(row: Row) -> None:
    """What the folds of ``row`` share, computed once before they are submitted: a frozen musicnn backbone's
    embeddings of the store (each fold's head learns from them)."""
    if _experiment().experiment_config(row.experiment(0))["on_embeddings"]:
        from gtzan_utils.classify.models import MUSICNN_MODELS
        from gtzan_utils.classify.pretrained import store_embeddings

        store_embeddings(row.store, MUSICNN_MODELS[row.model_name], progress=False)


def _submit(rows: dict, n_jobs: int | None) -> None:
    """Every unfinished fold of ``rows`` as one task on the engine; a line per fold as it finishes."""
    t = engine.target(n_jobs)
    threads = max(1, (os.cpu_count() or 1) // t.n_jobs) if t.mode == "local" else 0
    tasks, names = [], {}
    for row in rows.values():
        _prepare(row)
        for task in fold_tasks(row, threads):
            tasks.append(task)
            names[task.out_dir] = row.describe() + (f", fold {task.fold}" if len(row.split.folds) > 1 else "")
    n_folds = sum(len(r.split.folds) for r in rows.values())
    print(f"{len(tasks)} of {n_folds} fold(s) to train, one task each on {engine.describe(n_jobs)}")
    for r in engine.map_unordered(train_fold, tasks, n_jobs, progress=False, resources={"GPU": 1}):
        again = f" ({r['attempts']} attempts)" if r["attempts"] > 1 else ""
        where = f"process {r['child_pid']} of {r['worker'] or r['host']}"
        print(f"   {names[r['out_dir']]}: {r['seconds']:.0f} s in {where}{again}")


def run_rows(rows: dict, n_jobs: int | None = 1) -> dict:
    """Compute every :class:`Row` of ``rows`` (``{key: Row}``) and return ``{key: run}``, each run what
    :func:`gtzan_utils.classify.experiment.run_split` returns (k folds pooled, mean ± std). Where the folds train:
    the module's docstring — here with ``n_jobs`` 1 and no cluster, else one task per fold on the engine.

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """
    on_engine = engine.target(n_jobs).mode != "in-process"
    if on_engine and rows:
        _submit(rows, n_jobs)
    runs = {}
    for key, row in rows.items():
        print(f"── {row.describe()}")
        if on_engine:
            unfinished = [f for f in range(len(row.split.folds)) if not _finished(row, f)]
            if unfinished:  # never trained here behind the user's back
                raise GtzanError(f"{row.out_dir}: folds {unfinished} did not finish on the engine; run again")
        runs[key] = _experiment().run_split(
            row.model_name, row.store, row.split, row.out_dir, row.settings, train_store=row.train_store
        )
    return runs


def task_record(fold_dir) -> dict:
    """``task.json`` of a fold trained as a task (where, which process, seconds, attempts); {} for one trained in
    the notebook's process."""
    return read_json(Path(fold_dir) / "task.json", {})
