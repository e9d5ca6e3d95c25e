"""Run the notebooks in order with papermill into one run folder (``gtzan run``, ``make run``).

Each notebook gets the profile's parameters (``gtzan_utils/profiles/<profile>.yaml``) that its
``parameters`` cell declares — top-level keys for every notebook, a section named after a notebook
(``04_transfer_learning: {EPOCHS: 3}``) for that one only — plus ``RUN_DIR``; overrides come from
``-p KEY=VALUE``. The executed notebooks land in ``RUN_DIR/notebooks/``, the wall time of each in
``RUN_DIR/run.json``; the run stops at the first failing notebook, naming it and the failing cell, and
``--from NN --out RUN_DIR`` resumes.

Every executed notebook is **signed** (:func:`sign_notebook`, what ``jupyter trust`` does): Jupyter shows the
HTML and JavaScript outputs of a notebook only when its signature is in the user's trust database, and
papermill's output is unsigned, so without it every stored audio player of a run would open dead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path

import yaml

from gtzan_utils.base import engine, layout
from gtzan_utils.base.constants import REPO_ROOT
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.layout import runs_home

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"

#: Folder of the profile parameter files (``quick.yaml``, ``cpu.yaml``, ``full.yaml``).
PROFILES_DIR: Path = Path(__file__).resolve().parent / "profiles"


def notebooks(start: str = "01", stop: str = "99") -> list[Path]:
    """The paths of the numbered notebooks from ``start`` to ``stop`` (two-digit prefixes), sorted."""
    found = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise GtzanError(f"no notebooks in {NOTEBOOKS_DIR}: run from a checkout of the repository")
    chosen = [p for p in found if start <= p.name[:2] <= stop]
    if not chosen:
        raise GtzanError(f"--from {start} --to {stop}: no notebook in that range ({', '.join(p.name for p in found)})")
    return chosen


def load_profile(profile: str) -> dict:
    """The parameters of a run profile (a name under ``profiles/`` or a .yaml path) as a dict.

    A profile may start from another (``extends: quick``): its top-level keys then win over the other's, in its
    sections too, and its own sections add to the other's (:func:`extend_profile`)."""
    path = Path(profile) if profile.endswith((".yaml", ".yml")) else PROFILES_DIR / f"{profile}.yaml"
    if not path.exists():
        names = ", ".join(p.stem for p in sorted(PROFILES_DIR.glob("*.yaml")))
        raise GtzanError(f"unknown profile {profile!r}: use one of {names} or a .yaml file")
    doc = yaml.safe_load(path.read_text()) or {}
    base = doc.pop("extends", None)
    return extend_profile(load_profile(base), doc) if base else doc


def extend_profile(base: dict, child: dict) -> dict:
    """``base`` with ``child`` on top: a top-level key of ``child`` replaces the key everywhere in ``base`` (its
    top level and its notebook sections); a notebook section of ``child`` updates ``base``'s section."""
    out = {}
    for key, value in base.items():
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in child or isinstance(child[k], dict)}
        out[key] = value
    for key, value in child.items():
        out[key] = {**(out.get(key) or {}), **value} if isinstance(value, dict) else value
    return out


def parameters_for(profile: dict, notebook: str, declared, overrides: dict | None = None) -> dict:
    """The one merge of a run's parameters for one notebook: the profile's top-level keys, then its section named
    after the notebook, then ``overrides`` (the command line's ``-p``), kept where the notebook ``declared`` them."""
    section = {**profile, **(profile.get(notebook) or {}), **(overrides or {})}
    return {k: v for k, v in section.items() if k in declared and not isinstance(v, dict)}


def resolve_parameters(profile: str, notebook: str, overrides: dict | None = None) -> dict:
    """The parameters ``gtzan run --profile PROFILE`` gives ``notebook`` (a name like ``03_vanilla_cnn``): the
    notebook's own defaults updated by :func:`parameters_for`. What a test or a script needs to repeat a profile's
    settings without copying them."""
    import ast

    import papermill as pm

    path = NOTEBOOKS_DIR / f"{notebook}.ipynb"
    if not path.exists():
        raise GtzanError(f"no notebook {path.name} in {NOTEBOOKS_DIR}")
    declared = pm.inspect_notebook(str(path))
    out = {name: ast.literal_eval(p["default"]) for name, p in declared.items()}
    out.update(parameters_for(load_profile(profile), notebook, declared, overrides))
    return out


