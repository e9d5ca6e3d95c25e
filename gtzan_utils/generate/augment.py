"""Augmentation with generated slices (the paper's future work), measured on k folds: every song tested once.

For each fold of a ``kfold`` split: the listener's vanilla CNN **without** extra slices (notebook 03's fold model
when its settings match, otherwise trained here), a VAE trained on **that fold's training songs only** (so the
generated slices never carry the fold's test songs), ``k`` generated slices per genre, and the same CNN **with**
them added to the training split. :func:`summarize` gives mean ± std over the folds of each and of the per-fold
difference. Shown in notebook 05_vae_generation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gtzan_utils.base import layout
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.files import read_json

LEVELS = ("slice", "song")


def _nb03_fold_dir(run_dir, store, split, fold: int, listener: dict):
    """Notebook 03's folder of this fold when it was trained exactly as the ``listener`` was (its settings and
    training windows), else None."""
    from gtzan_utils.classify.settings import TrainSettings

    row = layout.experiment_dir(
        layout.notebook_dir(run_dir, layout.VANILLA_CNN), "vanilla_cnn", store.params.kind, split.name
    )
    d = layout.fold_dir(row, fold)
    cfg = read_json(d / "config.json")
    if cfg is None or not (d / "model.keras").exists():
        return None
    windows = listener.get("train_store")
    same = (
        cfg.get("store") == store.path.name
        and cfg.get("fold") == fold
        and cfg.get("split_members") == split.members_key(fold)
        and TrainSettings.from_config(cfg) == listener["settings"]
        and cfg.get("train_store") == (None if windows is None else windows.path.name)
    )
    return d if same else None


def summarize(folds: list[dict]) -> dict:
    """Mean and standard deviation (ddof=1; 0 for one fold) over folds of the test accuracy ``without`` and
    ``with`` generated slices and of their per-fold difference, per level: ``{"without": {level: {"mean",
    "std", "per_fold"}}, "with": ..., "difference": ...}``."""
    out = {}
    for part in ("without", "with", "difference"):
        out[part] = {}
        for level in LEVELS:
            if part == "difference":
                vals = [f["with"][level] - f["without"][level] for f in folds if level in f["with"]]
            else:
                vals = [f[part][level] for f in folds if level in f[part]]
            if vals:
                a = np.asarray(vals, float)
                out[part][level] = {
                    "mean": float(a.mean()),
                    "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                    "per_fold": a.tolist(),
                }
    return out


def _fold(run_dir, store, split, out_dir: Path, fold: int, k: int, listener: dict, vae: tuple) -> dict:
    """One fold: the classifier without generated slices (notebook 03's when it trained the same way), a VAE of
    that fold's training songs, the classifier again with ``k`` of its slices per genre added to training."""
    from gtzan_utils.classify.experiment import run_experiment
    from gtzan_utils.generate.judge import augment_slices
    from gtzan_utils.generate.vae import train_vae

    settings, windows = listener["settings"], listener.get("train_store")
    given = _nb03_fold_dir(run_dir, store, split, fold, listener)
    without_dir = given or layout.fold_dir(out_dir / "without", fold)
    without = run_experiment("vanilla_cnn", store, split, without_dir, settings, fold=fold, train_store=windows)
    gen = train_vae(store, split, out_dir / f"vae_fold{fold}", *vae, fold=fold)
    extra = augment_slices(gen["model"], k, seed=vae[0].seed)
    with_dir = layout.fold_dir(out_dir / f"with-k{k}", fold)
    with_extra = run_experiment(
        "vanilla_cnn", store, split, with_dir, settings, fold=fold, train_store=windows, extra_train=extra
    )
    return {
        "fold": fold,
        "without_source": str(without_dir),
        "without": {lv: r["accuracy"] for lv, r in without["results"].items() if lv in LEVELS},
        "with": {lv: r["accuracy"] for lv, r in with_extra["results"].items() if lv in LEVELS},
        "n_test_songs": with_extra["metrics"]["protocol"]["n_test_songs"],
    }


def augmentation_kfold(run_dir, store, split, out_dir, k: int, listener: dict, vae_settings, vae_spec) -> dict:
    """The augmentation experiment on every fold of ``split`` (a ``kfold`` split); files under ``out_dir``
    (``vae_fold<i>``, ``without/fold_<i>``, ``with-k<k>/fold_<i>``). ``listener``: what
    :func:`gtzan_utils.generate.judge.judge_classifier` returned (the classifier's settings and training windows,
    used with and without generated slices); ``vae_settings``, ``vae_spec``: each fold's VAE
    (:func:`gtzan_utils.generate.vae.train_vae`).

    Returns :func:`summarize`'s dict plus ``k_per_genre``, ``folds`` (per fold: test accuracies without/with, where
    the model without came from) and ``protocol``.

    Notebook: 05_vae_generation
    """
    if len(split.folds) < 2 or split.leaky:
        raise GtzanError(
            f"augmentation is measured on a k-fold split by song (every song tested once), not on "
            f"{split.name!r}: run 02 with SPLITS including kfold"
        )
    out_dir = Path(out_dir)
    vae = (vae_settings, vae_spec)
    folds = [_fold(run_dir, store, split, out_dir, f, k, listener, vae) for f in range(len(split.folds))]
    proto = {
        "split": split.name,
        "folds": len(split.folds),
        "seed": vae_settings.seed,
        "n_test_songs": int(sum(f["n_test_songs"] for f in folds)),
        "note": "per fold: a VAE trained on that fold's training songs only; k generated slices per genre added "
        "to its training split only; same classifier settings with and without",
    }
    return {"k_per_genre": int(k), **summarize(folds), "folds": folds, "protocol": proto}


def table(result: dict):
    """The augmentation result as a small DataFrame: rows without / with / difference, columns per level
    ``mean ± std`` strings.

    Notebook: 05_vae_generation
    """
    import pandas as pd

    rows = {}
    for part in ("without", "with", "difference"):
        rows[part] = {
            lv: f"{v['mean']:+.1%} ± {v['std']:.1%}" if part == "difference" else f"{v['mean']:.1%} ± {v['std']:.1%}"
            for lv, v in result[part].items()
        }
    return pd.DataFrame(rows).T
