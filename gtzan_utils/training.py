"""Training from the feature store: batches are read from disk, never the whole array in memory.

* batches come from :class:`gtzan_utils.batches.StoreBatches` (shared with evaluation);
* :func:`train_stats` — per-row / per-channel mean and variance of the **training split only**, streamed;
* :func:`run_experiment` — build → fit (EarlyStopping, best ``model.keras``, CSV history, resume after a kill
  through ``BackupAndRestore``) → optional stage-2 fine-tuning → scores on the test split → ``metrics.json``.

Mixed precision is switched on automatically on a GPU (:func:`setup_device`); Keras prints one line per epoch
(``verbose=2``) under papermill. Shown in notebooks 03_vanilla_cnn and 04_transfer_learning.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from . import evaluate as ev
from .batches import StoreBatches
from .config import in_papermill
from .errors import GtzanError


def setup_device() -> str:
    """Use a GPU with mixed precision when there is one; return a one-line description.

    Notebook: 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation
    """
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # no retracing warnings for each model of a notebook
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
        return f"GPU ({len(gpus)}): mixed precision on"
    return "CPU only: float32 (full runs belong on a GPU, e.g. Colab)"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (``keras.utils.set_random_seed``) and switch on TensorFlow's op
    determinism, so that a run repeats bit for bit on the same machine and library versions. Other CPUs or
    library builds may still pick other kernels (oneDNN), so runs on two machines can differ slightly."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def default_verbose() -> int:
    """Keras ``verbose`` for ``fit``: 2 (one line per epoch) under papermill, else 1 (progress bar).

    Notebook: 05_vae_generation
    """
    return 2 if in_papermill() else 1


def train_stats(store, rows, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance per row (frequency bin / coefficient) and channel over the given rows, streamed."""
    rows = np.sort(np.asarray(rows))
    shape = store.params.shape
    h, c = shape[0], (shape[2] if len(shape) == 3 else 1)
    s1, s2, n = np.zeros((h, c)), np.zeros((h, c)), 0
    for a in range(0, len(rows), chunk):
        x = store.read(rows[a : a + chunk]).astype(np.float64).reshape(-1, h, shape[1], c)
        s1 += x.sum(axis=(0, 2))
        s2 += (x**2).sum(axis=(0, 2))
        n += x.shape[0] * x.shape[2]
    mean = s1 / n
    return mean.astype(np.float32), np.maximum(s2 / n - mean**2, 1e-8).astype(np.float32)


def config_key(cfg: dict) -> str:
    """A short hash of a configuration: a finished run with the same key is loaded, not trained again."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:12]


def train_val_rows(store, split, fold: int = 0, max_train_slices: int | None = None, seed: int = 0):
    """(training rows, validation rows) of a split fold in a store; the training rows optionally a random
    subset of ``max_train_slices`` (seeded). GtzanError when the fold has no training slices."""
    m = store.manifest
    train_rows, val_rows = split.rows(m, "train", fold), split.rows(m, "val", fold)
    if len(train_rows) == 0:
        raise GtzanError(f"split {split.name} fold {fold} has no training slices in store {store.path.name}")
    if max_train_slices and len(train_rows) > max_train_slices:
        train_rows = np.sort(np.random.default_rng(seed).choice(train_rows, max_train_slices, replace=False))
    return train_rows, val_rows


def fit(
    model,
    store,
    train_rows,
    val_rows,
    out_dir,
    epochs: int,
    batch_size: int = 32,
    patience: int = 6,
    seed: int = 0,
    verbose: int | None = None,
    extra_callbacks=(),
    initial_epoch: int = 0,
    extra_train=None,
    backup: str = "backup",
):
    """``model.fit`` on batches from the store with the run's callbacks; resumes from ``out_dir/<backup>`` (one
    backup folder per training stage, so that a stage never restores another stage's state).
    ``extra_train=(X, y)``: in-memory slices added to the training batches only."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(out_dir / backup)),  # first: a kill resumes from the last epoch
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(str(out_dir / "best.keras"), monitor="val_loss", save_best_only=True),
        keras.callbacks.CSVLogger(str(out_dir / "history.csv"), append=True),
        *extra_callbacks,
    ]
    train = StoreBatches(store, train_rows, batch_size, shuffle=True, seed=seed, extra=extra_train)
    val = StoreBatches(store, val_rows, batch_size) if len(val_rows) else None
    return model.fit(
        train,
        validation_data=val,
        epochs=epochs,
        callbacks=callbacks,
        initial_epoch=initial_epoch,
        verbose=default_verbose() if verbose is None else verbose,
    )


def read_history(out_dir) -> pd.DataFrame:
    """The CSV history, one row per epoch (a resumed run's repeated epochs keep their last record)."""
    path = Path(out_dir) / "history.csv"
    if not path.exists():
        return pd.DataFrame(columns=["epoch", "loss", "accuracy"])
    h = pd.read_csv(path)
    return h.drop_duplicates("epoch", keep="last").reset_index(drop=True)


