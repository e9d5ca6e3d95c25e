"""The notebooks' setup, in one place: what the first cell of every notebook calls after installing the package.

* :func:`setup` — on Colab, data and runs on Google Drive (they outlive the session); everywhere, TensorFlow
  imported without its C++ start-up noise, the versions of Python / TensorFlow / Keras / librosa checked
  against the project's requirements, and whether a GPU is present; prints one short block.
* :func:`quiet_tensorflow` — import TensorFlow with its start-up logging filtered out (CUDA probing,
  absl's pre-init banner, CPU-instruction notes); anything else it writes still shows.
* :func:`check_versions` — the version table behind :func:`setup`.

The package's ``__init__`` sets ``TF_CPP_MIN_LOG_LEVEL`` (unless already set) before anything can import
TensorFlow; this module removes what that variable cannot reach (lines TensorFlow logs before it reads it).
Python warnings are never touched.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from gtzan_utils.base.constants import REPO_ROOT
from gtzan_utils.base.errors import GtzanError

#: Folder on Google Drive that holds ``data/`` (downloads, feature stores) and ``runs/`` in Colab.
DRIVE_HOME = "/content/drive/MyDrive/gtzan"

#: Packages whose versions :func:`setup` checks (their ranges come from ``requirements.txt``).
CHECKED = ("tensorflow", "keras", "librosa")

#: TensorFlow's start-up lines that carry no information for a notebook reader.
TF_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|cudart_stub\.cc|cuda_(?:platform|driver|diagnostics|executor)\.cc|failed call to cuInit"
    r"|Unable to register cu(?:DNN|FFT|BLAS) factory|computation placer already registered"
    r"|cpu_feature_guard\.cc|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions:|rebuild TensorFlow with the appropriate compiler flags"
    r"|oneDNN custom operations are on|TF_ENABLE_ONEDNN_OPTS"
    r"|Could not find cuda drivers"
)


def quiet_tensorflow():
    """Import TensorFlow (once) with its C++ start-up lines filtered out of stderr; returns the module.

    TensorFlow writes some start-up lines to file descriptor 2 before it reads ``TF_CPP_MIN_LOG_LEVEL``; in a
    notebook they become a pink stderr block. The import runs with fd 2 sent to a temporary file; afterwards every
    captured line that is not start-up noise (:data:`TF_NOISE`) is written to ``sys.stderr`` again.

    Notebook: every notebook's setup cell (through :func:`setup`).
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    kept = without_noise(_capture_fd2(_import_tf))
    if kept:
        print(kept, file=sys.stderr, flush=True)
    sys.modules["tensorflow"].get_logger().setLevel("ERROR")  # no retracing notes per model (Python warnings stay)
    return sys.modules["tensorflow"]


def without_noise(text: str) -> str:
    """``text`` less its TensorFlow start-up lines (:data:`TF_NOISE`) and blank lines."""
    return "\n".join(line for line in text.splitlines() if line.strip() and not TF_NOISE.search(line))


def _import_tf():
    import tensorflow as tf

    tf.config.list_physical_devices("GPU")  # CUDA is probed here: its lines belong to the start-up too


def _capture_fd2(fn) -> str:
    """Run ``fn()`` with file descriptor 2 redirected to a temporary file; return what was written there."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (some embedded interpreters): nothing to capture
        fn()
        return ""
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            fn()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("utf-8", "replace")


def _requirements(path: Path) -> dict[str, str]:
    """``{name: specifier}`` of ``requirements.txt`` (empty when the package is installed without the repo)."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)$", line)
        if m:
            out[m.group(1).lower()] = m.group(2).replace(" ", "")
    return out


def _installed(name: str) -> str | None:
    if name == "python":
        return ".".join(map(str, sys.version_info[:3]))
    if name == "tensorflow" and "tensorflow" in sys.modules:
        return sys.modules["tensorflow"].__version__
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_versions(requirements: Path | None = None, names=CHECKED) -> list[dict]:
    """Python and each package of ``names`` against the project's ranges; returns one dict per row.

    Each row: ``name``, ``installed`` (None if missing), ``required`` (the range; Python's from the package
    metadata, the others from ``requirements.txt``, "" when unknown) and ``status``: "ok", "newer than tested"
    (above the range: a note, not an error) or "too old" / "missing". Raises :class:`GtzanError` naming what to
    install when anything is too old or missing.

    Notebook: every notebook's setup cell (through :func:`setup`).
    """
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    reqs = _requirements(REPO_ROOT / "requirements.txt" if requirements is None else Path(requirements))
    try:
        reqs["python"] = metadata.metadata("gtzan_utils").get("Requires-Python") or ""
    except metadata.PackageNotFoundError:
        reqs.setdefault("python", "")
    rows = []
    for name in ("python", *names):
        have, spec = _installed(name), reqs.get(name, "")
        if have is None:
            status = "missing"
        elif not spec or Version(have) in SpecifierSet(spec):
            status = "ok"
        else:
            floors = SpecifierSet(",".join(s for s in spec.split(",") if s.startswith((">", "~", "=="))))
            status = "too old" if Version(have) not in floors else "newer than tested"
        rows.append({"name": name, "installed": have, "required": spec, "status": status})
    bad = [r for r in rows if r["status"] in ("too old", "missing")]
    if bad:
        need = " ".join(f"'{r['name']}{r['required']}'" for r in bad if r["name"] != "python")
        what = "; ".join(
            f"{r['name']} {r['installed'] or 'not installed'} (needs {r['required'] or 'any'})" for r in bad
        )
        raise GtzanError(
            f"{what}: install with `pip install {need}` (then restart the kernel)"
            if need
            else f"{what}: use a newer Python"
        )
    return rows


