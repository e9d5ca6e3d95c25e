"""Rows without a CNN: a classical baseline and linear probes of pretrained embeddings (notebook 04).

* **baseline** — per-slice MFCC-20 mean and standard deviation over time (40 numbers; the MFCCs are the DCT of
  the ``mel`` store's log-mel, which is exactly ``librosa.feature.mfcc(n_mfcc=20)``), averaged over a song's
  slices → standardised logistic regression (scikit-learn). The first question a reviewer asks of a CNN is
  whether it beats this.
* **linear probe** — the same classifier on musicnn embeddings
  (:func:`gtzan_utils.classify.pretrained.store_embeddings`, one per 5-s slice, averaged per song): the
  standard way embeddings are compared.

Protocol, as every other row: the split's training songs train (validation songs are not needed: nothing is
tuned), test songs score. A song's features are the mean of its slices' features; the song-level figure is the
classifier on those means; the slice-level figure is the same classifier applied to each test slice's own
features. ``metrics.json`` has the shape of :func:`gtzan_utils.classify.evaluate.write_metrics` (k-fold: mean ± std at
the top, each fold in ``fold_<i>/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gtzan_utils.base import layout
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.files import read_json
from gtzan_utils.classify import evaluate as ev

N_MFCC = 20
BASELINE_NAME = "baseline_lr"
PROBE_PREFIX = "probe_"


def mfcc_stats(store, n_mfcc: int = N_MFCC, chunk: int = 512) -> np.ndarray:
    """(rows, 2·n_mfcc) MFCC mean and std over time of every slice of a ``mel`` store (log-mel in dB).
    Notebook: 04_transfer_learning."""
    from scipy.fft import dct

    if store.params.kind != "mel":
        raise GtzanError(
            f"the baseline reads the 'mel' store (log-mel in dB), not {store.params.kind!r}: "
            f"add mel to FEATURE_KINDS of notebook 02"
        )
    out = []
    for a in range(0, len(store), chunk):
        mel_db = store.read(np.arange(a, min(a + chunk, len(store)))).astype(np.float64)
        m = dct(mel_db, axis=1, type=2, norm="ortho")[:, :n_mfcc]  # librosa.feature.mfcc's definition
        out.append(np.concatenate([m.mean(axis=2), m.std(axis=2)], axis=1))
    return np.concatenate(out).astype(np.float32)


def song_means(X: np.ndarray, track_ids, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(song ids, mean feature per song, label per song), songs in sorted order."""
    track_ids = np.asarray(track_ids)
    songs, inverse = np.unique(track_ids, return_inverse=True)
    sums = np.zeros((len(songs), X.shape[1]))
    np.add.at(sums, inverse, X)
    counts = np.bincount(inverse, minlength=len(songs))[:, None]
    y = np.zeros(len(songs), np.asarray(labels).dtype)
    y[inverse] = labels
    return songs, sums / counts, y


