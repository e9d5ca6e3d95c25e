"""Interactive pieces for JupyterLab / Colab, each with a static fallback under papermill.

Widget state is not saved by papermill, so when ``GTZAN_PAPERMILL`` is set (the runner sets it) each widget
shows its default selection as plain output instead: the explorer its first clip, the generator one example,
the upload box a note. Each widget function displays its widget once and returns None.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd

from .config import SR, in_papermill
from .errors import GtzanError
from .generate import INVERSE


def audio_player(y: np.ndarray, sr: int = SR, seconds: float = 5.0, start: float = 0.0):
    """An inline player (``IPython.display.Audio``) for a short excerpt; kept short, the audio is stored in the
    notebook.

    Notebook: 01_data_exploration, 03_vanilla_cnn, 05_vae_generation
    """
    from IPython.display import Audio

    a = int(start * sr)
    return Audio(np.asarray(y[a : a + int(seconds * sr)], dtype=np.float32), rate=sr, normalize=True)


def clip_outputs(path: str, title: str, seconds: float = 5.0) -> list[dict]:
    """One clip as notebook outputs: its waveform / log-mel / MFCC figure (PNG) and a player of its first ``seconds``.

    Returns ``display_data`` dicts (the form an ``ipywidgets.Output`` holds and a notebook stores), so the live
    explorer and its static fallback draw the same thing, without a kernel's display machinery.

    Notebook: 01_data_exploration (the explorer).
    """
    import matplotlib.pyplot as plt

    from .data import read_audio
    from .plots import plot_clip

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


def play_slice(path: str, slice_index: int, params, seconds: float = 5.0):
    """An inline player (``IPython.display.Audio``) for one stored slice of a song (re-read from its audio file).

    Notebook: 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation
    """
    from .data import read_audio
    from .features import slice_audio

    y, _ = read_audio(path, sr=params.sr)
    return audio_player(slice_audio(y, params)[slice_index], sr=params.sr, seconds=seconds)


def vae_generator(
    model, out_dir, seconds: float = 10.0, n_iter: int = 32, inverse: str = INVERSE, play_seconds: float = 10.0
) -> None:
    """Genre, duration, filters and seed → audio from a trained CVAE, saved as ``out_dir/<genre>-<s>s-seed<n>.wav``
    and played inline; the widget is displayed (once) and None returned. Under papermill: one static example
    (the first genre, default settings).

    Notebook: 05_vae_generation
    """
    from IPython.display import display

    from .generate import generate, write_wav

    def make(genre, secs, seed, lowpass, highpass):
        y = generate(
            model,
            genre,
            secs,
            seed=seed,
            lowpass_hz=lowpass or None,
            highpass_hz=highpass or None,
            n_iter=n_iter,
            inverse=inverse,
        )
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


def predict_upload(model, params, labels, trained: dict | None = None) -> None:
    """Upload audio files → top-3 genres of each (ipywidgets ``FileUpload``), displayed; returns None.
    ``trained`` (the model's ``trained_on`` record) adds the one-line note when a model of the synthetic set is
    given real music. Nothing to upload under papermill.

    Notebook: 06_results
    """
    if in_papermill():
        print("(no upload under papermill; open the notebook in Jupyter or Colab to predict your own files)")
        return None
    import tempfile

    import ipywidgets as w
    from IPython.display import display

    from .errors import GtzanError
    from .predict import describe, domain_note, predict_file, top_k

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
                note = domain_note(trained, [path])
                if note:
                    print(note)
                print(describe({**r, "file": f["name"]}))
                display(top_k(r))

    upload.observe(on_upload, names="value")
    display(w.VBox([upload, out]))
    return None
