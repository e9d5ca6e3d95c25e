"""Augmentation with generated slices (the paper's future work), measured on k folds: every song tested once.

For each fold of a ``kfold`` split: the listener's vanilla CNN **without** extra slices (notebook 03's fold model
when its settings match, otherwise trained here), a VAE trained on **that fold's training songs only** (so the
generated slices never carry the fold's test songs), ``k`` generated slices per genre, and the same CNN **with**
them added to the training split. :func:`summarize` gives mean ± std over the folds of each and of the per-fold
difference. Shown in notebook 05_vae_generation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gtzan_utils.base import layout
from gtzan_utils.base.errors import GtzanError

LEVELS = ("slice", "song")


def _nb03_fold_dir(run_dir, store, split, fold: int, settings: dict):
    """Notebook 03's folder of this fold when it was trained with exactly ``settings`` (else None)."""
    from gtzan_utils.classify.experiment import same_settings

    row = layout.experiment_dir(
        layout.notebook_dir(run_dir, layout.VANILLA_CNN), "vanilla_cnn", store.params.kind, split.name
    )
    d = layout.fold_dir(row, fold)
    cfg_path = d / "config.json"
    if not (cfg_path.exists() and (d / "model.keras").exists()):
        return None
    cfg = json.loads(cfg_path.read_text())
    same = (
        cfg.get("store") == store.path.name
        and cfg.get("fold") == fold
        and cfg.get("split_members") == split.members_key(fold)
        and same_settings(cfg, settings)
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


def augmentation_kfold(
    run_dir, store, split, out_dir, *, k: int, settings: dict, vae_kw: dict, seed: int = 0, verbose: int = 0
) -> dict:
    """The augmentation experiment on every fold of ``split`` (a ``kfold`` split); files under ``out_dir``
    (``vae_fold<i>``, ``without/fold_<i>``, ``with-k<k>/fold_<i>``). ``settings``: the classifier's training
    settings (the listener's); ``vae_kw``: :func:`gtzan_utils.generate.vae.train_vae` settings.

    Returns :func:`summarize`'s dict plus ``k_per_genre``, ``folds`` (per fold: test accuracies without/with, where
    the model without came from) and ``protocol``.

    Notebook: 05_vae_generation
    """
    from gtzan_utils.classify.experiment import run_experiment
    from gtzan_utils.generate.judge import augment_slices
    from gtzan_utils.generate.vae import train_vae

    if len(split.folds) < 2 or split.leaky:
        raise GtzanError(
            f"augmentation is measured on a k-fold split by song (every song tested once), not on "
            f"{split.name!r}: run 02 with SPLITS including kfold"
        )
    out_dir = Path(out_dir)
    folds = []
    for f in range(len(split.folds)):
        given = _nb03_fold_dir(run_dir, store, split, f, settings)
        without = run_experiment(
            "vanilla_cnn", store, split, given or out_dir / "without" / f"fold_{f}", fold=f, verbose=verbose, **settings
        )
        gen = train_vae(store, split, out_dir / f"vae_fold{f}", fold=f, seed=seed, verbose=verbose, **vae_kw)
        extra = augment_slices(gen["model"], k, seed=seed)
        with_extra = run_experiment(
            "vanilla_cnn",
            store,
            split,
            out_dir / f"with-k{k}" / f"fold_{f}",
            fold=f,
            extra_train=extra,
            verbose=verbose,
            **settings,
        )
        folds.append(
            {
                "fold": f,
                "without_source": str(given or out_dir / "without" / f"fold_{f}"),
                "without": {lv: r["accuracy"] for lv, r in without["results"].items() if lv in LEVELS},
                "with": {lv: r["accuracy"] for lv, r in with_extra["results"].items() if lv in LEVELS},
                "n_test_songs": with_extra["metrics"]["protocol"]["n_test_songs"],
            }
        )
    proto = {
        "split": split.name,
        "folds": len(split.folds),
        "seed": seed,
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
