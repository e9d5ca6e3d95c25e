"""Where things live on disk: the data and runs homes, and the run folder's layout — the one module that knows it.

A run folder (``runs/<profile>-<time>/`` from ``gtzan run``, ``runs/interactive`` in JupyterLab) holds one folder per
notebook; every other module and notebook asks this module for a path instead of spelling it out::

    <run>/02_preprocessing/stores.json, windows.json, splits/<split>.json     (feature stores live in the data home)
    <run>/03_vanilla_cnn/<model>-<input>-<split>/[fold_<i>/]metrics.json ...   (and leak.json)
    <run>/04_transfer_learning/<model>-<input>-<split>/...                     (same layout)
    <run>/05_vae_generation/vae/vae.keras, audio/, vae_metrics.json
    <run>/06_results/table1.md
"""

from __future__ import annotations

import os
from pathlib import Path

from gtzan_utils.base.constants import REPO_ROOT

#: The six notebooks, in the story's order (their file names without ``.ipynb``; each is a folder of a run).
NOTEBOOKS: tuple[str, ...] = (
    "01_data_exploration",
    "02_preprocessing",
    "03_vanilla_cnn",
    "04_transfer_learning",
    "05_vae_generation",
    "06_results",
)
PREPROCESSING, VANILLA_CNN, TRANSFER, GENERATION, RESULTS = NOTEBOOKS[1:]


def data_home() -> Path:
    """Where downloaded and generated data go: ``$GTZAN_DATA_HOME`` or ``<repo>/data``.

    Notebook: 02_preprocessing
    """
    return Path(os.environ.get("GTZAN_DATA_HOME", REPO_ROOT / "data")).expanduser()


def runs_home() -> Path:
    """Where run folders go: ``$GTZAN_RUNS_HOME`` or ``<repo>/runs``."""
    return Path(os.environ.get("GTZAN_RUNS_HOME", REPO_ROOT / "runs")).expanduser()


def run_dirs(run_dir, notebook: str) -> tuple[Path, Path]:
    """The run folder and this notebook's folder in it, ``(run_dir, run_dir/<notebook>/)``; the latter is created.
    ``run_dir`` empty means ``runs/interactive``. The one derived-values line every notebook shares.

    Notebook: 01_data_exploration, 02_preprocessing, 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation, 06_results
    """
    base = Path(run_dir).expanduser() if str(run_dir) else runs_home() / "interactive"
    out = base / notebook
    out.mkdir(parents=True, exist_ok=True)
    return base, out


def notebook_dir(run_dir, notebook: str) -> Path:
    """``run_dir/<notebook>`` (not created)."""
    return Path(run_dir) / notebook


def prep_dir(run_dir) -> Path:
    """Notebook 02's folder: the store index (``stores.json``, ``windows.json``) and the splits.

    Notebook: 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation
    """
    return notebook_dir(run_dir, PREPROCESSING)


def split_path(run_dir, split_name: str) -> Path:
    """Where notebook 02 writes the split ``split_name`` (``song``, ``kfold``, ``paper``, ``filtered``).

    Notebook: 02_preprocessing, 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation
    """
    return prep_dir(run_dir) / "splits" / f"{split_name}.json"


def experiment_dir(out_dir, model: str, kind: str, split_name: str) -> Path:
    """The folder of one Table 1 row in a notebook's folder: ``out_dir/<model>-<input>-<split>``.

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """
    return Path(out_dir) / f"{model}-{kind}-{split_name}"


def fold_dir(row_dir, fold: int) -> Path:
    """A k-fold row's fold folder: ``row_dir/fold_<i>`` (the row's own ``metrics.json`` pools the folds)."""
    return Path(row_dir) / f"fold_{fold}"


def row_fold_dir(row_dir, fold: int, n_folds: int) -> Path:
    """Where fold ``fold`` of a row of ``n_folds`` folds writes: the row's folder itself when the split has one
    fold, else :func:`fold_dir`."""
    return Path(row_dir) if n_folds == 1 else fold_dir(row_dir, fold)


def leak_path(run_dir) -> Path:
    """Notebook 03's leak measurement (paper split against song split)."""
    return notebook_dir(run_dir, VANILLA_CNN) / "leak.json"


def vae_metrics_path(run_dir) -> Path:
    """Notebook 05's judging of the generated audio."""
    return notebook_dir(run_dir, GENERATION) / "vae_metrics.json"


def table_path(run_dir) -> Path:
    """Notebook 06's Table 1 (Markdown)."""
    return notebook_dir(run_dir, RESULTS) / "table1.md"
