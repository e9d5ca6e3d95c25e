"""The one mechanism behind "a finished run is loaded, an interrupted one resumes", for the classifiers and the VAE.

A run is named by the hash of its configuration (``key``). When it starts, :meth:`RunFolder.start` writes the
*started* file (``{"key": ..., **configuration}``); if that file names another configuration, what that one left in
the folder is deleted first, so nothing of it is resumed. Training writes its resume state (Keras'
``BackupAndRestore`` folder, the selection state) as it goes. The *finished* file is written last, holding the key;
:meth:`RunFolder.finished` is true only when it and the trained model exist for this key, and then the run is
loaded instead of trained again. A kill at any point leaves either a finished run or one that resumes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from gtzan_utils.base.files import read_json, write_json


@dataclass(frozen=True)
class RunFolder:
    """One run's folder and the names of its state files.

    ``started``: written when training starts; ``finished``: written last (its ``finished_field`` holds the key);
    ``product``: the trained model beside it; ``leftovers``: files and folders another configuration's run may have
    left (its resume state), deleted before this one starts.
    """

    path: Path
    key: str
    started: str = "config.json"
    finished: str = "metrics.json"
    finished_field: str = "config_key"
    product: str = "model.keras"
    leftovers: tuple[str, ...] = ()

    def file(self, name: str) -> Path:
        return Path(self.path) / name

    def is_finished(self) -> bool:
        """Whether a run of this configuration finished here (its finished file and model exist)."""
        doc = read_json(self.file(self.finished), {})
        return self.file(self.product).exists() and doc.get(self.finished_field) == self.key

    def start(self, cfg: dict) -> None:
        """Begin (or go on with) the run of this configuration: another configuration's leftovers are deleted
        and the started file is written."""
        Path(self.path).mkdir(parents=True, exist_ok=True)
        if read_json(self.file(self.started), {}).get("key") != self.key:
            for name in (*self.leftovers, self.finished, self.product):
                p = self.file(name)
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        write_json(self.file(self.started), {"key": self.key, **cfg})
