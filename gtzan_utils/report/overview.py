"""Notebook 06's overview figure and the upload box that predicts the genre of a user's song."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.progress import in_papermill
from gtzan_utils.classify.diagnostics import plot_confusion, plot_history


def plot_overview(docs: list[dict]):
    """One row per experiment: its confusion matrix (song level where there is one) beside its learning curves;
    returns the figure (None when there is nothing to show).

    Notebook: 06_results
    """
    from gtzan_utils.classify.training import read_history
    from gtzan_utils.report.results import accuracy_of, labels_of

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

    from gtzan_utils.classify.predict import describe, domain_note, predict_file, top_k

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
