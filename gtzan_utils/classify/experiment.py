"""One experiment of Table 1, end to end: :func:`run_experiment` (one model, store and split fold: build → fit →
optional stage-2 fine-tuning → scores on the test songs → ``metrics.json``, a finished configuration loaded
instead of retrained) and :func:`run_split` (every fold, with mean ± std). Each step is a function of its own
(:func:`experiment_config`, ``_finished``, ``_build``, ``_train``, ``_score_and_write``), so that a new row of
Table 1 can be followed through them. Shown in notebooks 03_vanilla_cnn and 04_transfer_learning.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import keras
import numpy as np

from gtzan_utils.base import layout
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.classify import evaluate as ev
from gtzan_utils.classify.selection import epoch_size
from gtzan_utils.classify.training import (
    config_key,
    default_verbose,
    fit,
    read_history,
    seed_everything,
    train_stats,
    train_val_rows,
)


def _scorer(model, store, model_name: str, on_embeddings: bool):
    """(model, store) that training and scoring feed: the classifier on store slices, or, for a frozen musicnn
    backbone, its head on the store's cached embeddings (the same predictions, without the backbone per epoch)."""
    if not on_embeddings:
        return model, store
    from gtzan_utils.classify.models import MUSICNN_MODELS, musicnn_head
    from gtzan_utils.classify.pretrained import EmbeddedStore

    return musicnn_head(model), EmbeddedStore(store, MUSICNN_MODELS[model_name], progress=default_verbose() > 0)


#: The keyword settings of :func:`run_experiment` that a replay must repeat to find a finished run (notebook 05's
#: listener, the augmentation experiment).
TRAIN_SETTINGS = (
    "epochs",
    "batch_size",
    "patience",
    "seed",
    "input_size",
    "learning_rate",
    "max_train_slices",
    "min_epochs",
    "min_epoch_slices",
    "monitor",
    "train_store",
)


def settings_of(cfg: dict, windows: dict | None = None) -> dict:
    """The :data:`TRAIN_SETTINGS` of a run's ``config.json`` as :func:`run_experiment` keywords, to replay it;
    ``windows`` (kind → store, :func:`gtzan_utils.features.store.open_windows`) resolves its training-window store
    by name.
    A window store that cannot be found raises GtzanError naming it."""
    out = {k: cfg.get(k) for k in TRAIN_SETTINGS if k in cfg and k != "train_store"}
    if out.get("input_size"):
        out["input_size"] = tuple(out["input_size"])
    name = cfg.get("train_store")
    if name:
        found = [s for s in (windows or {}).values() if s.path.name == name]
        if not found:
            raise GtzanError(
                f"the training-window store {name} of this run is not in 02_preprocessing/windows.json: run "
                f"notebook 02 again with the same parameters"
            )
        out["train_store"] = found[0]
    return out


def same_settings(cfg: dict, settings: dict) -> bool:
    """Whether a run's ``config.json`` was trained with exactly these :data:`TRAIN_SETTINGS`."""

    def plain(k, v):
        if k == "train_store":
            return None if v is None else getattr(getattr(v, "path", None), "name", v)
        return list(v) if isinstance(v, tuple) else v

    return all(plain(k, cfg.get(k)) == plain(k, settings.get(k)) for k in TRAIN_SETTINGS)


#: Files of a run that another configuration must not resume.
RUN_FILES = (
    "backup",
    "backup_stage2",
    "stage1.keras",
    "stage1.json",
    "history.csv",
    "metrics.json",
    "model.keras",
    "selection-backup.json",
    "selection-backup.weights.h5",
    "selection-backup_stage2.json",
    "selection-backup_stage2.weights.h5",
)


