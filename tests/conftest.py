"""Shared fixtures: tiny audio datasets written by the tests, the real samples in ../shared, a loopback server."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SR = 22050


def _seeded_keras_home() -> list[str]:
    """Keras' cache, for the whole test session, is a temporary folder seeded with the ImageNet weights of
    ../shared/imagenet where it exists (set before anything imports Keras, which reads KERAS_HOME once): tests
    load ``weights="imagenet"`` offline as a user does after one download, and never touch ``~/.keras``."""
    import atexit
    import shutil
    import tempfile

    from gtzan_utils.classify.imagenet import seed_keras_cache

    home = Path(tempfile.mkdtemp(prefix="gtzan-keras-home-"))
    atexit.register(shutil.rmtree, home, True)
    os.environ["KERAS_HOME"] = str(home)
    return seed_keras_cache(SHARED / "imagenet", home) if (SHARED / "imagenet").is_dir() else []


#: The ImageNet bases whose weights the session's Keras cache holds (empty where ../shared/imagenet is absent).
IMAGENET_SEEDED = _seeded_keras_home()


def vae_args(**kw):
    """(TrainSettings, VAESpec) for :func:`gtzan_utils.generate.vae.train_vae` from one set of keywords: the VAE's
    design keys go to the spec, the rest to the training settings."""
    from gtzan_utils.classify.settings import TrainSettings
    from gtzan_utils.generate.vae import VAESpec

    spec_keys = {"latent_dim", "beta", "warmup_epochs", "free_bits", "filters", "downsample"}
    spec = VAESpec(**{k: v for k, v in kw.items() if k in spec_keys})
    return TrainSettings(**{k: v for k, v in kw.items() if k not in spec_keys}), spec


def declared_overrides(overrides: dict, start: str = "01", stop: str = "99") -> dict:
    """``overrides`` less the names no notebook from ``start`` to ``stop`` declares (the runner refuses those)."""
    import papermill as pm

    from gtzan_utils.run import runner

    names = set().union(*(pm.inspect_notebook(str(nb)) for nb in runner.notebooks(start, stop)))
    return {k: v for k, v in overrides.items() if k in names}


@pytest.fixture(autouse=True)
def _isolated_homes(tmp_path_factory, monkeypatch):
    """Data and run folders of a test never touch the repository's own data/ and runs/; the variables a test sets
    through the command line or the runner to name a cluster end with it."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("GTZAN_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("GTZAN_RUNS_HOME", str(home / "runs"))
    for name in ("GTZAN_SCHEDULER", "GTZAN_SCHEDULER_FILE"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # recorded: restored (or removed) after the test
        if not os.environ[name]:
            monkeypatch.delenv(name)


@pytest.fixture
def samples_dir() -> Path:
    d = SHARED / "gtzan_samples"
    if not d.is_dir():
        pytest.skip("../shared/gtzan_samples is absent")
    return d


@pytest.fixture
def meta_dir() -> Path:
    d = SHARED / "gtzan_meta"
    if not (d / "train_filtered.txt").exists():
        pytest.skip("../shared/gtzan_meta is absent")
    return d


def tone(seconds: float, freq: float = 440.0, sr: int = SR, channels: int = 1, seed: int = 0) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    rng = np.random.default_rng(seed)
    y = 0.5 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(len(t))
    y = y.astype(np.float32)
    return np.stack([y, 0.5 * y], axis=1) if channels == 2 else y


def write_dataset(
    root: Path, genres=("blues", "rock", "jazz"), per_genre: int = 2, seconds: float = 11.0, ext: str = ".wav"
) -> Path:
    """root/<genre>/<genre>.0000N<ext> tones, a distinct pitch per genre and clip."""
    for gi, g in enumerate(genres):
        (root / g).mkdir(parents=True, exist_ok=True)
        for i in range(per_genre):
            sf.write(
                root / g / f"{g}.{i:05d}{ext}",
                tone(seconds, 220.0 * (gi + 1) + 30 * i, seed=gi * 10 + i),
                SR,
                subtype="PCM_16",
            )
    return root


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    return write_dataset(tmp_path / "genres")


@pytest.fixture(scope="module")
def mel_store(tmp_path_factory):
    """(store, tracks): a 128-bin log-mel store of 1-s slices, 3 genres × 4 tone clips of 2.2 s (2 slices each)."""
    from gtzan_utils.data import dataset
    from gtzan_utils.features import store
    from gtzan_utils.features.extract import FeatureParams

    root = tmp_path_factory.mktemp("mel_ds")
    write_dataset(root / "genres", genres=("blues", "jazz", "rock"), per_genre=4, seconds=2.2)
    tracks = dataset.find_dataset(root / "genres")
    p = FeatureParams(kind="mel", slice_seconds=1.0, n_slices=2)
    return store.build_store(tracks, p, root / "stores", n_jobs=1, progress=False), tracks


@pytest.fixture(scope="module")
def mel_classifier(mel_store, tmp_path_factory):
    """A vanilla CNN trained for a few epochs on :func:`mel_store` (song split): run_experiment's dict + split."""
    from gtzan_utils.classify import experiment
    from gtzan_utils.classify.settings import TrainSettings
    from gtzan_utils.features import splits

    s, tracks = mel_store
    sp = splits.song_split(tracks, seed=0)
    run = experiment.run_experiment(
        "vanilla_cnn",
        s,
        sp,
        tmp_path_factory.mktemp("clf") / "vanilla_cnn-mel-song",
        TrainSettings(epochs=4, patience=4, batch_size=8, verbose=0),
    )
    return {**run, "split": sp}


@pytest.fixture
def http_root(tmp_path):
    """(folder, base URL): a loopback HTTP server serving ``folder`` for the test's duration."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# -- why tests skip, in one line at the end of the run ------------------------------------------------------
_EXTRA = {
    "keras": "tf",
    "tensorflow": "tf",
    "sklearn": "tf",
    "papermill": "tf",
    "nbformat": "tf",
    "seaborn": "tf",
    "ipywidgets": "tf",
}


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    """``pip install -e . && pytest`` lacks keras: say in one line which modules were missing, how many
    tests that skipped and what to install, instead of a list of skip reasons that is easy to miss. Runs
    after the short summary (a wrapper around it), so the line sits just above the final counts."""
    import re

    yield
    missing: dict[str, int] = {}
    for rep in terminalreporter.stats.get("skipped", []):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        m = re.search(r"could not import '([\w.]+)'", reason)
        if m:
            name = m.group(1).split(".")[0]
            missing[name] = missing.get(name, 0) + 1
    if missing:
        n = sum(missing.values())
        extras = sorted({_EXTRA.get(k, "tf") for k in missing})
        terminalreporter.write_line(
            f"SKIPPED {n} test module(s) or test(s) because {', '.join(sorted(missing))} "
            f"{'is' if len(missing) == 1 else 'are'} not installed: run `pip install -e .[{','.join(extras)}]` "
            f"(or `make setup`) to run them",
            yellow=True,
            bold=True,
        )


def tiny_params():
    """The feature parameters of :func:`tiny_store`: 3 MFCC slices of 2 s per song."""
    from gtzan_utils.features.extract import FeatureParams

    return FeatureParams(kind="mfcc", slice_seconds=2.0, n_slices=3)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    """(store, tracks): an MFCC store (:func:`tiny_params`) of 15 written songs, 3 genres of 5, 6 s each."""
    from gtzan_utils.data import dataset
    from gtzan_utils.features import store

    root = tmp_path_factory.mktemp("ds")
    write_dataset(root / "genres", genres=("blues", "classical", "rock"), per_genre=5, seconds=6.0)
    tracks = dataset.find_dataset(root / "genres")
    return store.build_store(tracks, tiny_params(), root / "stores", n_jobs=1, progress=False), tracks


@pytest.fixture
def no_engine_variables(monkeypatch):
    """No cluster, engine timeout or training threads from the environment (modules of engine tests use it)."""
    for name in ("GTZAN_SCHEDULER", "GTZAN_SCHEDULER_FILE", "GTZAN_ENGINE_TIMEOUT", "GTZAN_TRAIN_THREADS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def no_cluster_left():
    """A module's tests share one local cluster (it starts in seconds, but seconds add up); none is left after."""
    yield
    from gtzan_utils.base import engine

    engine.shutdown()
