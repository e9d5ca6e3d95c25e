"""The execution engine: every parallel map of the package goes through here, on Dask distributed.

Why in the base: the chapters that fan work out — ``data.dataset`` (validation, the track-list key),
``features.store`` (featurizing), ``classify.pretrained`` (the musicnn embedding pass), ``classify.sweep`` (a fold
of training per task) — must call it, and imports point down the layers, so the engine sits below them all. It knows
nothing of audio: it maps a module-level function over small items and hands the results back as they finish.

Where the tasks run (:func:`target`):

* **in-process** — ``n_jobs`` 1 (``N_JOBS=1``) and no cluster: one task after another in this process, as before
  the engine existed; for debugging (breakpoints and tracebacks work as usual).
* **local** (the default) — ``n_jobs`` ≥ 2 and no cluster: a ``LocalCluster`` of ``n_jobs`` worker processes
  (one thread each) started inside this process on first use, bound to 127.0.0.1, kept for the next map and closed
  at exit. Nothing to start, nothing to configure; about 1–3 s to start on 2 cores.
* **cluster** — ``$GTZAN_SCHEDULER`` (``tcp://host:8786``) or ``$GTZAN_SCHEDULER_FILE`` (the file that
  ``dask scheduler --scheduler-file F`` writes) is set — ``gtzan run --scheduler ...`` sets them for every notebook
  — and the tasks run on that scheduler's workers, whatever ``n_jobs`` says. Every worker needs the same
  ``gtzan_utils`` installed and the data, stores and run folder at the same paths (a shared filesystem):
  docs/cluster.md.

Rules for tasks: a task is a function importable from ``gtzan_utils`` applied to paths and parameters (never a
Keras model or a large array), and returns small metadata; whatever it produces it writes to disk itself (the
feature store's shards, the embeddings' shards). A map's results come back **unordered**, as tasks finish; each
result says which item it belongs to.

Bounded waits everywhere, never a hang: connecting (``$GTZAN_ENGINE_TIMEOUT``, default 30 s), waiting for a first
worker (same), checking that every worker imports this package at this version (same), and a cluster left with no
worker while tasks wait (:data:`NO_WORKER_SECONDS`). A worker that cannot import ``gtzan_utils`` gives one
:class:`GtzanError` naming the worker and what to do — without this check Dask's worker dies unpickling the first
task and the run waits forever.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gtzan_utils.base.errors import GtzanError

#: Address of a running Dask scheduler (``tcp://host:8786``); set by ``gtzan run --scheduler``.
ENV_SCHEDULER = "GTZAN_SCHEDULER"
#: The scheduler file of a running Dask scheduler; set by ``gtzan run --scheduler-file``.
ENV_SCHEDULER_FILE = "GTZAN_SCHEDULER_FILE"
#: Seconds to connect, to wait for a first worker and for the workers' import check (default 30).
ENV_TIMEOUT = "GTZAN_ENGINE_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
#: A cluster that has had no worker for this long while tasks wait is an error (the workers died or left).
NO_WORKER_SECONDS = 60.0
#: How often a waiting map looks at the cluster (seconds).
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Target:
    """Where a map runs: ``mode`` is ``in-process``, ``local`` (a LocalCluster of ``n_jobs`` processes) or
    ``cluster`` (an existing scheduler at ``scheduler`` or described by ``scheduler_file``)."""

    n_jobs: int = 1
    scheduler: str = ""
    scheduler_file: str = ""
    timeout: float = DEFAULT_TIMEOUT

    @property
    def mode(self) -> str:
        if self.scheduler or self.scheduler_file:
            return "cluster"
        return "local" if self.n_jobs > 1 else "in-process"

    @property
    def key(self) -> tuple:
        return (self.mode, self.n_jobs if self.mode == "local" else 0, self.scheduler, self.scheduler_file)


def target(n_jobs: int | None = None) -> Target:
    """Where work goes now: the cluster named by ``$GTZAN_SCHEDULER`` / ``$GTZAN_SCHEDULER_FILE`` when set (it wins
    over ``n_jobs``), else a local cluster of ``n_jobs`` processes, else (``n_jobs`` 1 or None) this process."""
    raw = os.environ.get(ENV_TIMEOUT, "")
    try:
        timeout = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise GtzanError(f"{ENV_TIMEOUT} must be a number of seconds, not {raw!r}") from None
    if n_jobs is not None and (not isinstance(n_jobs, int) or n_jobs < 1):
        raise GtzanError(f"N_JOBS must be a whole number >= 1 (1 runs in this process), not {n_jobs!r}")
    return Target(
        n_jobs=n_jobs or 1,
        scheduler=os.environ.get(ENV_SCHEDULER, "").strip(),
        scheduler_file=os.environ.get(ENV_SCHEDULER_FILE, "").strip(),
        timeout=timeout,
    )


def describe(n_jobs: int | None = None) -> str:
    """One line saying where work runs, e.g. ``a local cluster of 2 worker processes`` (starts nothing).

    Notebook: 02_preprocessing
    """
    t = target(n_jobs)
    if t.mode == "in-process":
        return "this process (N_JOBS=1)"
    if t.mode == "local":
        return f"a local cluster of {t.n_jobs} worker processes"
    return f"the Dask cluster at {t.scheduler or t.scheduler_file}"


@contextlib.contextmanager
def cluster_from(scheduler: str | None = None, scheduler_file=None):
    """While the block runs, work goes to the cluster at ``scheduler`` (an address) or described by
    ``scheduler_file``: ``$GTZAN_SCHEDULER`` / ``$GTZAN_SCHEDULER_FILE`` are set for this process and the processes
    it starts (the notebooks' kernels), and restored afterwards. The cluster is checked on entry (one
    :class:`GtzanError` if it cannot be reached or its workers lack the package). With neither, nothing changes.
    Used by ``gtzan run``, ``gtzan featurize`` and ``gtzan bench`` (``--scheduler`` / ``--scheduler-file``)."""
    if scheduler and scheduler_file:
        raise GtzanError("give --scheduler or --scheduler-file, not both")
    saved = {k: os.environ.get(k) for k in (ENV_SCHEDULER, ENV_SCHEDULER_FILE)}
    try:
        if scheduler or scheduler_file:
            os.environ[ENV_SCHEDULER] = scheduler or ""
            os.environ[ENV_SCHEDULER_FILE] = str(Path(scheduler_file).expanduser().resolve()) if scheduler_file else ""
            client()  # reachable, with workers that import this package: or one line now
        yield target()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if scheduler or scheduler_file:
            shutdown()


# -- the client, one per process ----------------------------------------------------------------------------
_lock = threading.Lock()
_state: dict = {"key": None, "client": None, "cluster": None}


#: Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which turns off glibc's adaptive mmap threshold:
#: every large numpy temporary is then mapped and unmapped afresh, and featurizing ran 2x slower per song (mel3 0.19 s
#: against 0.09 s). The local cluster unsets it; for ``dask worker`` the same is this environment variable.
UNSET_TRIM = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
UNSET_TRIM_ENV = "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_=None"


def _start_local(t: Target):
    import logging

    import dask
    from distributed import Client, LocalCluster

    with dask.config.set(UNSET_TRIM):
        cluster = LocalCluster(
            n_workers=t.n_jobs,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # its health/metrics server: loopback, free port
        )
    return Client(cluster, set_as_default=False, timeout=t.timeout), cluster


def _connect(t: Target):
    from distributed import Client

    if t.scheduler_file and not Path(t.scheduler_file).expanduser().exists():
        raise GtzanError(
            f"scheduler file {t.scheduler_file} not found: start the scheduler with "
            f"`dask scheduler --scheduler-file {t.scheduler_file}` (on a filesystem every node sees), or unset "
            f"{ENV_SCHEDULER_FILE} to run on this machine"
        )
    where = t.scheduler or t.scheduler_file
    try:
        if t.scheduler:
            client = Client(t.scheduler, timeout=t.timeout, set_as_default=False)
        else:
            client = Client(
                scheduler_file=str(Path(t.scheduler_file).expanduser()), timeout=t.timeout, set_as_default=False
            )
    except (OSError, TimeoutError, ValueError) as exc:
        raise GtzanError(
            f"cannot reach the Dask scheduler at {where} within {t.timeout:g} s ({type(exc).__name__}: {exc}): "
            f"is `dask scheduler` running there? Or unset {ENV_SCHEDULER}/{ENV_SCHEDULER_FILE} (drop --scheduler) "
            f"to run on this machine"
        ) from None
    try:
        client.wait_for_workers(1, timeout=t.timeout)
    except TimeoutError:
        client.close()
        raise GtzanError(
            f"the Dask scheduler at {where} has no worker after {t.timeout:g} s: start workers on each node with "
            f"`dask worker {t.scheduler or '--scheduler-file ' + t.scheduler_file}` (the same gtzan_utils installed)"
        ) from None
    return client, None


#: What a worker evaluates to prove it can import the package (a builtin function: it unpickles anywhere), with the
#: malloc setting that slows numpy down (:data:`UNSET_TRIM`).
_IMPORT_CHECK = "(__import__('gtzan_utils').__version__, __import__('os').environ.get('MALLOC_TRIM_THRESHOLD_'))"
_told_trim: set = set()


def check_workers(client, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """Ask every worker of ``client`` to import ``gtzan_utils`` and report its version; returns the workers'
    addresses. One :class:`GtzanError` naming the worker and the cause when a worker cannot import it or has another
    version, or does not answer within ``timeout`` seconds."""
    import gtzan_utils

    workers = list(client.scheduler_info()["workers"])
    futures = {
        addr: client.submit(eval, _IMPORT_CHECK, workers=[addr], allow_other_workers=False, pure=False)
        for addr in workers
    }
    deadline = time.monotonic() + timeout
    while not all(f.done() for f in futures.values()) and time.monotonic() < deadline:
        time.sleep(0.02)  # the late ones are named below
    problems = []
    for addr, fut in futures.items():
        if fut.status == "error":
            exc = fut.exception()
            problems.append(f"worker {addr} cannot import gtzan_utils ({type(exc).__name__}: {exc})")
        elif fut.status != "finished":
            problems.append(f"worker {addr} did not answer within {timeout:g} s")
        elif fut.result()[0] != gtzan_utils.__version__:
            problems.append(f"worker {addr} has gtzan_utils {fut.result()[0]}, this process {gtzan_utils.__version__}")
    client.cancel(list(futures.values()))
    trimmed = [a for a, f in futures.items() if f.status == "finished" and f.result()[1]]
    if trimmed and not problems and client.scheduler.address not in _told_trim:
        _told_trim.add(client.scheduler.address)
        print(
            f"note: {len(trimmed)} Dask worker(s) run with MALLOC_TRIM_THRESHOLD_ set (Dask's default), which makes "
            f"featurizing about 2x slower; start `dask worker` with {UNSET_TRIM_ENV} in its environment"
        )
    if problems:
        raise GtzanError(
            "; ".join(problems) + ". Install the same gtzan_utils on every worker (`pip install -e .` of the same "
            "checkout, or the same wheel, in the environment `dask worker` runs in) and restart the workers"
        )
    return workers


def client(n_jobs: int | None = None):
    """The Dask client of this process for :func:`target` (None when tasks run in this process): started or
    connected on first use, checked (:func:`check_workers`), reused while the target stays the same."""
    t = target(n_jobs)
    if t.mode == "in-process":
        return None
    with _lock:
        if _state["client"] is not None and _state["client"].status not in ("running", "connecting"):
            _close_locked()  # closed, or its scheduler went away: start or connect afresh
        if _state["key"] != t.key:
            _close_locked()
            c, cluster = _start_local(t) if t.mode == "local" else _connect(t)
            _state.update(key=t.key, client=c, cluster=cluster)
            if not _state.get("at_exit"):
                atexit.register(shutdown)
                _state["at_exit"] = True
        c = _state["client"]
    try:
        check_workers(c, t.timeout)
    except GtzanError:
        shutdown()
        raise
    return c


def _close_locked():
    c, cluster = _state["client"], _state["cluster"]
    _state.update(key=None, client=None, cluster=None)
    for thing in (c, cluster):
        if thing is not None:
            with contextlib.suppress(Exception):  # closing a cluster whose workers are gone must not hide an error
                thing.close()


def shutdown() -> None:
    """Close this process's client and, if it started one, its local cluster (also done at exit)."""
    with _lock:
        _close_locked()


