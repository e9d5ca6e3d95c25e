"""Constants and paths shared by every module: genres, sample rate, folders, profiles.

A parameter has one home: the audio constants live here, feature parameters in
:class:`gtzan_utils.features.FeatureParams`, notebook parameters in the notebooks' ``parameters`` cell and
the profile files in ``gtzan_utils/profiles/``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The ten GTZAN genres, in the dataset's (alphabetical) order; label index = position here.
GENRES: tuple[str, ...] = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)

#: GTZAN's sample rate; every clip is resampled to it.
SR: int = 22050

#: Audio file endings that soundfile decodes without system packages.
AUDIO_EXTENSIONS: tuple[str, ...] = (".au", ".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".snd")

#: The file the embedded synthetic GTZAN (``gtzan_utils.synth``) writes beside its genre folders: it marks a set as
#: synthetic (``data.dataset_source``).
SYNTH_MARKER: str = "SYNTH.json"

#: Repository root (where ``notebooks/`` lives) when the package is installed from a checkout.
REPO_ROOT: Path = Path(__file__).resolve().parent.parent

#: Folder of the profile parameter files (``quick.yaml``, ``full.yaml``).
PROFILES_DIR: Path = Path(__file__).resolve().parent / "profiles"


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


def in_papermill() -> bool:
    """True when the ``gtzan run`` runner executes the notebook (it sets ``GTZAN_PAPERMILL=1``)."""
    return os.environ.get("GTZAN_PAPERMILL") == "1"