#: Notebook parameters that hold a path: a relative one means relative to where ``gtzan run`` was started (the
#: kernels run in ``notebooks/``), so the runner makes it absolute. Keywords (``DATA=synth``) are kept.
PATH_PARAMETERS = ("DATA", "STORE_DIR", "PREDICT_MODEL")
DATA_KEYWORDS = ("synth", "gtzan")


def _absolute_paths(params: dict) -> dict:
    """``params`` with the relative paths of :data:`PATH_PARAMETERS` (top level and per-notebook sections) made
    absolute against the current directory."""

    def fix(section: dict) -> dict:
        out = dict(section)
        for key in PATH_PARAMETERS:
            value = out.get(key)
            if isinstance(value, str) and value and value not in DATA_KEYWORDS and not Path(value).is_absolute():
                out[key] = str(Path(value).expanduser().resolve())
        return out

    return {k: fix(v) if isinstance(v, dict) else v for k, v in fix(params).items()}


def _kernel_env() -> None:
    """Make the kernel named python3 the one of this interpreter, and tell notebooks they run unattended."""
    share = str(Path(sys.prefix) / "share" / "jupyter")
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if share not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([share, *paths])
    os.environ["GTZAN_PAPERMILL"] = "1"


def kernel_manager_class():
    """The kernel manager papermill starts each notebook's kernel with: jupyter_client's, asking for CurveZMQ
    encryption of the kernel's sockets where the kernel supports it (ipykernel >= 7.3 declares so, and warns on
    every start, in the run's output, when its loopback TCP traffic is plain); jupyter_client's own where it
    predates transport encryption."""
    from jupyter_client.manager import KernelManager

    if "transport_encryption" not in KernelManager.class_trait_names():
        return KernelManager

    class EncryptedKernelManager(KernelManager):
        def __init__(self, **kw):
            kw.setdefault("transport_encryption", "auto")
            super().__init__(**kw)

    return EncryptedKernelManager


def sign_notebook(path, notary=None) -> None:
    """Sign the notebook at ``path`` in the Jupyter trust database (``jupyter trust PATH`` does the same).

    Only this user's Jupyter installation (its ``notebook_secret`` and ``nbsignatures.db`` in the Jupyter data
    folder) then trusts it: its stored audio players and other HTML outputs render when it is opened. A run
    copied from elsewhere needs ``jupyter trust runs/<run>/notebooks/*.ipynb``. Returns None.

    Notebook: all of them, as executed by ``gtzan run``.
    """
    import nbformat
    from nbformat.sign import NotebookNotary

    notary = notary or NotebookNotary()
    Path(notary.data_dir).mkdir(parents=True, exist_ok=True)  # a fresh machine has no Jupyter data folder yet
    notary.sign(nbformat.read(str(path), as_version=4))


def run_pipeline(
    profile: str = "quick",
    data: str | None = None,
    start: str = "01",
    out=None,
    overrides: dict | None = None,
    stop: str = "99",
    scheduler: str | None = None,
    scheduler_file: str | None = None,
) -> Path:
    """Execute notebooks ``start``..``stop`` with the profile's parameters into one run folder, each signed.

    ``scheduler`` (an address, ``tcp://host:8786``) or ``scheduler_file`` (what ``dask scheduler --scheduler-file``
    wrote) sends the parallel work of every notebook to that Dask cluster: the runner checks the cluster first (one
    line if it cannot be reached or its workers lack the package) and passes it to the kernels as
    ``$GTZAN_SCHEDULER`` / ``$GTZAN_SCHEDULER_FILE`` (:mod:`gtzan_utils.base.engine`); without them each notebook
    starts its own local workers (``N_JOBS``). Returns the run folder (``runs/<profile>-<time>`` unless ``out``);
    raises :class:`GtzanError` naming the notebook and cell that failed, and the command that resumes. Used by
    ``gtzan run`` and ``make run``.
    """
    with _engine_env(scheduler, scheduler_file):
        return _run(profile, data, start, out, overrides, stop)


