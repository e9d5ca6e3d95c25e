"""The notebooks' setup: TensorFlow imported without its start-up noise, versions checked, Drive folders on Colab."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gtzan_utils.base import layout
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.run import environment

pytest.importorskip("tensorflow")

# TensorFlow's own start-up lines, verbatim (long lines split only for the source's width)
NOISE = (
    "\n".join(
        [
            "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
            "I0000 00:00:1795897724.017072    9996 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
            "GPU will not be used.",
            "E0000 00:00:1795897732.617804    9996 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
            "Failed call to cuInit: UNKNOWN ERROR (303)",
            "I0000 00:00:1795897724.101654    9996 cpu_feature_guard.cc:227] This TensorFlow binary is optimized "
            "to use available CPU instructions in performance-critical operations.",
            "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
            "appropriate compiler flags.",
            "E0000 00:00:1700000000.000000    1234 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting "
            "to register factory for plugin cuDNN when one has already been registered",
        ]
    )
    + "\n"
)


def test_start_up_noise_is_dropped_and_anything_else_kept():
    assert environment.without_noise(NOISE) == ""
    real = "W0000 something.cc:1] a real problem"
    assert environment.without_noise(NOISE + real + "\n") == real


def test_fd2_is_captured_and_restored(capfd):
    text = environment._capture_fd2(lambda: os.write(2, b"from C++\n"))
    assert text == "from C++\n"
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_tensorflow_imports_quietly_and_warnings_still_show(tmp_path):
    """A fresh interpreter without TF_CPP_MIN_LOG_LEVEL: no start-up line on stderr, a Python warning still there."""
    code = (
        "import warnings\nfrom gtzan_utils.run import environment\ntf = environment.quiet_tensorflow()\n"
        "tf.constant(1.0) + 1\nwarnings.warn('a real warning')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    err = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    ).stderr
    assert "UserWarning: a real warning" in err
    assert not environment.TF_NOISE.search(err), err


def test_versions_are_checked_against_the_requirements(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# ranges\ntensorflow>=2.0\nkeras>=3.0,<3.1  # old upper bound\nlibrosa>=0.1\n")
    rows = {r["name"]: r for r in environment.check_versions(req)}
    assert set(rows) == {"python", "tensorflow", "keras", "librosa"}
    assert rows["tensorflow"]["status"] == "ok" and rows["keras"]["status"] == "newer than tested"
    assert rows["python"]["required"].startswith(">=3.")  # from the package metadata (pyproject)
    req.write_text("tensorflow>=99\nkeras>=3\nlibrosa>=0.1\n")
    with pytest.raises(GtzanError, match=r"tensorflow .* \(needs >=99\): install with `pip install 'tensorflow>=99'`"):
        environment.check_versions(req)
    # installed without the repository (no requirements.txt): versions only
    assert {r["status"] for r in environment.check_versions(tmp_path / "absent.txt")} == {"ok"}


def test_setup_prints_versions_gpu_and_folders(capsys, monkeypatch):
    environment.setup()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Python 3.") and "tensorflow " in out[0] and "keras " in out[0] and "librosa " in out[0]
    assert out[1].startswith("GPU: ")
    assert out[2] == f"data: {os.environ['GTZAN_DATA_HOME']}" and out[3] == f"runs: {os.environ['GTZAN_RUNS_HOME']}"


def test_drive_keeps_data_and_runs_across_sessions(monkeypatch, tmp_path):
    monkeypatch.delenv("GTZAN_DATA_HOME")
    monkeypatch.delenv("GTZAN_RUNS_HOME")
    homes = environment.use_drive(str(tmp_path / "MyDrive" / "gtzan"), mount=False)
    assert homes == {"data": tmp_path / "MyDrive" / "gtzan" / "data", "runs": tmp_path / "MyDrive" / "gtzan" / "runs"}

    assert layout.data_home() == homes["data"] and layout.runs_home() == homes["runs"]
    monkeypatch.setenv("GTZAN_DATA_HOME", str(tmp_path / "local"))  # a folder chosen before the setup wins
    assert environment.use_drive(str(tmp_path / "elsewhere"), mount=False)["data"] == tmp_path / "local"


def test_warm_up_runs_the_first_notebook_steps_and_closes_its_figure():
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    assert environment.warm_up() > 0
    assert len(plt.get_fignums()) == before