def _scorer(model, store, model_name: str, on_embeddings: bool):
    """(model, store) that training and scoring feed: the classifier on store slices, or, for a frozen musicnn
    backbone, its head on the store's cached embeddings (the same predictions, without the backbone per epoch)."""
    if not on_embeddings:
        return model, store
    from .models import MUSICNN_MODELS, musicnn_head
    from .pretrained import EmbeddedStore

    return musicnn_head(model), EmbeddedStore(store, MUSICNN_MODELS[model_name], progress=default_verbose() > 0)


def run_experiment(
    model_name: str,
    store,
    split,
    out_dir,
    *,
    fold: int = 0,
    epochs: int = 30,
    batch_size: int = 32,
    patience: int = 6,
    seed: int = 0,
    weights=None,
    input_size=None,
    learning_rate=None,
    max_train_slices: int | None = None,
    fine_tune_epochs: int = 0,
    fine_tune_layers: int = 30,
    verbose: int | None = None,
    extra_callbacks=(),
    extra_train=None,
    train_base=None,
) -> dict:
    """Train one model on one store and split fold, score it on the test songs, write everything to ``out_dir``.

    ``extra_train=(X, y)``: in-memory slices added to the training split only (the augmentation experiment of
    notebook 05); their hash is part of the configuration, and normalisation statistics stay those of the
    real training slices.

    Files: ``model.keras`` (best weights, normaliser inside), ``history.csv``, ``metrics.json``. A finished
    experiment with the same configuration is not trained again: its model is loaded and re-scored.
    Returns ``{"model", "results", "history", "metrics", "out_dir"}``.
    """
    from .models import base_of, build_model
    from .predict import write_features

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = None if weights in ("", "none", "None") else weights
    cfg = {
        "model": model_name,
        "kind": store.params.kind,
        "store": store.path.name,
        **split.identity(fold),
        "epochs": epochs,
        "batch_size": batch_size,
        "patience": patience,
        "seed": seed,
        "weights": weights,
        "input_size": input_size,
        "learning_rate": learning_rate,
        "max_train_slices": max_train_slices,
        "fine_tune_epochs": fine_tune_epochs,
    }
    if train_base is not None:  # transfer models only: frozen (False) or trained (True) base; None is automatic
        cfg["train_base"] = bool(train_base)
    # a frozen pretrained musicnn backbone gives every slice the same embedding in every epoch: the head trains
    # on the store's cached embeddings (computed once, shared with the linear probe), not on the backbone
    from .models import MUSICNN_MODELS

    on_embeddings = (
        model_name in MUSICNN_MODELS
        and weights is not None
        and train_base is not True
        and not fine_tune_epochs
        and extra_train is None
    )
    if on_embeddings:
        cfg["head_on"] = "cached embeddings"
    if extra_train is not None:
        ex = np.ascontiguousarray(extra_train[0], np.float32)
        cfg["extra_train"] = {
            "n": int(len(ex)),
            "sha256": hashlib.sha256(ex.tobytes() + np.asarray(extra_train[1], np.int64).tobytes()).hexdigest()[:16],
        }
    key = config_key(cfg)
    metrics_path, model_path = out_dir / "metrics.json", out_dir / "model.keras"
    if metrics_path.exists() and model_path.exists() and json.loads(metrics_path.read_text()).get("config_key") == key:
        model = keras.models.load_model(model_path)
        write_features(out_dir, store.params, store.labels)
        results = ev.evaluate(*_scorer(model, store, model_name, on_embeddings), split, fold)
        return {
            "model": model,
            "results": results,
            "history": read_history(out_dir),
            "metrics": json.loads(metrics_path.read_text()),
            "out_dir": out_dir,
        }
    if (out_dir / "config.json").exists() and json.loads((out_dir / "config.json").read_text()).get("key") != key:
        for stale in (
            "backup",
            "backup_stage2",
            "stage1.keras",
            "stage1.json",
            "history.csv",
            "best.keras",
            "metrics.json",
            "model.keras",
        ):  # another configuration: its files must not be resumed
            p = out_dir / stale
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    (out_dir / "config.json").write_text(json.dumps({"key": key, **cfg}, indent=1, default=str))

    seed_everything(seed)
    train_rows, val_rows = train_val_rows(store, split, fold, max_train_slices, seed)
    fit_kw = dict(
        batch_size=batch_size,
        patience=patience,
        seed=seed,
        verbose=verbose,
        extra_callbacks=extra_callbacks,
        extra_train=extra_train,
    )
    stage1_path, stage1_info = out_dir / "stage1.keras", out_dir / "stage1.json"
    if fine_tune_epochs and stage1_path.exists() and stage1_info.exists():
        model = keras.models.load_model(stage1_path)  # stage 1 finished before a kill: resume stage 2 only
    else:
        mean, var = train_stats(store, train_rows)
        model = build_model(
            model_name,
            store.params.shape,
            store.params.kind,
            n_classes=len(store.labels),
            mean=mean,
            variance=var,
            weights=weights,
            input_size=input_size,
            learning_rate=learning_rate,
            train_base=train_base,
        )
        feed = _scorer(model, store, model_name, on_embeddings)  # what trains: the model, or its head on embeddings
        fit(*feed, train_rows, val_rows, out_dir, epochs, **fit_kw)
        if on_embeddings:  # the head's optimizer did the training: give the saved classifier a built one too
            model.optimizer.build(model.trainable_variables)
        if fine_tune_epochs:
            model.save(stage1_path)
            stage1_info.write_text(json.dumps({"epochs": int(len(read_history(out_dir)))}))
    if fine_tune_epochs:
        from .models import unfreeze_top

        unfreeze_top(model, fine_tune_layers)
        done = json.loads(stage1_info.read_text())["epochs"]
        fit(
            model,
            store,
            train_rows,
            val_rows,
            out_dir,
            done + fine_tune_epochs,
            initial_epoch=done,
            backup="backup_stage2",
            **fit_kw,
        )
    model.save(model_path)
    write_features(out_dir, store.params, store.labels)
    # on embeddings there is no stage 2, so the head that trained (``feed``) is the one to score
    scorer = feed if on_embeddings else (model, store)
    results = ev.evaluate(*scorer, split, fold)
    validation = ev.validation_scores(*scorer, split, fold)
    history = read_history(out_dir)
    base = base_of(model)
    base_state = (
        None
        if base is None
        else (
            f"frozen, then top {fine_tune_layers} layers fine-tuned"
            if fine_tune_epochs
            else "trained"
            if base.trainable
            else "frozen"
        )
    )
    proto = ev.protocol(
        split,
        fold,
        seed,
        store,
        pretrained=weights or False,
        epochs_run=int(len(history)),
        base=base_state,
        backbone=None if base is None else base.name,
        n_train_slices_used=int(len(train_rows)),
        input_size=input_size,
        n_extra_train_slices=int(len(extra_train[1])) if extra_train is not None else 0,
    )
    ev.write_metrics(
        metrics_path,
        model_name,
        store.params.kind,
        results,
        proto,
        config=cfg,
        config_key=key,
        parameters=int(model.count_params()),
        validation=validation,
    )
    for done_stage in ("stage1.keras", "stage1.json"):
        (out_dir / done_stage).unlink(missing_ok=True)
    return {
        "model": model,
        "results": results,
        "history": history,
        "metrics": json.loads(metrics_path.read_text()),
        "out_dir": out_dir,
    }