def experiment_config(model_name: str, store, split, fold: int, **settings) -> dict:
    """Step 1 of :func:`run_experiment`: the configuration that names a run (its hash is the cache key), with
    ``on_embeddings``: whether a frozen musicnn head trains on the store's cached embeddings."""
    from gtzan_utils.classify.models import MUSICNN_MODELS

    s = settings
    train_store = s.get("train_store")
    cfg = {
        "model": model_name,
        "kind": store.params.kind,
        "store": store.path.name,
        **split.identity(fold),
        **{k: s.get(k) for k in TRAIN_SETTINGS if k != "train_store"},
        "fine_tune_epochs": s.get("fine_tune_epochs", 0),
    }
    if train_store is not None:
        cfg["train_store"] = train_store.path.name
    if s.get("train_base") is not None:  # transfer models only: frozen (False) or trained (True); None automatic
        cfg["train_base"] = bool(s["train_base"])
    # a frozen pretrained musicnn backbone gives every slice the same embedding in every epoch: the head trains
    # on the store's cached embeddings (computed once, shared with the linear probe), not on the backbone
    on_embeddings = (
        model_name in MUSICNN_MODELS
        and s.get("weights") is not None
        and s.get("train_base") is not True
        and not s.get("fine_tune_epochs")
        and s.get("extra_train") is None
        and train_store is None
    )
    if on_embeddings:
        cfg["head_on"] = "cached embeddings"
    extra = s.get("extra_train")
    if extra is not None:
        ex = np.ascontiguousarray(extra[0], np.float32)
        cfg["extra_train"] = {
            "n": int(len(ex)),
            "sha256": hashlib.sha256(ex.tobytes() + np.asarray(extra[1], np.int64).tobytes()).hexdigest()[:16],
        }
    cfg["weights"] = s.get("weights")
    return {"cfg": cfg, "key": config_key(cfg), "on_embeddings": on_embeddings}


def _finished(model_name, store, split, fold, out_dir: Path, key: str, on_embeddings: bool) -> dict | None:
    """Step 2: a finished run of this configuration in ``out_dir``, loaded and re-scored (else None); files that
    another configuration left there are cleared, so that nothing of it is resumed."""
    from gtzan_utils.classify.predict import trained_on, write_features

    metrics_path, model_path = out_dir / "metrics.json", out_dir / "model.keras"
    if metrics_path.exists() and model_path.exists() and json.loads(metrics_path.read_text()).get("config_key") == key:
        model = keras.models.load_model(model_path)
        write_features(out_dir, store.params, store.labels, trained_on(store, split, fold))
        results = ev.evaluate(*_scorer(model, store, model_name, on_embeddings), split, fold)
        return {
            "model": model,
            "results": results,
            "history": read_history(out_dir),
            "metrics": json.loads(metrics_path.read_text()),
            "out_dir": out_dir,
        }
    config_path = out_dir / "config.json"
    if config_path.exists() and json.loads(config_path.read_text()).get("key") != key:
        for stale in RUN_FILES + ("best.keras",):  # best.keras: left by versions before 0.4
            p = out_dir / stale
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    return None


def _build(model_name: str, store, stats_store, train_rows, **kw):
    """Step 3: the compiled model, its normaliser holding the statistics of the training examples."""
    from gtzan_utils.classify.models import build_model

    mean, var = train_stats(stats_store, train_rows)
    return build_model(
        model_name,
        store.params.shape,
        store.params.kind,
        n_classes=len(store.labels),
        mean=mean,
        variance=var,
        **kw,
    )


def _train(
    model,
    feed,
    out_dir: Path,
    train_rows,
    val_rows,
    *,
    epochs,
    fine_tune_epochs,
    fine_tune_layers,
    on_embeddings,
    val_store,
    fit_kw,
) -> dict:
    """Step 4: stage 1 (the model, or its head on cached embeddings), then the optional stage 2 with the top
    ``fine_tune_layers`` of the base unfrozen; a kill resumes the stage it interrupted. Returns the selection
    of the last stage (:meth:`KeepBest.describe`)."""
    from gtzan_utils.classify.models import unfreeze_top

    stage1_path, stage1_info = out_dir / "stage1.keras", out_dir / "stage1.json"
    selection = None
    if not (fine_tune_epochs and stage1_path.exists() and stage1_info.exists()):
        select = fit(*feed, train_rows, val_rows, out_dir, epochs, val_store=val_store, **fit_kw)
        selection = select.describe()
        select.clear()
        if on_embeddings:  # the head's optimizer did the training: give the saved classifier a built one too
            model.optimizer.build(model.trainable_variables)
        if fine_tune_epochs:
            model.save(stage1_path)
            stage1_info.write_text(json.dumps({"epochs": int(len(read_history(out_dir))), "selection": selection}))
    if fine_tune_epochs:
        unfreeze_top(model, fine_tune_layers)
        done = json.loads(stage1_info.read_text())["epochs"]
        select = fit(
            model,
            feed[1],
            train_rows,
            val_rows,
            out_dir,
            done + fine_tune_epochs,
            initial_epoch=done,
            backup="backup_stage2",
            val_store=val_store,
            **{**fit_kw, "min_epochs": 0},
        )
        selection = {**select.describe(), "stage": 2}
        select.clear()
    return selection


