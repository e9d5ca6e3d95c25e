"""Display primitives every notebook uses: saving a figure into the run folder, an inline audio player."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gtzan_utils.base.constants import SR


def save_fig(fig, out_dir, name: str, dpi: int = 100) -> Path:
    """Save ``fig`` as ``out_dir/figures/<name>.png`` and return the path (the figure stays open).

    Notebook: 01_data_exploration, 02_preprocessing, 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation, 06_results
    """
    path = Path(out_dir) / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def audio_player(y: np.ndarray, sr: int = SR, seconds: float = 5.0, start: float = 0.0):
    """An inline player (``IPython.display.Audio``) for a short excerpt; kept short, the audio is stored in the
    notebook.

    Notebook: 01_data_exploration, 03_vanilla_cnn, 05_vae_generation
    """
    from IPython.display import Audio

    a = int(start * sr)
    return Audio(np.asarray(y[a : a + int(seconds * sr)], dtype=np.float32), rate=sr, normalize=True)
