"""Scores on the test split, at slice and song level, each labelled with its protocol.

Song level = the mean of the slice probabilities of each song, then argmax. ``metrics.json`` carries, beside
every accuracy, the split, level, fold(s), seed, number of test songs and slices, whether the weights were
pretrained, and the library versions. Shown in notebooks 03_vanilla_cnn and 04_transfer_learning.
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd


def song_level(track_ids, probs: np.ndarray, y_true) -> pd.DataFrame:
    """One row per song: its true label, mean slice probabilities and predicted label."""
    df = pd.DataFrame(probs, columns=range(probs.shape[1]))
    df["track_id"] = list(track_ids)
    mean = df.groupby("track_id", sort=True).mean()
    truth = pd.Series(list(y_true), index=list(track_ids)).groupby(level=0).first()
    out = pd.DataFrame({"y_true": truth.loc[mean.index].to_numpy(), "y_pred": mean.to_numpy().argmax(axis=1)},
                       index=mean.index)
    out["probs"] = list(mean.to_numpy())
    return out


def scores(y_true, y_pred, labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-genre precision/recall/F1 and the confusion matrix."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    idx = list(range(len(labels)))
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    present = [i for i in idx if s[i] > 0]
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else float("nan"),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "n": int(len(y_true)),
        "per_genre": {labels[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                                  "support": int(s[i])} for i in idx},
        "confusion": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
    }


def predict(model, store, rows, batch_size: int = 64) -> np.ndarray:
    """Slice probabilities for manifest rows, read from the store batch by batch."""
    from .training import StoreBatches

    return model.predict(StoreBatches(store, rows, batch_size=batch_size), verbose=0)


def evaluate(model, store, split, fold: int = 0, subset: str = "test", batch_size: int = 64) -> dict:
    """Slice scores, and song scores where the split keeps songs whole; plus the raw predictions."""
    rows = split.rows(store.manifest, subset, fold)
    probs = predict(model, store, rows, batch_size)
    y = store.y[rows]
    out = {"slice": scores(y, probs.argmax(axis=1), store.labels)}
    tracks = store.manifest.track_id.to_numpy()[rows]
    if split.level == "song":
        songs = song_level(tracks, probs, y)
        out["song"] = scores(songs.y_true, songs.y_pred, store.labels)
    out["_predictions"] = {"rows": rows, "probs": probs, "y": y}
    return out


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("tensorflow", "keras", "librosa", "numpy", "scikit-learn"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def protocol(split, fold: int, seed: int, store, pretrained, **extra) -> dict:
    """Everything a reader needs to know how a figure was made."""
    m = store.manifest
    test_rows = split.rows(m, "test", fold)
    return {
        "split": split.name, "leaky": split.leaky, "split_note": split.note, "fold": fold,
        "folds": len(split.folds), "seed": seed,
        "n_test_songs": int(m.track_id.iloc[test_rows].nunique()), "n_test_slices": int(len(test_rows)),
        "n_train_slices": int(len(split.rows(m, "train", fold))), "pretrained": pretrained,
        "song_level": split.level == "song", **extra,
    }


def write_metrics(path, model_name: str, kind: str, results: dict, protocol: dict, **extra) -> Path:
    """metrics.json: every accuracy sits beside its protocol; predictions are left out."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    levels = {k: v for k, v in results.items() if not k.startswith("_")}
    doc = {"model": model_name, "kind": kind, "protocol": protocol, "results": levels, "versions": versions(),
           "created": time.strftime("%Y-%m-%d %H:%M:%S"), **extra}
    path.write_text(json.dumps(doc, indent=1))
    return path


def summarize_folds(fold_results: list[dict]) -> dict:
    """Mean ± std of accuracy and macro-F1 over folds, per level."""
    out = {}
    for level in ("slice", "song"):
        vals = [r[level] for r in fold_results if level in r]
        if not vals:
            continue
        out[level] = {}
        for key in ("accuracy", "macro_f1"):
            a = np.array([v[key] for v in vals])
            out[level][f"{key}_mean"] = float(a.mean())
            out[level][f"{key}_std"] = float(a.std(ddof=1)) if len(a) > 1 else 0.0
            out[level][f"{key}_per_fold"] = a.tolist()
    return out