@contextlib.contextmanager
def _engine_env(scheduler: str | None, scheduler_file: str | None):
    """The cluster named for the run (:func:`engine.cluster_from`: checked before any notebook starts, passed to the
    kernels), or one named by the environment already, checked the same way."""
    with engine.cluster_from(scheduler, scheduler_file) as t:
        if t.mode == "cluster" and not (scheduler or scheduler_file):
            engine.client()
            engine.shutdown()
        yield


def _cluster_flag() -> str:
    """`` --scheduler ...`` as the command line gave it, for the resume hint ("" on this machine)."""
    t = engine.target()
    if t.scheduler:
        return f" --scheduler {t.scheduler}"
    return f" --scheduler-file {t.scheduler_file}" if t.scheduler_file else ""


def _run(profile, data, start, out, overrides, stop) -> Path:
    import papermill as pm

    params = load_profile(profile)
    if data:
        params["DATA"] = data
    params.update(overrides or {})
    params = _absolute_paths(params)
    overrides = _absolute_paths(overrides or {})
    run_dir = Path(out) if out else runs_home() / f"{profile}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = run_dir.resolve()
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    chosen = notebooks(start, stop)
    declared = {nb.name: {p for p in pm.inspect_notebook(str(nb))} for nb in chosen}
    unknown = set(overrides or {}) - set().union(*declared.values())
    if unknown:
        raise GtzanError(
            f"unknown notebook parameter(s) {', '.join(sorted(unknown))}: see the notebooks' parameters cells"
        )
    _kernel_env()
    os.environ["GTZAN_PROFILE"] = profile  # the kernels record it in each model's features.json (trained_on)

    log = logging.getLogger("gtzan.run")
    handler = logging.FileHandler(run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    record_path = run_dir / "run.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {"notebooks": {}}
    record.update(profile=profile, parameters=params, engine=engine.describe(params.get("N_JOBS")))
    print(f"run folder: {run_dir}\nparallel work: {record['engine']}")
    try:
        for nb in chosen:
            nb_params = parameters_for(params, nb.stem, declared[nb.name], overrides)
            nb_params["RUN_DIR"] = str(run_dir)
            target = run_dir / "notebooks" / nb.name
            print(f"▶ {nb.name} {nb_params}", flush=True)
            log.info("start %s %s", nb.name, nb_params)
            t0 = time.perf_counter()
            try:
                pm.execute_notebook(
                    str(nb),
                    str(target),
                    parameters=nb_params,
                    kernel_name="python3",
                    cwd=str(NOTEBOOKS_DIR),
                    progress_bar=False,
                    kernel_manager_class=kernel_manager_class(),
                )
            except pm.PapermillExecutionError as exc:
                sign_notebook(target)  # its outputs, up to the error, are this run's own
                seconds = time.perf_counter() - t0
                record["notebooks"][nb.name] = {"seconds": round(seconds, 1), "status": "failed"}
                record_path.write_text(json.dumps(record, indent=1))
                log.info("FAILED %s at cell %s: %s: %s", nb.name, exc.exec_count, exc.ename, exc.evalue)
                raise GtzanError(
                    f"{nb.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}. "
                    f"See {target}; after fixing, resume with `gtzan run --profile {profile} --from {nb.name[:2]} "
                    f"--out {run_dir}{_cluster_flag()}`"
                ) from None
            sign_notebook(target)
            seconds = time.perf_counter() - t0
            record["notebooks"][nb.name] = {"seconds": round(seconds, 1), "status": "ok"}
            record_path.write_text(json.dumps(record, indent=1))
            log.info("done %s in %.1f s", nb.name, seconds)
            print(f"  done in {seconds:.1f} s → {target}", flush=True)
    finally:
        log.removeHandler(handler)
        handler.close()
    total = sum(v["seconds"] for v in record["notebooks"].values())
    table = layout.table_path(run_dir)
    if table.exists() and any(nb.stem == layout.RESULTS for nb in chosen):
        print("\n" + table.read_text())
    print(
        f"\nexecuted notebooks: {run_dir / 'notebooks'}\nresults and figures: {run_dir}\n"
        f"wall time of the notebooks: {total:.0f} s"
    )
    return run_dir