def make_classifier(seed: int = 0):
    """Standardisation → multinomial logistic regression (L2, C = 1)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000, random_state=seed))


def _full_probs(clf, X, n_classes: int) -> np.ndarray:
    """Probabilities for every class, also those absent from the training songs."""
    p = np.zeros((len(X), n_classes))
    p[:, clf.classes_] = clf.predict_proba(X)
    return p


def evaluate_fold(X: np.ndarray, store, split, fold: int = 0, seed: int = 0) -> dict:
    """Train on the fold's training songs (song means of ``X``, one row per manifest row), score its test songs:
    ``{"slice", "song" (song-level splits), "validation", "_predictions"}``, shaped like :func:`evaluate.evaluate`
    (``validation``: accuracy and macro-F1 on the validation songs, per level). Notebook: 04_transfer_learning."""
    m = store.manifest
    if len(X) != len(m):
        raise GtzanError(f"features have {len(X)} rows, the store {len(m)}: they must come from the same store")
    train = split.rows(m, "train", fold)
    if len(train) == 0 or len(split.rows(m, "test", fold)) == 0:
        raise GtzanError(f"split {split.name} fold {fold} has no training or no test slices")
    tracks, y = m.track_id.to_numpy(), store.y
    _, Xs, ys = song_means(X[train], tracks[train], y[train])
    if len(np.unique(ys)) < 2:
        raise GtzanError(f"split {split.name} fold {fold}: the training songs hold fewer than two genres")
    clf = make_classifier(seed).fit(Xs, ys)
    n_classes = len(store.labels)

    def score(subset):
        rows = split.rows(m, subset, fold)
        slice_probs = _full_probs(clf, X[rows], n_classes)
        out = {"slice": ev.scores(y[rows], slice_probs.argmax(axis=1), store.labels)}
        preds = {"rows": rows, "probs": slice_probs, "y": y[rows], "tracks": tracks[rows]}
        if split.level == "song":
            songs, Xt, yt = song_means(X[rows], tracks[rows], y[rows])
            song_pred = _full_probs(clf, Xt, n_classes).argmax(axis=1)
            out["song"] = ev.scores(yt, song_pred, store.labels)
            preds.update(songs=songs, song_y=yt, song_pred=song_pred)
        out["_predictions"] = preds
        return out

    out = score("test")
    if len(split.rows(m, "val", fold)):
        val = score("val")
        out["validation"] = {
            lv: {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "n": r["n"]}
            for lv, r in val.items()
            if not lv.startswith("_")
        }
    return out


def pool(fold_results: list[dict], labels) -> dict:
    """All folds' test predictions as one result (every song tested once), like :func:`evaluate.pool_folds`, but
    the song level pools the classifier's own song predictions (a song is classified from its mean features)."""
    preds = [r["_predictions"] for r in fold_results]
    y = np.concatenate([p["y"] for p in preds])
    probs = np.concatenate([p["probs"] for p in preds])
    out = {"slice": ev.scores(y, probs.argmax(axis=1), labels)}
    if all("song_pred" in p for p in preds):
        out["song"] = ev.scores(
            np.concatenate([p["song_y"] for p in preds]), np.concatenate([p["song_pred"] for p in preds]), labels
        )
    out["_predictions"] = {k: np.concatenate([p[k] for p in preds]) for k in ("rows", "probs", "y", "tracks")}
    out["pooled_folds"] = len(fold_results)
    return out


@dataclass(frozen=True, eq=False)
class LinearRow:
    """One row of Table 1 without a CNN: ``name``, the features ``X`` (one row per slice of ``store``), what they
    are (``features``), the pretrained weights behind them (``pretrained``: a name, or False) and anything else the
    protocol should say (``protocol``)."""

    name: str
    X: np.ndarray
    store: object
    features: str
    pretrained: object = False
    protocol: dict = field(default_factory=dict)


def _write(row: LinearRow, path: Path, res: dict, proto: dict, validation: dict) -> None:
    n_params = int(row.X.shape[1] * len(row.store.labels) + len(row.store.labels))
    ev.write_metrics(path, row.name, row.store.params.kind, res, proto, parameters=n_params, validation=validation)