def gpu_names() -> list[str]:
    """Names of the GPUs TensorFlow sees (empty on a CPU); imports TensorFlow quietly.

    Notebook: every notebook's setup cell (through :func:`setup`).
    """
    tf = quiet_tensorflow()
    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name") or gpu.name)
        except Exception:  # details are optional; the device itself is what matters
            names.append(gpu.name)
    return names


def use_drive(home: str = DRIVE_HOME, mount: bool = True) -> dict[str, Path]:
    """Colab: mount Google Drive and keep data (downloads, feature stores) and runs under ``home``; returns both.

    Sets ``GTZAN_DATA_HOME`` and ``GTZAN_RUNS_HOME`` unless already set, so a later session finds the same
    data, stores and run folders (``RUN_DIR = ""`` means ``<runs>/interactive``).

    Notebook: every notebook's setup cell on Colab (through :func:`setup`).
    """
    if mount:
        from google.colab import drive  # only on Colab

        drive.mount("/content/drive")
    os.environ.setdefault("GTZAN_DATA_HOME", str(Path(home) / "data"))
    os.environ.setdefault("GTZAN_RUNS_HOME", str(Path(home) / "runs"))
    return {"data": Path(os.environ["GTZAN_DATA_HOME"]), "runs": Path(os.environ["GTZAN_RUNS_HOME"])}


def setup(is_colab: bool = False) -> None:
    """The setup every notebook runs first: Drive on Colab, quiet TensorFlow, versions, GPU; prints them.

    Prints e.g. ``Python 3.11.7 · tensorflow 2.21.0 · keras 3.15.1 · librosa 0.11.0 (requirements met)``,
    a GPU line (or how to get one) and where data and runs go. Raises :class:`GtzanError` when a package
    is too old or missing. Returns None (nothing to display).

    Notebook: 01_data_exploration, 02_preprocessing, 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation,
    06_results (every notebook's first code cell).
    """
    from gtzan_utils.base.layout import data_home, runs_home

    if is_colab:
        use_drive()
    gpus = gpu_names()
    rows = check_versions()
    line = " · ".join(f"{r['name'].replace('python', 'Python')} {r['installed']}" for r in rows)
    notes = [
        f"{r['name']} is newer than the tested range {r['required']}"
        for r in rows
        if r["status"] == "newer than tested"
    ]
    print(f"{line} ({'; '.join(notes) if notes else 'requirements met'})")
    if gpus:
        print(f"GPU: {', '.join(gpus)}")
    else:
        print(
            "GPU: none, CPU only (fine for the quick profile; full runs want a GPU, e.g. Colab: "
            "Runtime > Change runtime type)"
        )
    print(f"data: {data_home()}\nruns: {runs_home()}")


def warm_up() -> float:
    """Run once what the notebooks run first — every feature kind, the audio figures, a mel inversion — on 3 s of
    noise, so that librosa's numba kernels are compiled and cached in the environment now (``make setup`` calls
    this) rather than in the first notebook of the first run (about 25 s on 2 cores). Returns the seconds taken."""
    import time

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from gtzan_utils.data.explore import plot_waveform
    from gtzan_utils.features.extract import KINDS, FeatureParams, compute_slices
    from gtzan_utils.generate.audio import mel_db_to_audio

    t = time.perf_counter()
    y = np.random.default_rng(0).standard_normal((1, 3 * 22050)).astype(np.float32) * 0.1
    for kind in KINDS:
        p = FeatureParams(kind=kind, slice_seconds=3.0, n_slices=1)
        audio = y if p.sr == 22050 else y[:, : 3 * p.sr]
        compute_slices(audio, p)
    mel = compute_slices(y, FeatureParams(kind="mel", slice_seconds=3.0, n_slices=1))
    mel_db_to_audio(mel[0], n_iter=2, inverse="pinv")
    fig, ax = plt.subplots()
    plot_waveform(y[0], ax)
    import librosa.display

    librosa.display.specshow(mel[0], ax=ax)
    fig.canvas.draw()
    plt.close(fig)
    return time.perf_counter() - t
