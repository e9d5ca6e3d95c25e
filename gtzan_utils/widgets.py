"""Interactive pieces for JupyterLab / Colab, each with a static fallback under papermill.

Widget state is not saved by papermill, so when ``GTZAN_PAPERMILL`` is set (the runner sets it) the
explorer shows its default selection as plain output instead.
"""
from __future__ import annotations

from pathlib import Path

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


def vae_generator(model, out_dir, seconds: float = 10.0, n_iter: int = 32, inverse: str = "nnls",
                  play_seconds: float = 10.0):
    """Genre, duration, filters and seed → audio from a trained CVAE, saved as ``out_dir/<genre>-<s>s-seed<n>.wav``
    and played inline. Under papermill: one static example (the first genre, default settings)."""
    from IPython.display import display

    from .generate import generate, write_wav

    def make(genre, secs, seed, lowpass, highpass):
        y = generate(model, genre, secs, seed=seed, lowpass_hz=lowpass or None, highpass_hz=highpass or None,
                     n_iter=n_iter, inverse=inverse)
        path = write_wav(Path(out_dir) / f"{genre}-{secs:g}s-seed{seed}.wav", y)
        print(f"{genre}, {len(y) / SR:.2f} s, seed {seed}, low-pass {lowpass or 'off'}, high-pass {highpass or 'off'}: "
              f"{path}")
        display(audio_player(y, seconds=min(secs, play_seconds)))

    if in_papermill():
        print("(static example under papermill; open the notebook in Jupyter for the generator)")
        make(model.labels[0], seconds, 0, 0, 0)
        return None

    import ipywidgets as w

    genre = w.Dropdown(options=model.labels, description="genre")
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
    box = w.VBox([w.HBox([genre, secs, seed]), w.HBox([lowpass, highpass, button]), out])
    display(box)
    return box


def predict_upload(model, params, labels):
    """Upload audio files → top-3 genres of each (ipywidgets ``FileUpload``). Nothing to upload under papermill."""
    if in_papermill():
        print("(no upload under papermill; open the notebook in Jupyter or Colab to predict your own files)")
        return None
    import tempfile

    import ipywidgets as w
    from IPython.display import display

    from .errors import GtzanError
    from .predict import predict_file, top_k

    upload = w.FileUpload(accept="audio/*", multiple=True, description="audio files")
    out = w.Output()

    def on_upload(change=None):
        out.clear_output(wait=True)
        with out, tempfile.TemporaryDirectory() as tmp:
            for f in upload.value:
                path = Path(tmp) / Path(f["name"]).name
                path.write_bytes(bytes(f["content"]))
                try:
                    r = predict_file(model, params, labels, path)
                except GtzanError as exc:
                    print(f"skipped: {exc}")
                    continue
                print(f"{f['name']} ({r['n_slices']} slices)")
                display(top_k(r))

    upload.observe(on_upload, names="value")
    box = w.VBox([upload, out])
    display(box)
    return box
