"""One experiment of Table 1, end to end: :func:`run_experiment` (one model, store and split fold: build → fit →
optional stage-2 fine-tuning → scores on the test songs → ``metrics.json``; a finished configuration is loaded
instead of retrained) and :func:`run_split` (every fold, pooled with mean ± std).

An :class:`Experiment` holds what one run is made of (the model, the data, the fold, the :class:`TrainSettings`);
each step is a function of it — :func:`experiment_config` (what names the run), :func:`load_finished`,
:func:`build`, :func:`train`, :func:`score_and_write` — so that a new row of Table 1 can be followed through them.
Shown in notebooks 03_vanilla_cnn and 04_transfer_learning.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from gtzan_utils.base import layout
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.files import read_json, write_json
from gtzan_utils.base.resume import RunFolder
from gtzan_utils.classify import evaluate as ev
from gtzan_utils.classify.imagenet import weights_used
from gtzan_utils.classify.selection import epoch_size
from gtzan_utils.classify.settings import TrainSettings
from gtzan_utils.classify.training import Feed, config_key, fit, read_history, seed_everything, train_stats

#: Files of a classifier's run that another configuration must not resume (besides metrics.json and model.keras).
RESUME_FILES = (
    "backup",
    "backup_stage2",
    "stage1.keras",
    "stage1.json",
    "history.csv",
    "selection-backup.json",
    "selection-backup.weights.h5",
    "selection-backup_stage2.json",
    "selection-backup_stage2.weights.h5",
)


@dataclass(frozen=True, eq=False)
class Experiment:
    """One run: ``model_name`` on ``store``'s slices, fold ``fold`` of ``split``, trained with ``settings`` into
    ``out_dir``. ``train_store``: overlapping training windows of the same songs (notebook 02), which training
    draws from while validation and test use ``store``'s slices. ``extra_train=(X, y)``: in-memory slices added to
    the training split only (notebook 05's augmentation). ``callbacks``: extra Keras callbacks (tests)."""

    model_name: str
    store: object
    split: object
    out_dir: Path
    settings: TrainSettings
    fold: int = 0
    train_store: object = None
    extra_train: tuple | None = None
    callbacks: tuple = field(default=())

    @property
    def pool(self):
        """The store training reads: the windows, or the slices."""
        return self.train_store if self.train_store is not None else self.store

    def run_folder(self, key: str) -> RunFolder:
        return RunFolder(Path(self.out_dir), key, leftovers=RESUME_FILES)


def _on_embeddings(exp: Experiment) -> bool:
    """Whether a frozen pretrained musicnn backbone's head trains on the store's cached embeddings (computed once,
    shared with the linear probe; every slice has the same embedding in every epoch) instead of the backbone."""
    from gtzan_utils.classify.models import MUSICNN_MODELS

    s = exp.settings
    return (
        exp.model_name in MUSICNN_MODELS
        and s.weights is not None
        and s.train_base is not True
        and not s.fine_tune_epochs
        and exp.extra_train is None
        and exp.train_store is None
    )


def _scorer(model, store, exp: Experiment, on_embeddings: bool):
    """(model, store) that training and scoring feed: the classifier on store slices, or, for a frozen musicnn
    backbone, its head on the store's cached embeddings (the same predictions, without the backbone per epoch)."""
    if not on_embeddings:
        return model, store
    from gtzan_utils.classify.models import MUSICNN_MODELS, musicnn_head
    from gtzan_utils.classify.pretrained import EmbeddedStore
    from gtzan_utils.classify.training import default_verbose

    return musicnn_head(model), EmbeddedStore(store, MUSICNN_MODELS[exp.model_name], progress=default_verbose() > 0)


def experiment_config(exp: Experiment) -> dict:
    """Step 1: the configuration that names a run (its hash is the cache key, its fields go to ``config.json``),
    with ``on_embeddings`` (:func:`_on_embeddings`)."""
    on_embeddings = _on_embeddings(exp)
    cfg = {
        "model": exp.model_name,
        "kind": exp.store.params.kind,
        "store": exp.store.path.name,
        **exp.split.identity(exp.fold),
        **exp.settings.identity(),
    }
    if exp.train_store is not None:
        cfg["train_store"] = exp.train_store.path.name
    if on_embeddings:
        cfg["head_on"] = "cached embeddings"
    if exp.extra_train is not None:
        x = np.ascontiguousarray(exp.extra_train[0], np.float32)
        digest = hashlib.sha256(x.tobytes() + np.asarray(exp.extra_train[1], np.int64).tobytes())
        cfg["extra_train"] = {"n": int(len(x)), "sha256": digest.hexdigest()[:16]}
    return {"cfg": cfg, "key": config_key(cfg), "on_embeddings": on_embeddings}


def _result(model, results, out_dir: Path) -> dict:
    return {
        "model": model,
        "results": results,
        "history": read_history(out_dir),
        "metrics": read_json(out_dir / "metrics.json"),
        "out_dir": out_dir,
    }


def load_finished(exp: Experiment, named: dict) -> dict | None:
    """Step 2: a finished run of this configuration in ``out_dir``, loaded and re-scored on the test songs
    (:func:`run_experiment`'s dict), or None."""
    from gtzan_utils.classify.predict import trained_on, write_features

    out_dir = Path(exp.out_dir)
    if not exp.run_folder(named["key"]).is_finished():
        return None
    model = keras.models.load_model(out_dir / "model.keras")
    write_features(out_dir, exp.store.params, exp.store.labels, trained_on(exp.store, exp.split, exp.fold))
    results = ev.evaluate(*_scorer(model, exp.store, exp, named["on_embeddings"]), exp.split, exp.fold)
    return _result(model, results, out_dir)


def build(exp: Experiment, train_rows):
    """Step 3: the compiled model, its normaliser holding the statistics of the training examples."""
    from gtzan_utils.classify.models import build_model

    mean, var = train_stats(exp.pool, train_rows)
    s = exp.settings
    return build_model(
        exp.model_name,
        exp.store.params.shape,
        exp.store.params.kind,
        n_classes=len(exp.store.labels),
        mean=mean,
        variance=var,
        weights=s.weights,
        input_size=s.input_size,
        learning_rate=s.learning_rate,
        train_base=s.train_base,
    )


def _rows(exp: Experiment):
    """(training rows in the pool, validation rows in the store, examples an epoch draws)."""
    store, split, fold = exp.store, exp.split, exp.fold
    train_rows, val_rows = split.rows(store.manifest, "train", fold), split.rows(store.manifest, "val", fold)
    if len(train_rows) == 0:
        raise GtzanError(f"split {split.name} fold {fold} has no training slices in store {store.path.name}")
    n_song_slices = len(train_rows)
    if exp.train_store is not None:
        train_rows = split.rows(exp.train_store.manifest, "train", fold)
    s = exp.settings
    return train_rows, val_rows, epoch_size(n_song_slices, len(train_rows), s.min_epoch_slices, s.max_train_slices)


def train(exp: Experiment, model, trains, feed: Feed) -> dict:
    """Step 4: stage 1 (``trains``: the model, or its head on cached embeddings), then the optional stage 2 with the
    top ``fine_tune_layers`` of the base unfrozen; a kill resumes the stage it interrupted. Returns the selection
    of the last stage (:meth:`KeepBest.describe`)."""
    from gtzan_utils.classify.models import unfreeze_top

    s, out_dir = exp.settings, Path(exp.out_dir)
    stage1_path, stage1_info = out_dir / "stage1.keras", out_dir / "stage1.json"
    selection = None
    if not (s.fine_tune_epochs and stage1_path.exists() and stage1_info.exists()):
        select = fit(trains, feed, out_dir, s, callbacks=exp.callbacks)
        selection = select.describe()
        select.clear()
        if trains is not model:  # the head's optimizer did the training: give the saved classifier a built one too
            model.optimizer.build(model.trainable_variables)
        if s.fine_tune_epochs:
            model.save(stage1_path)
            write_json(stage1_info, {"epochs": int(len(read_history(out_dir))), "selection": selection})
    if s.fine_tune_epochs:
        unfreeze_top(model, s.fine_tune_layers)
        done = read_json(stage1_info)["epochs"]
        stage2 = s.replace(epochs=done + s.fine_tune_epochs, min_epochs=0)
        select = fit(model, feed, out_dir, stage2, stage="backup_stage2", initial_epoch=done, callbacks=exp.callbacks)
        selection = {**select.describe(), "stage": 2}
        select.clear()
    return selection


def _base_state(model, settings: TrainSettings):
    from gtzan_utils.classify.models import base_of

    base = base_of(model)
    if base is None:
        return None, None
    if settings.fine_tune_epochs:
        return f"frozen, then top {settings.fine_tune_layers} layers fine-tuned", base.name
    return ("trained" if base.trainable else "frozen"), base.name


def score_and_write(exp: Experiment, model, scorer, named: dict, training_info: dict) -> dict:
    """Step 5: test and validation scores, ``metrics.json`` with the protocol (written last: it marks the run
    finished); stage-1 leftovers removed."""
    from gtzan_utils.classify.predict import trained_on, write_features

    out_dir, s = Path(exp.out_dir), exp.settings
    model.save(out_dir / "model.keras")
    write_features(out_dir, exp.store.params, exp.store.labels, trained_on(exp.store, exp.split, exp.fold))
    results = ev.evaluate(*scorer, exp.split, exp.fold)
    history = read_history(out_dir)
    base_state, backbone = _base_state(model, s)
    proto = ev.protocol(
        exp.split,
        exp.fold,
        s.seed,
        exp.store,
        pretrained=weights_used(exp.model_name, s.weights) or False,
        epochs_run=int(len(history)),
        base=base_state,
        backbone=backbone,
        input_size=s.input_size,
        **training_info,
    )
    ev.write_metrics(
        out_dir / "metrics.json",
        exp.model_name,
        exp.store.params.kind,
        results,
        proto,
        config=named["cfg"],
        config_key=named["key"],
        parameters=int(model.count_params()),
        validation=ev.validation_scores(*scorer, exp.split, exp.fold),
    )
    for done_stage in ("stage1.keras", "stage1.json"):
        (out_dir / done_stage).unlink(missing_ok=True)
    return _result(model, results, out_dir)


def run_experiment(
    model_name: str,
    store,
    split,
    out_dir,
    settings: TrainSettings,
    *,
    fold: int = 0,
    train_store=None,
    extra_train=None,
    callbacks=(),
) -> dict:
    """Train one model on one store and split fold with ``settings``, score it on the test songs, write everything
    to ``out_dir`` (see :class:`Experiment` for ``train_store``, ``extra_train`` and ``callbacks``).

    A finished run of the same configuration is loaded and re-scored, not retrained; a killed one resumes. Each
    epoch draws :func:`epoch_size` examples afresh; :class:`KeepBest` picks the epoch that is kept. Files:
    ``model.keras`` (the kept epoch's weights, normaliser inside), ``history.csv``, ``config.json``,
    ``metrics.json`` (with ``protocol.selection``: the rule and the kept epoch). Returns ``{"model", "results",
    "history", "metrics", "out_dir"}``.
    """
    exp = Experiment(
        model_name, store, split, Path(out_dir), settings, fold, train_store, extra_train, tuple(callbacks)
    )
    if train_store is not None and split.level != "song":
        raise GtzanError(f"training windows need a split by song; {split.name!r} splits slices")
    named = experiment_config(exp)
    done = load_finished(exp, named)
    if done is not None:
        return done
    exp.run_folder(named["key"]).start(named["cfg"])
    seed_everything(settings.seed)
    train_rows, val_rows, per_epoch = _rows(exp)
    if settings.fine_tune_epochs and (exp.out_dir / "stage1.keras").exists() and (exp.out_dir / "stage1.json").exists():
        model = keras.models.load_model(exp.out_dir / "stage1.keras")  # stage 1 finished before a kill
    else:
        model = build(exp, train_rows)
    scorer = _scorer(model, exp.pool, exp, named["on_embeddings"])  # what trains: the model, or its head
    feed = Feed(
        scorer[1],
        train_rows,
        val_rows,
        val_store=store if train_store is not None else None,
        extra=extra_train,
        per_epoch=per_epoch,
    )
    selection = train(exp, model, scorer[0], feed)
    training_info = {
        "n_train_slices_used": int(per_epoch or len(train_rows)),
        "n_train_examples": int(len(train_rows)),
        "train_store": None if train_store is None else train_store.path.name,
        "train_hop_seconds": None if train_store is None else train_store.params.hop_seconds,
        "n_extra_train_slices": int(len(extra_train[1])) if extra_train is not None else 0,
        "selection": selection,
    }
    # on embeddings there is no stage 2 (nor a window store), so the head that trained is the one to score
    return score_and_write(exp, model, scorer if named["on_embeddings"] else (model, store), named, training_info)


def _pooled_metrics(model_name: str, store, split, runs: list[dict], out_dir: Path) -> dict:
    """``out_dir/metrics.json`` of a k-fold row: the folds' test predictions pooled, mean ± std over folds."""
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
    ev.write_metrics(
        out_dir / "metrics.json",
        model_name,
        store.params.kind,
        summary,
        proto,
        config=first["config"],
        parameters=first["parameters"],
        validation=ev.mean_validation([r["metrics"].get("validation", {}) for r in runs]),
    )
    return pooled


def run_split(model_name: str, store, split, out_dir, settings: TrainSettings, **data) -> dict:
    """:func:`run_experiment` on every fold of ``split`` (``data``: its ``train_store``, ``extra_train``,
    ``callbacks``); with several folds, ``out_dir/metrics.json`` holds mean ± std over the folds (each fold's own
    files are in ``out_dir/fold_<i>``). Returns ``{"model", "results", "folds", "history", "metrics", "out_dir"}``
    (a single fold: :func:`run_experiment`'s dict).

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """
    out_dir = Path(out_dir)
    if len(split.folds) == 1:
        return run_experiment(model_name, store, split, out_dir, settings, **data)
    runs = []
    for f in range(len(split.folds)):
        print(f"   fold {f} ({f + 1} of {len(split.folds)})")
        runs.append(run_experiment(model_name, store, split, layout.fold_dir(out_dir, f), settings, fold=f, **data))
    pooled = _pooled_metrics(model_name, store, split, runs, out_dir)
    return {
        "model": runs[-1]["model"],
        "results": pooled,
        "folds": runs,
        "history": runs[-1]["history"],
        "metrics": read_json(out_dir / "metrics.json"),
        "out_dir": out_dir,
    }


def kept_epoch(run: dict) -> int | None:
    """The epoch whose weights a run kept (0-based, as in ``history.csv``), of the run :func:`run_split` returned
    (for k folds: of the last fold, whose history it carries); None where a run did not record it.

    Notebook: 03_vanilla_cnn, 04_transfer_learning
    """
    last = run["folds"][-1] if "folds" in run else run
    return (last["metrics"]["protocol"].get("selection") or {}).get("kept_epoch")
