"""Files that a kill cannot leave half written, and the few readers every chapter shares.

:func:`atomic_write` is the package's one way to write a file that others read: the content goes to a hidden
temporary file beside the target (``.<name>.<pid>-<thread>.tmp``), which is then renamed over it (``os.replace``,
atomic on one filesystem), so a reader sees the old file or the new one, never a part. :func:`write_text`,
:func:`write_json` and :func:`write_npy` are the common cases; :func:`read_history` reads the per-epoch CSV logs
that Keras' ``CSVLogger`` appends to (the classifiers' ``history.csv``, the VAE's ``vae_history.csv``).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np


def temporary_name(path: Path) -> Path:
    """The hidden temporary file :func:`atomic_write` writes before renaming it to ``path``: named by process and
    thread, so that two writers of one file (two tasks of a Dask worker, two runs) never share one."""
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is a temporary file left by a killed :func:`atomic_write` (safe to delete)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def atomic_write(path, write: Callable[[Path], object]) -> Path:
    """``write(temporary path)``, then rename the temporary file to ``path`` (its folder is created); the
    temporary file is removed if ``write`` fails. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path, doc, indent: int | None = 1) -> Path:
    """Write ``doc`` as JSON atomically (NumPy scalars as plain numbers, other objects as their ``str``)."""

    def plain(v):
        return v.item() if isinstance(v, np.generic) else str(v)

    return write_text(path, json.dumps(doc, indent=indent, default=plain))


def read_json(path, default=None):
    """The JSON document in ``path``, or ``default`` when the file does not exist."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else default


def write_npy(path, array: np.ndarray) -> Path:
    """Save ``array`` as ``.npy`` atomically (through a file object, so NumPy adds no suffix to the name)."""

    def save(tmp: Path):
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)

    return atomic_write(path, save)


def read_history(path, columns=("epoch", "loss")):
    """A per-epoch CSV log as a DataFrame, one row per epoch: a resumed run appends the epochs it repeats, and
    their last record counts. A missing file gives an empty frame with ``columns``."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(columns))
    return pd.read_csv(path).drop_duplicates("epoch", keep="last").reset_index(drop=True)
