"""Notebooks 03–04's diagnostics: learning curves and confusion matrices."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def plot_confusion(result: dict, labels: list[str], level: str = "song", title: str = "", ax=None):
    """Draw the confusion matrix of ``result`` at ``level`` as an annotated heatmap; returns the figure.

    Plain ``imshow`` + text, not ``seaborn.heatmap``: seaborn draws the whole figure once per heatmap (to check
    its tick labels), which made 06's overview of nine experiments take 30 s instead of 1 s."""
    from gtzan_utils.classify import evaluate as ev

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
    from gtzan_utils.classify import evaluate as ev

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
