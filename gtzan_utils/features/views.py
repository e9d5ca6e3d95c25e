"""Notebook 02's views of the feature store: a slice of each kind, a grid of log-mels, a slice played."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from gtzan_utils.base.constants import SR
from gtzan_utils.base.media import audio_player


def show_feature(x: np.ndarray, kind: str, ax, sr: int = SR, hop_length: int = 512, title: str = ""):
    """Draw one stored slice of any kind with axes (and a colour bar where values are not colours)."""
    import librosa.display

    ax.set_title(title, fontsize=9)
    if kind == "mfcc_image":
        ax.imshow(x.astype(np.float32), aspect="auto", origin="upper")
        ax.set(xlabel="frame", ylabel="pixel row")
        return
    if kind == "mel3":
        img = librosa.display.specshow(x[..., 0].astype(np.float32), x_axis="frames", ax=ax)
        ax.set(ylabel="mel bin (25 ms channel)")
    elif kind in ("mel", "musicnn"):
        img = librosa.display.specshow(
            x.astype(np.float32), sr=sr, hop_length=hop_length, x_axis="time", y_axis="mel", ax=ax
        )
        if kind == "musicnn":
            ax.set(ylabel="mel (log10(10000·S+1))")
    else:
        img = librosa.display.specshow(x.astype(np.float32), sr=sr, hop_length=hop_length, x_axis="time", ax=ax)
        ax.set(ylabel="MFCC")
    ax.figure.colorbar(img, ax=ax)


def plot_store_examples(store, n_cols: int = 5):
    """One slice per genre of a feature store, in a grid; returns the figure.

    Notebook: 02_preprocessing
    """
    m = store.manifest
    first = m.groupby("genre", sort=False).head(1)
    n = len(first)
    n_rows = int(np.ceil(n / n_cols))
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.4 * n_cols, 2.6 * n_rows), constrained_layout=True, squeeze=False
    )
    for ax, (pos, r) in zip(axes.flat, first.iterrows()):
        x = store.read([pos])[0]
        show_feature(
            x,
            store.params.kind,
            ax,
            sr=store.params.sr,
            hop_length=store.params.hop_length,
            title=f"{r.genre} ({r.track_id}#{r.slice_index})",
        )
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"{store.params.kind}: slice shape {store.params.shape}")
    return fig


def plot_mel_grid(mels, titles, n_cols: int = 5, sr: int = SR, hop_length: int = 512, suptitle: str = ""):
    """Log-mel slices (n, n_mels, frames) in dB side by side, with a shared colour scale; returns the figure.

    Notebook: 05_vae_generation
    """
    mels = np.asarray(mels, np.float32)
    n = len(mels)
    n_cols = max(1, min(n_cols, n))
    n_rows = int(np.ceil(n / n_cols))
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.2 * n_cols, 2.5 * n_rows), constrained_layout=True, squeeze=False
    )
    import librosa.display

    lo, hi = np.percentile(mels, [1, 99.5]) if n else (0, 1)
    img = None
    for ax, x, t in zip(axes.flat, mels, titles):
        img = librosa.display.specshow(
            x, sr=sr, hop_length=hop_length, x_axis="time", y_axis="mel", ax=ax, vmin=lo, vmax=hi, cmap="magma"
        )  # one colour map: specshow picks per panel
        ax.set_title(t, fontsize=9)
        ax.label_outer()
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if img is not None:
        fig.colorbar(img, ax=axes, format="%+.0f dB", shrink=0.8)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def play_slice(path: str, slice_index: int, params, seconds: float = 5.0):
    """An inline player (``IPython.display.Audio``) for one stored slice of a song (re-read from its audio file).

    Notebook: 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation
    """
    from gtzan_utils.data.dataset import read_audio
    from gtzan_utils.features.extract import slice_audio

    y, _ = read_audio(path, sr=params.sr)
    return audio_player(slice_audio(y, params)[slice_index], sr=params.sr, seconds=seconds)