def worker_pids(n_jobs: int | None = None) -> dict[str, int]:
    """``{worker address: process id}`` of the workers (empty in-process); for tests and ``gtzan bench scale``."""
    c = client(n_jobs)
    return {} if c is None else c.run(os.getpid)


# -- maps -------------------------------------------------------------------------------------------------
def _translate(exc: BaseException, fn: Callable) -> BaseException:
    """A worker's failure as the error a user can act on."""
    if isinstance(exc, GtzanError):
        return exc
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
    if isinstance(exc, ImportError) and "gtzan_utils" in str(exc):
        return GtzanError(
            f"a Dask worker cannot import gtzan_utils ({exc}): install the same gtzan_utils on every worker and "
            f"restart the workers"
        )
    if type(exc).__name__ == "KilledWorker":
        return GtzanError(
            f"a task of {name} was on {exc} each time a worker died (out of memory? killed?): the finished part is "
            f"kept on disk; give the workers more memory or fewer threads and run again, it resumes"
        )
    return exc


def map_unordered(
    fn: Callable,
    items: Iterable,
    n_jobs: int | None = None,
    *,
    desc: str = "",
    unit: str = "task",
    progress: bool = True,
    size: Callable | None = None,
    total: int | None = None,
    resources: dict | None = None,
) -> Iterator:
    """``fn(item)`` for every item, run where :func:`target` says; yields the results as tasks finish (in any
    order). ``fn`` must be a module-level function of the package and items small (paths, parameters).
    ``resources`` (e.g. ``{"GPU": 1}``): each task holds them on its worker, so a worker started with
    ``--resources GPU=1`` runs one such task at a time; ignored where no worker declares them (else the tasks
    would wait for ever) and in this process.

    A task's :class:`GtzanError` is raised as it is; a worker that cannot import the package or a cluster left with
    no worker raise one GtzanError naming the cause. Progress shows ``desc`` in ``unit``s: each result counts
    ``size(result)`` (default 1) of ``total`` (default: the number of items). Closing the generator early cancels
    the tasks not yet finished.
    """
    from gtzan_utils.base.progress import progress as show_progress

    items = list(items)
    total = len(items) if total is None and size is None else total
    c = client(n_jobs) if items else None
    results = (fn(item) for item in items) if c is None else _on_cluster(c, fn, items, resources)
    return show_progress(results, total=total, desc=desc, unit=unit, disable=not progress, size=size)


