"""Dependencies: the ranges the code needs are declared, and a missing extra is named when tests skip."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import tomllib
from conftest import REPO


def _spec(lines, name):
    for line in lines:
        m = re.match(rf"\s*{re.escape(name)}\s*([<>=!~][^#;\s]*)", line)
        if m:
            return m.group(1)
    raise AssertionError(f"{name} not declared")


def _lower_bound(spec):
    m = re.search(r">=\s*([\d.]+)", spec)
    return tuple(int(x) for x in m.group(1).split(".")) if m else ()


def test_the_engine_and_the_manifest_are_declared_in_both_homes():
    """base.engine runs on dask.distributed and the feature store's manifest is Parquet (pyarrow): `make setup` and a
    plain `pip install -e .` (Colab) both install them, with ranges."""
    req = (REPO / "requirements.txt").read_text().splitlines()
    core = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for name, floor in (("dask[distributed]", (2024, 8)), ("pyarrow", (15,))):
        assert _spec(req, name) == _spec(core, name), name
        assert _lower_bound(_spec(req, name)) >= floor, name
    import distributed
    import pyarrow

    assert tuple(int(x) for x in distributed.__version__.split(".")[:2]) >= (2024, 8) and pyarrow.__version__


def test_tf_extra_brings_what_the_skipped_tests_need():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    tf = project["optional-dependencies"]["tf"]
    req = (REPO / "requirements.txt").read_text().splitlines()
    for name in ("tensorflow", "keras", "scikit-learn", "papermill", "pytest"):
        assert _spec(tf, name) == _spec(req, name), name  # the same range in both homes
    assert "pip install -e .[tf]" in (REPO / "README.md").read_text()


def test_a_run_without_keras_says_why_in_one_line(tmp_path):
    """Hide keras (an import that fails) and run two test modules that need it: the last lines say why."""
    fake = tmp_path / "site" / "keras"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'keras'\", name='keras')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_models.py", "tests/test_judge.py", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode in (0, 5), r.stdout[-2000:]  # all skipped (5: nothing collected) is not a failure
    last = r.stdout.strip().splitlines()[-2:]  # the line, then pytest's final counts
    assert last[1].startswith("2 skipped"), r.stdout[-2000:]
    assert "pip install -e .[tf]" in last[0] and "SKIPPED 2 test module(s)" in last[0], r.stdout[-2000:]
    assert "keras is not installed" in last[0]
    assert sum("pip install -e .[tf]" in line for line in r.stdout.splitlines()) == 1
