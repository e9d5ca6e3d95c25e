"""The paper's CNN learns from real music: the ``cpu`` profile's settings on ``../shared/gtzan_real`` (50 real GTZAN
excerpts, 5 per genre), two folds of the 5-fold split by song. Skipped where the folder is absent.

Before 0.4 this failed: early stopping on the validation loss of 10 songs stopped after a few epochs and restored
the first epoch's weights, and the saved CNN scored 0.12 (MFCC) / 0.24 (mel) on the same folds — chance is 0.10.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from conftest import SHARED  # noqa: E402

from gtzan_utils.base import parse
from gtzan_utils.classify import (
    evaluate,
    experiment,
    training,  # noqa: E402
)
from gtzan_utils.classify.settings import TrainSettings  # noqa: E402
from gtzan_utils.data import dataset
from gtzan_utils.features import extract, splits, store
from gtzan_utils.generate import judge
from gtzan_utils.run import runner

REAL = SHARED / "gtzan_real"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (REAL / "genres").is_dir(), reason="../shared/gtzan_real is absent"),
]


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The cpu profile's stores of the real set (slices and training windows of MFCC and mel) and its k-fold split."""
    root = tmp_path_factory.mktemp("real")
    p02 = runner.resolve_parameters("cpu", "02_preprocessing")
    tracks = dataset.load_dataset(REAL, min_seconds=p02["SLICE_SECONDS"], n_slices=p02["N_SLICES"], progress=False)
    base = extract.FeatureParams(slice_seconds=p02["SLICE_SECONDS"], n_slices=p02["N_SLICES"])
    kinds = [k for k in p02["WINDOW_KINDS"].split(",") if k]
    slices = store.featurize_all(tracks, kinds, root / "stores", base=base, n_jobs=2, progress=False)
    windows = store.featurize_all(
        tracks, kinds, root / "stores", base=extract.windows_of(base, p02["TRAIN_HOP_SECONDS"]), progress=False
    )
    split = splits.kfold_split(tracks, seed=p02["SEED"], k=p02["KFOLD_K"])
    return {"root": root, "slices": slices, "windows": windows, "split": split}


def cpu_settings(kind: str, shape) -> TrainSettings:
    """run_experiment's settings as notebook 03 derives them from the cpu profile."""
    p = runner.resolve_parameters("cpu", "03_vanilla_cnn")
    return TrainSettings(
        epochs=p["EPOCHS"],
        patience=p["PATIENCE"],
        batch_size=p["BATCH_SIZE"],
        seed=p["SEED"],
        min_epochs=p["MIN_EPOCHS"],
        monitor=p["MONITOR"],
        min_epoch_slices=p["MIN_EPOCH_SLICES"],
        max_train_slices=p["MAX_TRAIN_SLICES"] or None,
        input_size=training.capped_size(shape, parse.parse_size(p["INPUT_SIZE"])),
        verbose=0,
    )


def test_the_cpu_profile_cnn_learns_real_music_on_two_folds(real, tmp_path):
    s, w, split = real["slices"]["mfcc"], real["windows"]["mfcc"], real["split"]
    kw = cpu_settings("mfcc", s.params.shape)
    accs = []
    for fold in (0, 1):
        out = tmp_path / f"fold_{fold}"
        r = experiment.run_experiment("vanilla_cnn", s, split, out, kw, fold=fold, train_store=w)
        accs.append(r["results"]["song"]["accuracy"])
        sel = r["metrics"]["protocol"]["selection"]
        assert sel["kept_epoch"] >= kw.min_epochs - 1  # never an epoch before the rule allows
        assert r["metrics"]["protocol"]["n_test_songs"] == 10
    # measured 0.60 and 0.70 (0.4.0, 2 cores); the collapse this guards against scored 0.1-0.2
    assert np.mean(accs) >= 0.4, accs


def test_the_in_domain_listener_of_05_scores_real_validation_slices_above_chance(real, tmp_path):
    s, w, split = real["slices"]["mel"], real["windows"]["mel"], real["split"]
    run = tmp_path / "run"
    store.write_index(real["slices"], run / "02_preprocessing")
    store.write_index(real["windows"], run / "02_preprocessing", name=store.WINDOWS_INDEX)
    nb03 = run / "03_vanilla_cnn" / "vanilla_cnn-mel-kfold" / "fold_0"
    experiment.run_experiment("vanilla_cnn", s, split, nb03, cpu_settings("mel", s.params.shape), train_store=w)
    listener = judge.judge_classifier(run, s, split, tmp_path / "05", TrainSettings(epochs=1))
    assert listener["source"] == str(nb03)  # notebook 03's fold-0 model, replayed with its windows, not retrained
    assert listener["train_store"].path == w.path
    val = evaluate.validation_scores(listener["model"], s, split, 0)
    # measured 0.49 on the validation slices (0.4.0); 0.4.0's predecessor scored 0.09 (chance 0.10)
    assert val["slice"]["accuracy"] >= 0.25, val
