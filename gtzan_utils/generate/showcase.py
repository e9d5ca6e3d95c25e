"""Notebook 05's figures and generator widget: VAE training curves, latent codes, genre → audio."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from gtzan_utils.base.constants import SR
from gtzan_utils.base.media import audio_player
from gtzan_utils.base.progress import in_papermill


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


def vae_generator(model, out_dir, render=None, seconds: float = 10.0, play_seconds: float = 10.0) -> None:
    """Genre, duration, filters and seed → audio from a trained CVAE (inverted as ``render`` says, its filters set
    by the widget), saved as ``out_dir/<genre>-<s>s-seed<n>.wav`` and played inline; the widget is displayed
    (once) and None returned. Under papermill: one static example (the first genre, default settings).

    Notebook: 05_vae_generation
    """
    from IPython.display import display

    from gtzan_utils.generate.audio import Render, generate, write_wav

    render = render or Render()

    def make(genre, secs, seed, lowpass, highpass):
        y = generate(model, genre, secs, render.replace(lowpass_hz=lowpass, highpass_hz=highpass), seed=seed)
        path = write_wav(Path(out_dir) / f"{genre}-{secs:g}s-seed{seed}.wav", y)
        print(
            f"{genre}, {len(y) / SR:.2f} s, seed {seed}, low-pass {lowpass or 'off'}, high-pass {highpass or 'off'}: "
            f"{path}"
        )
        display(audio_player(y, seconds=min(secs, play_seconds)))

    if in_papermill():
        print("(static example under papermill; open the notebook in Jupyter for the generator)")
        make(model.labels[0], seconds, 0, 0, 0)
        return None

    import ipywidgets as w

    genre = w.Dropdown(options=model.labels, value=model.labels[0], description="genre")
    secs = w.FloatSlider(value=seconds, min=1.0, max=60.0, step=0.5, description="seconds")
    seed = w.IntText(value=0, description="seed")
    lowpass = w.IntSlider(value=0, min=0, max=10000, step=250, description="low-pass Hz")
    highpass = w.IntSlider(value=0, min=0, max=2000, step=50, description="high-pass Hz")
    button = w.Button(description="generate", button_style="primary")
    out = w.Output()

    def on_click(_):
        out.clear_output(wait=True)
        with out:
            make(genre.value, secs.value, seed.value, lowpass.value, highpass.value)

    button.on_click(on_click)
    display(w.VBox([w.HBox([genre, secs, seed]), w.HBox([lowpass, highpass, button]), out]))
    return None
