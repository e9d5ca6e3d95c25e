"""Where things live on disk: the data and runs homes and the run folder's layout."""

from __future__ import annotations

import os
from pathlib import Path

from gtzan_utils.base.constants import REPO_ROOT


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
