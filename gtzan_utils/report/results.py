"""The paper's Table 1 rebuilt from a run folder, beside the paper's own figures (notebook 06_results).

For each cell of the paper's Table 1 (model × input) the table gives:

* **paper** — the paper's figure: a validation accuracy on a random split of 5-s slices, so slices of one
  song sat on both sides of the split;
* **ours, paper protocol** — our model on the paper's leaky split, slice level (the reproduction);
* **ours, test slices / test songs** — the honest figures: test songs never seen in training (split
  ``song``, ``kfold`` as mean ± std over the folds, or ``filtered``), at slice and at song level;
* **leak** — paper protocol minus the honest slice accuracy, same model and input.

Below the paper's cells come the rows the paper did not have, marked in the paper column: "beyond the paper"
(pretrained musicnn backbones, their linear probes) and "no CNN (baseline)" (MFCC statistics → logistic
regression, :mod:`gtzan_utils.classify.baseline`).

A cell the run did not produce reads "not run"; nothing here fails on a missing file. Every figure comes
from a ``metrics.json`` written by :func:`gtzan_utils.classify.evaluate.write_metrics`, which keeps its protocol.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from gtzan_utils.base import layout
from gtzan_utils.base.constants import GENRES

#: (model, input kind, the paper's accuracy): Table 1 of "Music Genre Classification with CNN" (KTH)
PAPER_TABLE1 = (
    ("vanilla_cnn", "mel", 0.535),
    ("vanilla_cnn", "mfcc", 0.79),
    ("vanilla_cnn", "mel3", 0.60),
    ("mobilenetv2", "mfcc_image", 0.6633),
    ("densenet121", "mel3", 0.92),
)
PAPER_PROTOCOL = "paper: validation accuracy on a random split of 5-s slices (slices of one song on both sides)"
NOT_RUN = "not run"
TRAINING_NOTEBOOKS = (layout.VANILLA_CNN, layout.TRANSFER)
HONEST_ORDER = ("filtered", "kfold", "song")  # the most careful protocol a run has is shown first
BEYOND = "beyond the paper"
BASELINE = "no CNN (baseline)"
IMAGENET_PROBE = "ImageNet features, linear probe"
PAPER_MODEL = "the paper's model, other input"
#: rows the paper did not have, shown in this order after its cells (other unknown models follow)
EXTRA_ROWS = (
    ("mobilenetv2", "mel3", PAPER_MODEL),
    ("probe_mobilenetv2", "mel3", IMAGENET_PROBE),
    ("probe_mobilenetv2", "mfcc_image", IMAGENET_PROBE),
    ("baseline_lr", "mel", BASELINE),
    ("msd_musicnn", "musicnn", BEYOND),
    ("mtt_musicnn", "musicnn", BEYOND),
    ("probe_msd_musicnn", "musicnn", BEYOND),
    ("probe_mtt_musicnn", "musicnn", BEYOND),
    ("probe_msd_vgg", "musicnn", BEYOND),
    ("probe_mtt_vgg", "musicnn", BEYOND),
)


def collect(run_dir) -> list[dict]:
    """Every experiment's ``metrics.json`` under the run's training notebooks (fold folders excluded: a k-fold
    experiment's own file holds the mean ± std), as a list of dicts. Each document gains ``path`` (its folder).

    Notebook: 06_results
    """
    docs = []
    for nb in TRAINING_NOTEBOOKS:
        for path in sorted((Path(run_dir) / nb).glob("*/metrics.json")):
            try:
                doc = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue  # a half-written file from a killed run: that cell shows as not run
            doc["path"] = str(path.parent)
            docs.append(doc)
    return docs


def leaks(run_dir) -> dict:
    """``{(model, kind): gap}`` from notebook 03's ``leak.json`` (paper split minus song split, slice level, both
    trained on the paper's slices); ``{}`` when 03 measured none.

    Notebook: 06_results
    """
    path = layout.leak_path(run_dir)
    if not path.exists():
        return {}
    doc = json.loads(path.read_text())
    return {(doc["model"], doc["kind"]): doc["gap"]}


def accuracy_of(doc: dict | None, level: str):
    """(accuracy, std or None) of a document at a level, or (None, None)."""
    if not doc or level not in doc["results"]:
        return None, None
    r = doc["results"][level]
    if "accuracy_mean" in r:
        return r["accuracy_mean"], r.get("accuracy_std")
    return r["accuracy"], None


def _fmt(acc, std=None) -> str:
    if acc is None or pd.isna(acc):
        return NOT_RUN
    return f"{acc:.1%}" + (f" ± {std:.1%}" if std is not None and not pd.isna(std) and std > 0 else "")


def table1(docs: list[dict], leak: dict | None = None) -> pd.DataFrame:
    """Numeric Table 1 as a DataFrame: one row per paper cell and honest split found (one "not run" row when none).

    The leak of a row is the paper protocol's slice accuracy minus the row's, when both trained alike; a row that
    trained on overlapping windows (the paper split cannot have them) takes it from ``leak`` (:func:`leaks`: the
    same comparison with both sides trained on the paper's slices), or shows none.

    Notebook: 06_results
    """
    rows = []
    cells = [(m, k, p, "paper") for m, k, p in PAPER_TABLE1]
    known = {(m, k) for m, k, _, _ in cells}
    extra = [(m, k, None, note) for m, k, note in EXTRA_ROWS]
    extra += [
        (d["model"], d["kind"], None, BEYOND)
        for d in docs
        if (d["model"], d["kind"]) not in known and (d["model"], d["kind"]) not in {(m, k) for m, k, _ in EXTRA_ROWS}
    ]
    for model, kind, paper, note in cells + list(dict.fromkeys(extra)):
        mine = [d for d in docs if d["model"] == model and d["kind"] == kind]
        if note != "paper" and not mine and (model, kind) not in {("baseline_lr", "mel"), ("msd_musicnn", "musicnn")}:
            continue  # optional extra rows appear only when run
        leaky = next((d for d in mine if d["protocol"].get("leaky")), None)
        honest = sorted(
            (d for d in mine if not d["protocol"].get("leaky")),
            key=lambda d: (
                HONEST_ORDER.index(d["protocol"]["split"])
                if d["protocol"]["split"] in HONEST_ORDER
                else len(HONEST_ORDER)
            ),
        )
        leaky_acc, _ = accuracy_of(leaky, "slice")
        for doc in honest or [None]:
            s_acc, s_std = accuracy_of(doc, "slice")
            g_acc, g_std = accuracy_of(doc, "song")
            p = doc["protocol"] if doc else {}
            rows.append(
                {
                    "model": model,
                    "input": kind,
                    "row": note,
                    "paper": paper,
                    "ours, paper protocol": leaky_acc,
                    "split": p.get("split"),
                    "folds": p.get("folds"),
                    "test slices": s_acc,
                    "test slices ± std": s_std,
                    "test songs": g_acc,
                    "test songs ± std": g_std,
                    "leak": _leak(leaky_acc, s_acc, p, (leak or {}).get((model, kind))),
                    "n test songs": p.get("n_test_songs"),
                    "pretrained": p.get("pretrained"),
                    "epochs": p.get("epochs_run"),
                    "seed": p.get("seed"),
                    "source": doc["path"] if doc else None,
                }
            )
    return pd.DataFrame(rows)


def _leak(leaky_acc, honest_acc, protocol: dict, measured):
    if protocol.get("train_store"):  # trained on windows: not the paper protocol's training
        return measured
    return (leaky_acc - honest_acc) if leaky_acc is not None and honest_acc is not None else None


def weights_label(v) -> str:
    """A row's pretrained weights as a reader wants them: their name (``imagenet``, ``MSD_musicnn``), ``none``
    (random initial weights), ``–`` (not run)."""
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "–"
    return str(v) if v else "none"


def format_table1(t: pd.DataFrame) -> pd.DataFrame:
    """Table 1 for reading (a DataFrame): percentages with ± std, "not run" for what the run did not produce.

    Notebook: 06_results
    """
    out = pd.DataFrame(
        {
            "model": t["model"],
            "input": t["input"],
            "paper (leaky val.)": [_fmt(v) if note == "paper" else note for v, note in zip(t["paper"], t["row"])],
            "ours, paper protocol": [_fmt(v) for v in t["ours, paper protocol"]],
            "honest split": [s if isinstance(s, str) else NOT_RUN for s in t["split"]],
            "ours, test slices": [_fmt(a, s) for a, s in zip(t["test slices"], t["test slices ± std"])],
            "ours, test songs": [_fmt(a, s) for a, s in zip(t["test songs"], t["test songs ± std"])],
            "leak": [f"{v:+.1%}" if v is not None and not pd.isna(v) else "–" for v in t["leak"]],
            "test songs": [int(v) if v is not None and not pd.isna(v) else "–" for v in t["n test songs"]],
            "weights": [weights_label(v) for v in t["pretrained"]],
        }
    )
    return out


def vae_table(run_dir) -> tuple[pd.DataFrame, dict | None]:
    """The judging summary of notebook 05 (set, n, accuracy, Fréchet distances) and its whole metrics document;
    a one-row "not run" table and None when 05 did not run. Returns (table, document).

    Notebook: 06_results
    """
    path = layout.vae_metrics_path(run_dir)
    if not path.exists():
        return pd.DataFrame([{"set": "VAE", "accuracy": NOT_RUN}]), None
    doc = json.loads(path.read_text())
    return pd.DataFrame(doc["judging"]["summary"]), doc


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub Markdown table of a DataFrame, as a string (no extra dependency).

    Notebook: 06_results
    """
    cells = [[str(c) for c in df.columns]] + [
        ["" if pd.isna(v) else str(v) for v in row] for row in df.itertuples(index=False)
    ]
    lines = ["| " + " | ".join(r) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("---" for _ in df.columns) + "|")
    return "\n".join(lines) + "\n"


def write_tables(out_dir, table: pd.DataFrame, formatted: pd.DataFrame, vae: pd.DataFrame | None = None) -> dict:
    """Write ``table1.csv`` (numbers), ``table1.md`` (for reading, with the protocols) and ``vae.csv``; returns their
    paths by key (``csv``, ``md``, ``vae``).

    Notebook: 06_results
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / "table1.csv", "md": out_dir / "table1.md"}
    table.to_csv(paths["csv"], index=False)
    md = [
        "# Table 1, rebuilt",
        "",
        to_markdown(formatted),
        f"- {PAPER_PROTOCOL}.",
        "- ours, paper protocol: the same random split of slices, slice-level test accuracy.",
        "- ours, test slices / test songs: songs never seen in training; song = mean of its slice probabilities; "
        "± std over k folds where k-fold ran.",
        "- leak: paper protocol minus test slices, same model, input and training (for rows trained on overlapping "
        "windows: the paper split against the song split, both trained on the paper's slices, from leak.json).",
        f"- {BEYOND}: pretrained musicnn backbones (frozen + head; probe_* = embeddings → logistic regression); "
        f"{BASELINE}: MFCC-20 mean/std → logistic regression. Caveats: GTZAN repeats artists across songs "
        "(the filtered split controls that), MSD's tags include genre words, and GTZAN songs may be in MSD.",
        "",
    ]
    if vae is not None:
        md += ["# Generated audio, judged by the vanilla CNN", "", to_markdown(vae.round(3))]
        paths["vae"] = out_dir / "vae.csv"
        vae.to_csv(paths["vae"], index=False)
    paths["md"].write_text("\n".join(md))
    return paths


def labels_of(doc: dict) -> list[str]:
    """The genre labels of an experiment (its ``features.json``), GTZAN's ten otherwise."""
    feats = Path(doc.get("path", "")) / "features.json"
    if feats.exists():
        return json.loads(feats.read_text())["labels"]
    return list(GENRES)


def run_times(run_dir) -> pd.DataFrame:
    """A DataFrame of the wall time of each notebook of the run (from ``run.json``, written by ``gtzan run``).

    Notebook: 06_results
    """
    path = Path(run_dir) / "run.json"
    if not path.exists():
        return pd.DataFrame(columns=["notebook", "seconds", "status"])
    record = json.loads(path.read_text())
    return pd.DataFrame([{"notebook": k, **v} for k, v in record.get("notebooks", {}).items()])


def _validationaccuracy_of(doc: dict):
    """Song-level validation accuracy of an experiment (slice level where it has no song level), or None."""
    v = doc.get("validation") or {}
    level = "song" if "song" in v else "slice"
    return v.get(level, {}).get("accuracy")


def best_model(docs: list[dict]) -> dict | None:
    """The run's honest model with the highest **validation** accuracy (test scores never choose a model):
    ``{"model": <model.keras>, "split": name, "fold": 0, "validation_accuracy": a, "doc": metrics}``, or None.

    A k-fold experiment offers its first fold's model, to be shown on that fold's test songs.

    Notebook: 06_results
    """
    picks = []
    for d in docs:
        if d["protocol"].get("leaky"):
            continue
        path, fold = Path(d["path"]), 0
        if d["protocol"].get("folds", 1) > 1:
            path = layout.fold_dir(path, 0)
            fold_doc = path / "metrics.json"
            if not fold_doc.exists():
                continue
            d = {**json.loads(fold_doc.read_text()), "path": str(path)}
        acc = _validationaccuracy_of(d)
        if acc is not None and (path / "model.keras").exists() and (path / "features.json").exists():
            picks.append(
                {
                    "model": path / "model.keras",
                    "split": d["protocol"]["split"],
                    "fold": fold,
                    "validation_accuracy": acc,
                    "doc": d,
                }
            )
    return max(picks, key=lambda p: p["validation_accuracy"]) if picks else None


def test_song_files(run_dir, kind: str, n: int, split: str = "song", fold: int = 0) -> list[str]:
    """Audio files of up to ``n`` test songs of fold ``fold`` of the run's split ``split``, one per genre first:
    songs the model trained on that split never saw. Returns the paths (strings).

    Notebook: 06_results
    """
    from gtzan_utils.features.splits import Split
    from gtzan_utils.features.store import open_index

    manifest = open_index(layout.prep_dir(run_dir))[kind].manifest
    test = Split.load(layout.split_path(run_dir, split)).rows(manifest, "test", fold)
    songs = manifest.iloc[test].drop_duplicates("track_id")
    return songs.groupby("genre").head(1).path.tolist()[:n]
