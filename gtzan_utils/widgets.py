"""Interactive pieces for JupyterLab / Colab, each with a static fallback under papermill.

Widget state is not saved by papermill, so when ``GTZAN_PAPERMILL`` is set (the runner sets it) the
explorer shows its default selection as plain output instead.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .config import SR, in_papermill


def audio_player(y: np.ndarray, sr: int = SR, seconds: float = 5.0, start: float = 0.0):
    """An inline player for a short excerpt (kept short: the audio is stored in the notebook)."""
    from IPython.display import Audio

    a = int(start * sr)
    return Audio(np.asarray(y[a:a + int(seconds * sr)], dtype=np.float32), rate=sr, normalize=True)


def _show_clip(path: str, title: str, seconds: float):
    import matplotlib.pyplot as plt
    from IPython.display import display

    from .data import read_audio
    from .plots import plot_clip

    y, _ = read_audio(path)
    fig = plot_clip(y, title=title)
    plt.show()
    plt.close(fig)
    display(audio_player(y, seconds=seconds))


def clip_explorer(tracks: pd.DataFrame, seconds: float = 5.0):
    """Pick a genre and a clip: waveform, log-mel, MFCC and an audio player. Static under papermill."""
    from IPython.display import display

    genres = sorted(tracks.genre.unique())
    if in_papermill():
        first = tracks[tracks.genre == genres[0]].iloc[0]
        print(f"(static view under papermill; open the notebook in Jupyter to explore) {first.track_id}")
        _show_clip(first.path, first.track_id, seconds)
        return None

    import ipywidgets as w

    genre = w.Dropdown(options=genres, description="genre")
    clip = w.Dropdown(description="clip")
    out = w.Output()

    def on_genre(change=None):
        clip.options = list(tracks[tracks.genre == genre.value].track_id)

    def on_clip(change=None):
        out.clear_output(wait=True)
        if clip.value is None:
            return
        with out:
            row = tracks[tracks.track_id == clip.value].iloc[0]
            _show_clip(row.path, row.track_id, seconds)

    genre.observe(on_genre, names="value")
    clip.observe(on_clip, names="value")
    on_genre()
    on_clip()
    box = w.VBox([w.HBox([genre, clip]), out])
    display(box)
    return box


def play_slice(path: str, slice_index: int, params, seconds: float = 5.0):
    """An inline player for one stored slice of a song (re-read from its audio file)."""
    from .data import read_audio
    from .features import slice_audio

    y, _ = read_audio(path, sr=params.sr)
    return audio_player(slice_audio(y, params)[slice_index], sr=params.sr, seconds=seconds)