def run_linear(row: LinearRow, split, out_dir, seed: int = 0) -> dict:
    """Every fold of ``split`` with :func:`evaluate_fold`; writes ``out_dir/metrics.json`` (k-fold: mean ± std and
    the pooled figures, folds in ``fold_<i>/``). Returns ``{"results" (pooled over folds), "folds", "metrics",
    "out_dir"}``."""
    import sklearn

    out_dir = Path(out_dir)
    extra = {
        "classifier": "StandardScaler + LogisticRegression(C=1)",
        "features": row.features,
        "trained_on": "song means of the training songs' slices",
        "epochs_run": None,
        "scikit_learn": sklearn.__version__,
        **row.protocol,
    }
    folds = []
    for f in range(len(split.folds)):
        res = evaluate_fold(row.X, row.store, split, f, seed)
        proto = ev.protocol(split, f, seed, row.store, pretrained=row.pretrained, **extra)
        metrics_path = layout.row_fold_dir(out_dir, f, len(split.folds)) / "metrics.json"
        _write(row, metrics_path, res, proto, res.get("validation", {}))
        folds.append((res, proto))
    results = folds[0][0]
    if len(folds) > 1:
        results = pool([r for r, _ in folds], row.store.labels)
        proto = {
            **folds[0][1],
            "fold": "all",
            "n_test_songs": sum(p["n_test_songs"] for _, p in folds),
            "n_test_slices": sum(p["n_test_slices"] for _, p in folds),
        }
        summary = ev.summarize_folds([r for r, _ in folds], results)
        validation = ev.mean_validation([r.get("validation", {}) for r, _ in folds])
        _write(row, out_dir / "metrics.json", summary, proto, validation)
    metrics = read_json(out_dir / "metrics.json")
    return {"results": results, "folds": [r for r, _ in folds], "metrics": metrics, "out_dir": out_dir}


def run_baseline(mel_store, split, out_dir, seed: int = 0) -> dict:
    """The "no CNN (baseline)" row: MFCC-20 mean/std → standardised logistic regression, written to
    ``out_dir/baseline_lr-mel-<split>/``. Returns :func:`run_linear`'s dict (``results``, ``folds``, ``metrics``, ...).

    Notebook: 04_transfer_learning
    """
    row = LinearRow(
        BASELINE_NAME, mfcc_stats(mel_store), mel_store, f"MFCC-{N_MFCC} mean and std over time per 5-s slice"
    )
    return run_linear(row, split, layout.experiment_dir(out_dir, BASELINE_NAME, "mel", split.name), seed)


def run_probe(musicnn_store, checkpoint: str, split, out_dir, seed: int = 0) -> dict:
    """The linear probe of a musicnn checkpoint: its store embeddings (cached) → standardised logistic regression,
    written to ``out_dir/probe_<checkpoint>-musicnn-<split>/``. Returns :func:`run_linear`'s dict.

    Notebook: 04_transfer_learning
    """
    from gtzan_utils.classify.pretrained import store_embeddings, weights_key

    X = store_embeddings(musicnn_store, checkpoint)
    backbone = {"backbone": checkpoint, "base": "frozen (embeddings)", "weights_key": weights_key(checkpoint)}
    features = f"{checkpoint} penultimate embedding ({X.shape[1]}-d) per 5-s slice"
    row = LinearRow(PROBE_PREFIX + checkpoint.lower(), X, musicnn_store, features, checkpoint, backbone)
    return run_linear(row, split, layout.experiment_dir(out_dir, row.name, "musicnn", split.name), seed)


def run_imagenet_probe(store, app: str, split, out_dir, weights="imagenet", seed: int = 0) -> dict:
    """The linear probe of an ImageNet base: every slice of ``store`` through the frozen ``app`` (pooled features,
    :func:`gtzan_utils.classify.imagenet.imagenet_features`, cached) → standardised logistic regression, written
    to ``out_dir/probe_<app>-<input>-<split>/``. ``weights``: ``imagenet`` or ``cached`` (from Keras' cache).
    Returns :func:`run_linear`'s dict.

    Notebook: 04_transfer_learning
    """
    from gtzan_utils.classify.imagenet import PROBE_SIZE, imagenet_features, weights_used

    X = imagenet_features(store, app, weights)
    h, w = PROBE_SIZE
    features = f"{app} ImageNet features ({X.shape[1]}-d: average and max pooled) of each slice at {h}x{w}"
    backbone = {"backbone": app, "base": "frozen (embeddings)", "input_size": [h, w]}
    row = LinearRow(PROBE_PREFIX + app, X, store, features, weights_used(app, weights) or False, backbone)
    return run_linear(row, split, layout.experiment_dir(out_dir, row.name, store.params.kind, split.name), seed)
