"""Notebook 01's figures and clip explorer: what each genre looks and sounds like."""

from __future__ import annotations

import base64
import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from gtzan_utils.base.constants import SR
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.media import audio_player
from gtzan_utils.base.progress import in_papermill


def plot_waveform(y, ax, sr: int = SR, title: str = ""):
    """Draw the waveform of ``y`` on ``ax``; returns None."""
    import librosa.display

    librosa.display.waveshow(y, sr=sr, ax=ax)
    ax.set(title=title or "waveform", xlabel="time (s)", ylabel="amplitude")


def plot_mel(y, ax, sr: int = SR, n_mels: int = 128, title: str = ""):
    """Draw the log-mel spectrogram of ``y`` on ``ax`` with a dB colour bar; returns None."""
    import librosa
    import librosa.display

    S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=n_mels), ref=np.max)
    img = librosa.display.specshow(S, sr=sr, x_axis="time", y_axis="mel", ax=ax)
    ax.figure.colorbar(img, ax=ax, format="%+2.0f dB")
    ax.set(title=title or "log-mel spectrogram")


def plot_mfcc(y, ax, sr: int = SR, n_mfcc: int = 13, title: str = ""):
    """Draw the ``n_mfcc`` MFCCs of ``y`` on ``ax`` with a colour bar; returns None."""
    import librosa
    import librosa.display

    M = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc)
    img = librosa.display.specshow(M, sr=sr, x_axis="time", ax=ax)
    ax.figure.colorbar(img, ax=ax)
    ax.set(title=title or f"{n_mfcc} MFCC", ylabel="coefficient")


def plot_clip(y, sr: int = SR, title: str = ""):
    """Waveform, log-mel spectrogram and MFCC of one clip side by side; returns the figure.

    Notebook: 01_data_exploration
    """
    fig, axes = plt.subplots(1, 3, figsize=(16, 3.2), constrained_layout=True)
    plot_waveform(y, axes[0], sr, f"{title} waveform".strip())
    plot_mel(y, axes[1], sr, title=f"{title} log-mel".strip())
    plot_mfcc(y, axes[2], sr, title=f"{title} MFCC".strip())
    return fig


def plot_dataset_overview(table: pd.DataFrame):
    """Clips per genre and the distribution of durations, from a validation report table; returns the figure.

    Notebook: 01_data_exploration
    """
    import seaborn as sns

    fig, axes = plt.subplots(1, 2, figsize=(13, 3.5), constrained_layout=True)
    order = sorted(table.genre.unique())
    sns.countplot(data=table, x="genre", order=order, hue="usable", ax=axes[0])
    axes[0].set(title="clips per genre", ylabel="clips")
    axes[0].tick_params(axis="x", rotation=45)
    sns.histplot(data=table.dropna(subset=["seconds"]), x="seconds", ax=axes[1], bins=30)
    axes[1].set(title="clip durations", xlabel="seconds")
    return fig


def clip_outputs(path: str, title: str, seconds: float = 5.0) -> list[dict]:
    """One clip as notebook outputs: its waveform / log-mel / MFCC figure (PNG) and a player of its first ``seconds``.

    Returns ``display_data`` dicts (the form an ``ipywidgets.Output`` holds and a notebook stores), so the live
    explorer and its static fallback draw the same thing, without a kernel's display machinery.

    Notebook: 01_data_exploration (the explorer).
    """
    import matplotlib.pyplot as plt

    from gtzan_utils.data.dataset import read_audio
    from gtzan_utils.data.explore import plot_clip

    y, _ = read_audio(path)
    fig = plot_clip(y, title=title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    player = audio_player(y, seconds=seconds)
    return [
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": f"<figure {title}>"},
        },
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"text/html": player._repr_html_(), "text/plain": f"<audio {title}, {seconds:g} s>"},
        },
    ]


class ClipExplorer:
    """Genre and clip dropdowns above an output that shows the selected clip (:func:`clip_outputs`).

    It opens on the first clip of the first genre, and every genre change selects and draws that genre's first
    clip. (ipywidgets 8.1 leaves a Dropdown's value empty when its options are replaced while nothing is
    selected, so the clip is set here explicitly rather than left to the Dropdown.) ``box`` is the widget to
    display; ``genre``, ``clip`` and ``out`` are its parts.
    """

    def __init__(self, tracks: pd.DataFrame, seconds: float = 5.0):
        import ipywidgets as w

        self.tracks, self.seconds, self.shown = tracks.reset_index(drop=True), seconds, None
        genres = sorted(self.tracks.genre.unique())
        if not genres:
            raise GtzanError("no usable clips to explore: check the data folder with `gtzan validate`")
        self.genre = w.Dropdown(options=genres, value=genres[0], description="genre")
        self.clip = w.Dropdown(options=[], value=None, description="clip")
        self.out = w.Output()
        self.box = w.VBox([w.HBox([self.genre, self.clip]), self.out])
        self.genre.observe(self._on_genre, names="value")
        self.clip.observe(self._on_clip, names="value")
        self._on_genre()

    def clips(self, genre: str) -> list[str]:
        """Track ids of ``genre``, in the table's order (the first is shown on a genre change)."""
        return list(self.tracks.track_id[self.tracks.genre == genre])

    def _on_genre(self, change=None):
        ids = self.clips(self.genre.value)
        self.clip.options = ids
        self.clip.value = ids[0] if ids else None
        self._on_clip()  # draws unless the value change above already did

    def _on_clip(self, change=None):
        value = self.clip.value
        if value == self.shown:
            return
        self.shown = value
        if value is None:
            self.out.outputs = ()
            return
        row = self.tracks[self.tracks.track_id == value].iloc[0]
        self.out.outputs = tuple(clip_outputs(row.path, row.track_id, self.seconds))


def clip_explorer(tracks: pd.DataFrame, seconds: float = 5.0) -> None:
    """Pick a genre and a clip: waveform, log-mel, MFCC and an audio player (:class:`ClipExplorer`), displayed.

    Under papermill (no widget state is saved) the first clip of the first genre is shown as plain output.
    Returns None.

    Notebook: 01_data_exploration
    """
    from IPython.display import display

    if in_papermill():
        genres = sorted(tracks.genre.unique())
        first = tracks[tracks.genre == genres[0]].iloc[0]
        print(f"(static view under papermill; open the notebook in Jupyter to explore) {first.track_id}")
        for output in clip_outputs(first.path, first.track_id, seconds):
            display(output["data"], raw=True)
        return None
    display(ClipExplorer(tracks, seconds).box)
    return None
