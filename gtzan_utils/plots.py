"""Figures used by the notebooks: specshow with axes and colour bars, seaborn for tables of counts.

Every figure a notebook keeps goes through :func:`save_fig`, which also writes it into the run folder.
The package's only home of figures: audio and features (notebooks 01–02, 05), confusion matrices and learning
curves (03–04) and the results overview (06). What the result figures need from :mod:`gtzan_utils.evaluate`,
:mod:`gtzan_utils.results` and :mod:`gtzan_utils.training` is imported inside the functions (downward: none of
those imports this module), so that importing ``plots`` does not load Keras.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .config import SR


def save_fig(fig, out_dir, name: str, dpi: int = 100) -> Path:
    """Save ``fig`` as ``out_dir/figures/<name>.png`` and return the path (the figure stays open).

    Notebook: 01_data_exploration, 02_preprocessing, 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation, 06_results
    """
    path = Path(out_dir) / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


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


def plot_vae_history(history: pd.DataFrame):
    """Reconstruction and KL per epoch (training and validation) and the KL weight β: posterior collapse
    shows as a KL falling towards 0. Returns the figure.

    Notebook: 05_vae_generation
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), constrained_layout=True)
    epoch = history["epoch"] + 1
    for ax, key in zip(axes[:2], ("reconstruction", "kl")):
        ax.plot(epoch, history[key], marker="o", label="train")
        if f"val_{key}" in history:
            ax.plot(epoch, history[f"val_{key}"], marker="o", label="validation")
        ax.set(
            xlabel="epoch",
            ylabel=key,
            title={
                "reconstruction": "reconstruction (squared error, normalised)",
                "kl": "KL divergence (nats per slice)",
            }[key],
        )
        ax.legend()
    if "beta" in history:
        axes[2].plot(epoch, history["beta"], marker="o", color="grey")
    axes[2].set(xlabel="epoch", ylabel="β", title="KL weight (warm-up)")
    return fig


def plot_latent(z, y, labels, title: str = "latent codes (z_mean), first two principal components"):
    """2-D projection (PCA by SVD) of latent codes ``z`` (n, d) coloured by genre index ``y``; returns the figure.

    Notebook: 05_vae_generation
    """
    z = np.asarray(z, np.float64)
    y = np.asarray(y)
    zc = z - z.mean(axis=0)
    _, s, vt = np.linalg.svd(zc, full_matrices=False)
    xy = zc @ vt[:2].T if len(vt) >= 2 else np.pad(zc @ vt.T, ((0, 0), (0, 2 - len(vt))))
    share = (s[:2] ** 2) / max((s**2).sum(), 1e-12)
    fig, ax = plt.subplots(figsize=(6.5, 5), constrained_layout=True)
    cmap = plt.get_cmap("tab10")
    for g in np.unique(y):
        ax.scatter(xy[y == g, 0], xy[y == g, 1], s=14, color=cmap(int(g) % 10), label=labels[int(g)], alpha=0.8)
    ax.set(
        xlabel=f"PC 1 ({share[0]:.0%} of variance)",
        ylabel=f"PC 2 ({share[1]:.0%} of variance)" if len(share) > 1 else "PC 2",
        title=title,
    )
    ax.legend(fontsize=8, markerscale=1.5, loc="best", ncol=2)
    return fig


def plot_confusion(result: dict, labels: list[str], level: str = "song", title: str = "", ax=None):
    """Draw the confusion matrix of ``result`` at ``level`` as an annotated heatmap; returns the figure.

    Plain ``imshow`` + text, not ``seaborn.heatmap``: seaborn draws the whole figure once per heatmap (to check
    its tick labels), which made 06's overview of nine experiments take 30 s instead of 1 s."""
    from . import evaluate as ev

    cm = np.asarray(result[level]["confusion"])
    if ax is None:
        _, ax = plt.subplots(figsize=(6.2, 5.2), constrained_layout=True)
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(int(cm.max()), 1), aspect="auto", interpolation="nearest")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=8, color="white" if v > cm.max() / 2 else "black")
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=90)
    ax.set_yticks(ticks, labels)
    ax.set(xlabel="predicted", ylabel="true", title=title or ev.result_title(result, level))
    return ax.figure


def plot_confusions(items, level: str = "song"):
    """Confusion matrices side by side: ``items`` is a list of (name, evaluate() result, labels). Returns the figure.

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """
    from . import evaluate as ev

    fig, axes = plt.subplots(1, len(items), figsize=(6 * len(items), 5), constrained_layout=True, squeeze=False)
    for ax, (name, result, labels) in zip(axes[0], items):
        plot_confusion(result, labels, level=level, ax=ax, title=ev.result_title(result, level, name))
    return fig


def plot_history(history: pd.DataFrame, title: str = "", axes=None, kept_epoch: int | None = None):
    """Loss and accuracy per epoch (training and validation) of a fit history, side by side, with the epoch whose
    weights were kept (0-based ``kept_epoch``, drawn at its 1-based number) marked; returns the figure.

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.2), constrained_layout=True)
    for key, ax in zip(("loss", "accuracy"), axes):
        ax.plot(history["epoch"] + 1, history[key], label="train")
        if f"val_{key}" in history:
            ax.plot(history["epoch"] + 1, history[f"val_{key}"], label="validation")
        if kept_epoch is not None:
            ax.axvline(kept_epoch + 1, color="0.4", linestyle="--", linewidth=1, label=f"kept: epoch {kept_epoch + 1}")
        ax.set(xlabel="epoch", ylabel=key, title=f"{title} {key}".strip())
        ax.legend()
    return axes[0].figure


def plot_overview(docs: list[dict]):
    """One row per experiment: its confusion matrix (song level where there is one) beside its learning curves;
    returns the figure (None when there is nothing to show).

    Notebook: 06_results
    """
    from .results import accuracy_of, labels_of
    from .training import read_history

    docs = [d for d in docs if "confusion" in next(iter(d["results"].values()), {})]
    if not docs:
        return None
    fig, axes = plt.subplots(len(docs), 3, figsize=(14, 3.8 * len(docs)), constrained_layout=True, squeeze=False)
    for row, d in zip(axes, docs):
        level = "song" if "song" in d["results"] else "slice"
        name = f"{d['model']} / {d['kind']} / {d['protocol']['split']}"
        acc, _ = accuracy_of(d, level)
        pooled = f", {d['protocol']['folds']} folds pooled" if d["protocol"].get("folds", 1) > 1 else ""
        plot_confusion(
            d["results"],
            labels_of(d),
            level=level,
            ax=row[0],
            title=f"{name}: {level} level{pooled}, test accuracy {acc:.1%}",
        )
        history = read_history(d["path"])
        if len(history):
            plot_history(history, title=name, axes=row[1:])
        else:
            for ax in row[1:]:
                ax.axis("off")
    return fig