def usable_resources(c, resources: dict | None) -> dict | None:
    """``resources`` if at least one worker of ``c`` declares them all, else None (tasks asking for a resource no
    worker has would wait for ever)."""
    if not resources:
        return None
    for w in c.scheduler_info()["workers"].values():
        have = w.get("resources") or {}
        if all(have.get(k, 0) >= v for k, v in resources.items()):
            return dict(resources)
    return None


def _on_cluster(c, fn: Callable, items: list, resources: dict | None = None) -> Iterator:
    import queue

    futures = c.map(fn, items, pure=False, resources=usable_resources(c, resources))
    finished: queue.Queue = queue.Queue()
    for f in futures:
        f.add_done_callback(finished.put)  # called from the client's thread when the task ends, whatever its fate
    pending = set(futures)
    no_worker_since = None
    try:
        while pending:
            try:
                f = finished.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if c.scheduler_info()["workers"]:
                    no_worker_since = None
                elif no_worker_since is None:
                    no_worker_since = time.monotonic()
                elif time.monotonic() - no_worker_since > NO_WORKER_SECONDS:
                    raise GtzanError(
                        f"the Dask cluster has had no worker for {NO_WORKER_SECONDS:g} s while {len(pending)} tasks "
                        f"wait (workers died, or left because they could not unpickle a task: see their logs). The "
                        f"finished part is kept on disk: start workers (`dask worker ...`) and run again, it resumes"
                    ) from None
                continue
            pending.discard(f)
            if f.status == "error":
                raise _translate(f.exception(), fn)
            if f.status == "cancelled":
                raise GtzanError(
                    f"a task of {fn.__module__}.{fn.__qualname__} was cancelled by the cluster (restarted or closed?): "
                    f"run again, the finished part is kept and the run resumes"
                )
            result = f.result()
            f.release()
            yield result
    finally:
        if pending:
            c.cancel(list(pending))


