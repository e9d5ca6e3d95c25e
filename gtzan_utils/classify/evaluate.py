"""Scores on the test split, at slice and song level, each labelled with its protocol.

Song level = the mean of the slice probabilities of each song, then argmax. ``metrics.json`` carries, beside
every accuracy, the split, level, fold(s), seed, number of test songs and slices, whether the weights were
pretrained, and the library versions. Shown in notebooks 03_vanilla_cnn and 04_transfer_learning.
"""

from __future__ import annotations

import contextlib
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gtzan_utils.base.files import write_json
from gtzan_utils.features.batches import StoreBatches


def song_level(track_ids, probs: np.ndarray, y_true) -> pd.DataFrame:
    """One row per song: its true label, mean slice probabilities and predicted label."""
    df = pd.DataFrame(probs, columns=range(probs.shape[1]))
    df["track_id"] = list(track_ids)
    mean = df.groupby("track_id", sort=True).mean()
    truth = pd.Series(list(y_true), index=list(track_ids)).groupby(level=0).first()
    out = pd.DataFrame(
        {"y_true": truth.loc[mean.index].to_numpy(), "y_pred": mean.to_numpy().argmax(axis=1)}, index=mean.index
    )
    out["probs"] = list(mean.to_numpy())
    return out


def scores(y_true, y_pred, labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-genre precision/recall/F1 and the confusion matrix."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    idx = list(range(len(labels)))
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    # every label that appears in the truth or in the predictions counts: a genre predicted but absent from
    # the test set scores F1 0 and pulls the mean down (leaving it out would flatter the model)
    present = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else float("nan"),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "n": int(len(y_true)),
        "per_genre": {
            labels[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i in idx
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
    }


def predict_rows(model, store, rows, batch_size: int = 64) -> np.ndarray:
    """Slice probabilities for manifest rows, read from the store batch by batch."""
    return model.predict(StoreBatches(store, rows, batch_size=batch_size), verbose=0)


def evaluate(model, store, split, fold: int = 0, subset: str = "test", batch_size: int = 64) -> dict:
    """Slice scores, and song scores where the split keeps songs whole; plus the raw predictions."""
    rows = split.rows(store.manifest, subset, fold)
    probs = predict_rows(model, store, rows, batch_size)
    y = store.y[rows]
    out = {"slice": scores(y, probs.argmax(axis=1), store.labels)}
    tracks = store.manifest.track_id.to_numpy()[rows]
    if split.level == "song":
        songs = song_level(tracks, probs, y)
        out["song"] = scores(songs.y_true, songs.y_pred, store.labels)
    out["_predictions"] = {"rows": rows, "probs": probs, "y": y, "tracks": tracks}
    return out


def pool_folds(fold_results: list[dict], labels: list[str], song: bool) -> dict:
    """One result from the test predictions of every fold of a k-fold split: each song is tested exactly once,
    so the pooled confusion matrix covers the whole dataset. Same shape as :func:`evaluate`'s result, plus
    ``pooled_folds`` (the number of folds). Notebook: 03_vanilla_cnn, 04_transfer_learning."""
    preds = [r["_predictions"] for r in fold_results]
    pooled = {k: np.concatenate([p[k] for p in preds]) for k in ("rows", "probs", "y", "tracks")}
    if len(np.unique(pooled["rows"])) != len(pooled["rows"]):
        raise ValueError("the folds' test sets overlap: a slice was tested in more than one fold")
    out = {"slice": scores(pooled["y"], pooled["probs"].argmax(axis=1), labels)}
    if song:
        songs = song_level(pooled["tracks"], pooled["probs"], pooled["y"])
        out["song"] = scores(songs.y_true, songs.y_pred, labels)
    out["_predictions"] = pooled
    out["pooled_folds"] = len(fold_results)
    return out


def result_title(result: dict, level: str, name: str = "") -> str:
    """The title of a figure or table of ``result``: level, accuracy, and "k folds pooled" for k-fold results.

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """
    pooled = result.get("pooled_folds")
    scope = f", all {pooled} folds pooled (every song tested once)" if pooled else ""
    head = f"{name}: " if name else ""
    return f"{head}{level} level{scope}, test accuracy {result[level]['accuracy']:.1%}"


def validation_scores(model, store, split, fold: int = 0) -> dict:
    """Accuracy and macro-F1 on the fold's **validation** songs, per level: what model selection may look at
    (the test songs are for reporting only). Empty when the fold has no validation slices."""
    if len(split.rows(store.manifest, "val", fold)) == 0:
        return {}
    res = evaluate(model, store, split, fold, subset="val")
    return {
        level: {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "n": r["n"]}
        for level, r in res.items()
        if not level.startswith("_")
    }


def mean_validation(per_fold: list[dict]) -> dict:
    """Mean validation accuracy and macro-F1 over folds, per level (levels every fold has)."""
    levels = set.intersection(*(set(v) for v in per_fold)) if per_fold else set()
    return {
        level: {key: float(np.mean([v[level][key] for v in per_fold])) for key in ("accuracy", "macro_f1")}
        for level in sorted(levels)
    }


def versions() -> dict:
    """The library versions of the run: ``{"python": ..., "tensorflow": ..., ...}`` (missing packages left out)."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("tensorflow", "keras", "librosa", "numpy", "scikit-learn"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def protocol(split, fold: int, seed: int, store, pretrained, **extra) -> dict:
    """Everything a reader needs to know how a figure was made."""
    m = store.manifest
    test_rows = split.rows(m, "test", fold)
    return {
        "split": split.name,
        "leaky": split.leaky,
        "split_note": split.note,
        "fold": fold,
        "folds": len(split.folds),
        "seed": seed,
        "n_test_songs": int(m.track_id.iloc[test_rows].nunique()),
        "n_test_slices": int(len(test_rows)),
        "n_train_slices": int(len(split.rows(m, "train", fold))),
        "pretrained": pretrained,
        "song_level": split.level == "song",
        **extra,
    }


def write_doc(path, doc: dict) -> dict:
    """The one writer of the run's result files (``metrics.json``, ``leak.json``, ``vae_metrics.json``): adds the
    library versions and the time, writes atomically (a killed run never leaves half a file). Returns the document."""
    doc = {**doc, "versions": versions(), "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_json(path, doc)
    return doc


def write_metrics(path, model_name: str, kind: str, results: dict, protocol: dict, **extra) -> Path:
    """metrics.json of a classifier: every accuracy sits beside its protocol; predictions are left out. Returns
    the path (written by :func:`write_doc`)."""
    levels = {k: v for k, v in results.items() if not k.startswith("_") and isinstance(v, dict)}
    write_doc(path, {"model": model_name, "kind": kind, "protocol": protocol, "results": levels, **extra})
    return Path(path)


def summarize_folds(fold_results: list[dict], pooled: dict | None = None) -> dict:
    """Mean ± std of accuracy and macro-F1 over folds, per level; with ``pooled`` (from :func:`pool_folds`) also
    the pooled accuracy, confusion matrix and per-genre scores of all folds' test predictions."""
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
        if pooled is not None and level in pooled:
            p = pooled[level]
            out[level].update(
                accuracy_pooled=p["accuracy"],
                macro_f1_pooled=p["macro_f1"],
                n=p["n"],
                per_genre=p["per_genre"],
                confusion=p["confusion"],
            )
    return out


def per_genre_table(result: dict, level: str = "song") -> pd.DataFrame:
    """Precision, recall, F1 and support per genre of ``result`` at ``level`` as a DataFrame (genres as rows).

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """
    return pd.DataFrame(result[level]["per_genre"]).T.round(3)


def results_table(docs: list[dict]) -> pd.DataFrame:
    """A DataFrame, one row per (metrics file, level): the figure with its protocol beside it.

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """
    rows = []
    for d in docs:
        p = d["protocol"]
        for level, r in d["results"].items():
            acc = r.get("accuracy", r.get("accuracy_mean"))
            std = r.get("accuracy_std")
            rows.append(
                {
                    "model": d["model"],
                    "input": d["kind"],
                    "split": p["split"],
                    "leaky": p["leaky"],
                    "level": level,
                    "accuracy": acc,
                    "± std": std,
                    "macro_f1": r.get("macro_f1", r.get("macro_f1_mean")),
                    "folds": p["folds"],
                    "test songs": p["n_test_songs"],
                    "test slices": p["n_test_slices"],
                    "pretrained": p["pretrained"],
                    "epochs": p.get("epochs_run"),
                    "seed": p["seed"],
                }
            )
    return pd.DataFrame(rows)


def misclassified(result: dict, store, n: int = 3) -> pd.DataFrame:
    """The ``n`` test slices predicted wrong with the highest confidence, as a DataFrame.

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """
    pred = result["_predictions"]
    probs, rows, y = pred["probs"], pred["rows"], pred["y"]
    guess = probs.argmax(axis=1)
    wrong = np.flatnonzero(guess != y)
    wrong = wrong[np.argsort(-probs[wrong, guess[wrong]])][:n]
    m = store.manifest.iloc[rows[wrong]]
    return pd.DataFrame(
        {
            "track_id": m.track_id.to_numpy(),
            "slice_index": m.slice_index.to_numpy(),
            "true": [store.labels[i] for i in y[wrong]],
            "predicted": [store.labels[i] for i in guess[wrong]],
            "confidence": probs[wrong, guess[wrong]].round(3),
            "path": m.path.to_numpy(),
        }
    )


def write_leak(path, paper_doc: dict, song_doc: dict) -> dict:
    """Write leak.json (slice accuracy on the paper's leaky split against the song split, same model and input);
    returns its document.

    Notebook: 03_vanilla_cnn
    """
    paper_acc = paper_doc["results"]["slice"]["accuracy"]
    song_acc = song_doc["results"]["slice"]["accuracy"]
    doc = {
        "model": paper_doc["model"],
        "kind": paper_doc["kind"],
        "level": "slice",
        "paper_split_accuracy": paper_acc,
        "song_split_accuracy": song_acc,
        "song_split_song_accuracy": song_doc["results"].get("song", {}).get("accuracy"),
        "gap": paper_acc - song_acc,
        "protocols": {"paper": paper_doc["protocol"], "song": song_doc["protocol"]},
    }
    return write_doc(path, doc)