def _base_state(model, fine_tune_epochs: int, fine_tune_layers: int):
    from gtzan_utils.classify.models import base_of

    base = base_of(model)
    if base is None:
        return None, None
    if fine_tune_epochs:
        return f"frozen, then top {fine_tune_layers} layers fine-tuned", base.name
    return ("trained" if base.trainable else "frozen"), base.name


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
    min_epochs: int = 0,
    min_epoch_slices: int = 0,
    monitor: str = "val_loss",
    train_store=None,
    fine_tune_epochs: int = 0,
    fine_tune_layers: int = 30,
    verbose: int | None = None,
    extra_callbacks=(),
    extra_train=None,
    train_base=None,
) -> dict:
    """Train one model on one store and split fold, score it on the test songs, write everything to ``out_dir``.

    The steps, each a function of its own: :func:`experiment_config` (what names the run), ``_finished`` (a
    finished run of the same configuration is loaded and re-scored, not retrained), ``_build``, ``_train``
    (stage 1, optional stage 2; :class:`KeepBest` picks the epoch that is kept), ``_score_and_write``.

    ``train_store``: a store of overlapping training windows of the same songs and features
    (:func:`gtzan_utils.features.extract.windows_of`): training draws from its windows of the training songs, while
    validation and test use ``store``'s slices (the paper's 5-s slices). Each epoch draws
    :func:`epoch_size` examples afresh: as many as the training songs have slices in ``store``, at least
    ``min_epoch_slices``, at most ``max_train_slices``. ``min_epochs``, ``patience`` and ``monitor`` are the
    selection rule (:class:`KeepBest`). ``extra_train=(X, y)``: in-memory slices added to the training split only
    (the augmentation experiment of notebook 05); their hash is part of the configuration, and normalisation
    statistics stay those of the real training slices.

    Files: ``model.keras`` (the kept epoch's weights, normaliser inside), ``history.csv``, ``metrics.json``
    (with ``protocol.selection``: the rule and the kept epoch). Returns ``{"model", "results", "history",
    "metrics", "out_dir"}``.
    """
    from gtzan_utils.classify.predict import trained_on, write_features

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = None if weights in ("", "none", "None") else weights
    settings = dict(
        epochs=epochs,
        batch_size=batch_size,
        patience=patience,
        seed=seed,
        input_size=input_size,
        learning_rate=learning_rate,
        max_train_slices=max_train_slices,
        min_epochs=min_epochs,
        min_epoch_slices=min_epoch_slices,
        monitor=monitor,
        train_store=train_store,
        fine_tune_epochs=fine_tune_epochs,
        train_base=train_base,
        extra_train=extra_train,
        weights=weights,
    )
    if train_store is not None and split.level != "song":
        raise GtzanError(f"training windows need a split by song; {split.name!r} splits slices")
    named = experiment_config(model_name, store, split, fold, **settings)
    cfg, key, on_embeddings = named["cfg"], named["key"], named["on_embeddings"]
    done = _finished(model_name, store, split, fold, out_dir, key, on_embeddings)
    if done is not None:
        return done
    (out_dir / "config.json").write_text(json.dumps({"key": key, **cfg}, indent=1, default=str))

    seed_everything(seed)
    pool_store = train_store or store
    train_rows, val_rows = train_val_rows(store, split, fold)
    n_song_slices = len(train_rows)
    if train_store is not None:
        train_rows = split.rows(train_store.manifest, "train", fold)
    per_epoch = epoch_size(n_song_slices, len(train_rows), min_epoch_slices, max_train_slices)
    model = None
    if not (fine_tune_epochs and (out_dir / "stage1.keras").exists() and (out_dir / "stage1.json").exists()):
        model = _build(
            model_name,
            store,
            pool_store,
            train_rows,
            weights=weights,
            input_size=input_size,
            learning_rate=learning_rate,
            train_base=train_base,
        )
    else:
        model = keras.models.load_model(out_dir / "stage1.keras")  # stage 1 finished before a kill: stage 2 only
    feed = _scorer(model, pool_store, model_name, on_embeddings)  # what trains: the model, or its head
    fit_kw = dict(
        batch_size=batch_size,
        patience=patience,
        seed=seed,
        verbose=verbose,
        extra_callbacks=extra_callbacks,
        extra_train=extra_train,
        per_epoch=per_epoch,
        min_epochs=min_epochs,
        monitor=monitor,
    )
    selection = _train(
        model,
        feed,
        out_dir,
        train_rows,
        val_rows,
        epochs=epochs,
        fine_tune_epochs=fine_tune_epochs,
        fine_tune_layers=fine_tune_layers,
        on_embeddings=on_embeddings,
        val_store=store if train_store is not None else None,
        fit_kw=fit_kw,
    )
    model.save(out_dir / "model.keras")
    write_features(out_dir, store.params, store.labels, trained_on(store, split, fold))
    # on embeddings there is no stage 2 (nor a window store), so the head that trained is the one to score
    scorer = feed if on_embeddings else (model, store)
    training_info = {
        "n_train_slices_used": int(per_epoch or len(train_rows)),
        "n_train_examples": int(len(train_rows)),
        "train_store": None if train_store is None else train_store.path.name,
        "train_hop_seconds": None if train_store is None else train_store.params.hop_seconds,
        "n_extra_train_slices": int(len(extra_train[1])) if extra_train is not None else 0,
        "selection": selection,
    }
    return _score_and_write(
        model,
        scorer,
        store,
        split,
        fold,
        out_dir,
        cfg,
        key,
        model_name,
        seed,
        weights,
        input_size,
        fine_tune_epochs,
        fine_tune_layers,
        training_info,
    )