def here() -> dict:
    """Where the calling code runs: ``host``, ``pid`` and ``worker`` (the Dask worker's address, "" outside a
    worker); tasks record it so that a run can show which process computed what."""
    import socket

    worker = ""
    with contextlib.suppress(ImportError, ValueError):
        from distributed import get_worker

        worker = get_worker().address
    return {"host": socket.gethostname(), "pid": os.getpid(), "worker": worker}


# -- sizes of the work ------------------------------------------------------------------------------------
def chunks(n: int, per_chunk: int) -> list[range]:
    """``range(n)`` cut into consecutive ranges of ``per_chunk`` (the last one shorter)."""
    per_chunk = max(1, int(per_chunk))
    return [range(a, min(a + per_chunk, n)) for a in range(0, n, per_chunk)]


def chunk_size(n: int, n_jobs: int | None = None, most: int = 256, per_worker: int = 4) -> int:
    """Items per task for ``n`` items: about ``per_worker`` tasks per worker (so that a slow one does not hold up
    the end), at most ``most`` items each. For work whose results are merely returned (validation, hashing); a
    feature store's shards are sized from the track list alone, so that a resumed run finds them again."""
    t = target(n_jobs)
    workers = t.n_jobs if t.mode != "cluster" else 16
    return max(1, min(most, -(-n // (workers * per_worker))))