def run_split(model_name: str, store, split, out_dir, **kw) -> dict:
    """:func:`run_experiment` on every fold of ``split``; with several folds, ``out_dir/metrics.json`` holds
    mean ± std over the folds (each fold's own files are in ``out_dir/fold_<i>``).
    Returns ``{"model", "results", "folds", "history", "metrics", "out_dir"}`` (a single fold:
    :func:`run_experiment`'s dict).

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """

    out_dir = Path(out_dir)
    if len(split.folds) == 1:
        return run_experiment(model_name, store, split, out_dir, **kw)
    runs = [
        run_experiment(model_name, store, split, out_dir / f"fold_{f}", fold=f, **kw) for f in range(len(split.folds))
    ]
    pooled = ev.pool_folds([r["results"] for r in runs], store.labels, song=split.level == "song")
    summary = ev.summarize_folds([r["results"] for r in runs], pooled)
    first = runs[0]["metrics"]
    proto = {
        **first["protocol"],
        "fold": "all",
        "n_test_songs": sum(r["metrics"]["protocol"]["n_test_songs"] for r in runs),
        "n_test_slices": sum(r["metrics"]["protocol"]["n_test_slices"] for r in runs),
    }
    validation = ev.mean_validation([r["metrics"].get("validation", {}) for r in runs])
    ev.write_metrics(
        out_dir / "metrics.json",
        model_name,
        store.params.kind,
        summary,
        proto,
        config=first["config"],
        parameters=first["parameters"],
        validation=validation,
    )
    return {
        "model": runs[-1]["model"],
        "results": pooled,
        "folds": runs,
        "history": runs[-1]["history"],
        "metrics": json.loads((out_dir / "metrics.json").read_text()),
        "out_dir": out_dir,
    }


def capped_size(shape, cap):
    """The input size for a store shape under a cap (None when no change): an input with more pixels than
    the cap is shrunk so that each side is at most the cap's; a smaller one (13×216 MFCC under 32×96) is kept.

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """
    if cap is None or shape[0] * shape[1] <= cap[0] * cap[1]:
        return None
    size = (min(shape[0], cap[0]), min(shape[1], cap[1]))
    return None if size == tuple(shape[:2]) else size