def _score_and_write(
    model,
    scorer,
    store,
    split,
    fold,
    out_dir,
    cfg,
    key,
    model_name,
    seed,
    weights,
    input_size,
    fine_tune_epochs,
    fine_tune_layers,
    training_info,
) -> dict:
    """Step 5: test and validation scores, ``metrics.json`` with the protocol; stage-1 leftovers removed."""
    results = ev.evaluate(*scorer, split, fold)
    validation = ev.validation_scores(*scorer, split, fold)
    history = read_history(out_dir)
    base_state, backbone = _base_state(model, fine_tune_epochs, fine_tune_layers)
    proto = ev.protocol(
        split,
        fold,
        seed,
        store,
        pretrained=weights or False,
        epochs_run=int(len(history)),
        base=base_state,
        backbone=backbone,
        input_size=input_size,
        **training_info,
    )
    ev.write_metrics(
        out_dir / "metrics.json",
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
        "metrics": json.loads((out_dir / "metrics.json").read_text()),
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
        run_experiment(model_name, store, split, layout.fold_dir(out_dir, f), fold=f, **kw)
        for f in range(len(split.folds))
    ]
    pooled = ev.pool_folds([r["results"] for r in runs], store.labels, song=split.level == "song")
    summary = ev.summarize_folds([r["results"] for r in runs], pooled)
    first = runs[0]["metrics"]
    selections = [r["metrics"]["protocol"].get("selection") or {} for r in runs]
    proto = {
        **first["protocol"],
        "selection": {
            **{k: v for k, v in selections[0].items() if k != "kept_epoch"},
            "kept_epoch_per_fold": [sel.get("kept_epoch") for sel in selections],
        },
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


def kept_epoch(run: dict) -> int | None:
    """The epoch whose weights a run kept (0-based, as in ``history.csv``), of the run :func:`run_split` returned
    (for k folds: of the last fold, whose history it carries); None for runs of versions that did not record it.

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """
    last = run["folds"][-1] if "folds" in run else run
    return (last["metrics"]["protocol"].get("selection") or {}).get("kept_epoch")