def per_genre_table(result: dict, level: str = "song") -> pd.DataFrame:
    return pd.DataFrame(result[level]["per_genre"]).T.round(3)


def plot_confusion(result: dict, labels: list[str], level: str = "song", title: str = "", ax=None):
    import matplotlib.pyplot as plt
    import seaborn as sns

    cm = np.asarray(result[level]["confusion"])
    if ax is None:
        _, ax = plt.subplots(figsize=(6.2, 5.2), constrained_layout=True)
    sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", xticklabels=labels, yticklabels=labels, cbar=False, ax=ax)
    ax.set(xlabel="predicted", ylabel="true",
           title=title or f"{level} level, accuracy {result[level]['accuracy']:.1%}")
    return ax.figure


def plot_confusions(items, level: str = "song"):
    """Confusion matrices side by side: ``items`` is a list of (name, evaluate() result, labels). Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(items), figsize=(6 * len(items), 5), constrained_layout=True, squeeze=False)
    for ax, (name, result, labels) in zip(axes[0], items):
        plot_confusion(result, labels, level=level, ax=ax,
                       title=f"{name}: {level} accuracy {result[level]['accuracy']:.1%}")
    return fig


def plot_history(history: pd.DataFrame, title: str = "", axes=None):
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.2), constrained_layout=True)
    for key, ax in zip(("loss", "accuracy"), axes):
        ax.plot(history["epoch"] + 1, history[key], label="train")
        if f"val_{key}" in history:
            ax.plot(history["epoch"] + 1, history[f"val_{key}"], label="validation")
        ax.set(xlabel="epoch", ylabel=key, title=f"{title} {key}".strip())
        ax.legend()
    return axes[0].figure


def results_table(docs: list[dict]) -> pd.DataFrame:
    """One row per (metrics file, level): the figure with its protocol beside it."""
    rows = []
    for d in docs:
        p = d["protocol"]
        for level, r in d["results"].items():
            acc = r.get("accuracy", r.get("accuracy_mean"))
            std = r.get("accuracy_std")
            rows.append({"model": d["model"], "input": d["kind"], "split": p["split"], "leaky": p["leaky"],
                         "level": level, "accuracy": acc, "± std": std,
                         "macro_f1": r.get("macro_f1", r.get("macro_f1_mean")), "folds": p["folds"],
                         "test songs": p["n_test_songs"], "test slices": p["n_test_slices"],
                         "pretrained": p["pretrained"], "epochs": p.get("epochs_run"), "seed": p["seed"]})
    return pd.DataFrame(rows)


def misclassified(result: dict, store, n: int = 3) -> pd.DataFrame:
    """The ``n`` test slices predicted wrong with the highest confidence."""
    pred = result["_predictions"]
    probs, rows, y = pred["probs"], pred["rows"], pred["y"]
    guess = probs.argmax(axis=1)
    wrong = np.flatnonzero(guess != y)
    wrong = wrong[np.argsort(-probs[wrong, guess[wrong]])][:n]
    m = store.manifest.iloc[rows[wrong]]
    return pd.DataFrame({"track_id": m.track_id.to_numpy(), "slice_index": m.slice_index.to_numpy(),
                         "true": [store.labels[i] for i in y[wrong]],
                         "predicted": [store.labels[i] for i in guess[wrong]],
                         "confidence": probs[wrong, guess[wrong]].round(3), "path": m.path.to_numpy()})


def write_leak(path, paper_doc: dict, song_doc: dict) -> dict:
    """leak.json: slice accuracy on the paper's leaky split against the song split, same model and input."""
    paper_acc = paper_doc["results"]["slice"]["accuracy"]
    song_acc = song_doc["results"]["slice"]["accuracy"]
    doc = {"model": paper_doc["model"], "kind": paper_doc["kind"], "level": "slice",
           "paper_split_accuracy": paper_acc, "song_split_accuracy": song_acc,
           "song_split_song_accuracy": song_doc["results"].get("song", {}).get("accuracy"),
           "gap": paper_acc - song_acc, "protocols": {"paper": paper_doc["protocol"], "song": song_doc["protocol"]},
           "versions": versions()}
    Path(path).write_text(json.dumps(doc, indent=1))
    return doc
