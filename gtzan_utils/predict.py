"""The genre of any audio file, with a classifier a run trained (``gtzan predict``, notebook 06).

Any file soundfile decodes, of any length, sample rate or channel count: it is read as mono at the model's
sample rate, cut into the model's slices (all of them, not only the first 30 s), featurized exactly as the
store was, and the slice probabilities are averaged (the song-level protocol of the evaluation). A model
folder written by :func:`gtzan_utils.training.run_experiment` holds ``features.json`` (the feature
parameters and genre labels) beside ``model.keras``; that is what makes a prediction match training.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .config import GENRES
from .errors import GtzanError
from .features import FeatureParams, compute_slices, slice_audio

FEATURES_FILE = "features.json"
MAX_SLICES = 120  # ten minutes of 5-s slices; a longer file is sampled evenly


def write_features(out_dir, params: FeatureParams, labels) -> Path:
    """``features.json`` beside a model: how its inputs were computed and what its outputs mean."""
    path = Path(out_dir) / FEATURES_FILE
    path.write_text(json.dumps({"params": params.to_dict(), "labels": list(labels)}, indent=1))
    return path


def load_classifier(path):
    """A trained classifier (``model.keras`` or its folder) → (model, FeatureParams, labels).

    Notebook: 06_results
    """
    import keras

    path = Path(path).expanduser()
    model_path = path / "model.keras" if path.is_dir() else path
    if not model_path.exists():
        raise GtzanError(
            f"model {model_path} not found: pass a model.keras written by notebook 03 or 04 "
            f"(RUN_DIR/03_vanilla_cnn/<model>-<input>-<split>/model.keras)"
        )
    feats = model_path.parent / FEATURES_FILE
    if not feats.exists():
        raise GtzanError(
            f"{feats} not found: the model's feature parameters are unknown. Use a model folder "
            f"written by notebook 03 or 04 (run_experiment writes features.json beside model.keras)"
        )
    meta = json.loads(feats.read_text())
    try:
        model = keras.models.load_model(model_path)
    except Exception as exc:  # a truncated or foreign file
        raise GtzanError(f"cannot load {model_path}: {str(exc).splitlines()[0][:200]}") from None
    return model, FeatureParams.from_dict(meta["params"]), meta.get("labels") or list(GENRES)


def file_features(path, params: FeatureParams) -> np.ndarray:
    """All slices of a file as model inputs (n, *shape); GtzanError for an unreadable, damaged (NaN/inf
    samples), all-silent or too-short file."""
    from .data import audio_problem, read_audio

    y, _ = read_audio(path, sr=params.sr)
    if len(y) == 0:
        raise GtzanError(f"{path} decodes to no audio samples: it is empty or not an audio file")
    problem = audio_problem(y)
    if problem:
        raise GtzanError(f"{path}: {problem}, there is nothing to classify")
    whole = dataclasses.replace(params, n_slices=max(1, len(y) // params.slice_samples + 1))
    slices = slice_audio(y, whole)
    if len(slices) == 0:
        need = params.slice_seconds - params.pad_seconds
        raise GtzanError(f"{path} is too short: {len(y) / params.sr:.2f} s, the model needs at least {need:g} s")
    if len(slices) > MAX_SLICES:
        slices = slices[np.linspace(0, len(slices) - 1, MAX_SLICES).round().astype(int)]
    return compute_slices(slices, params)


def predict_file(model, params: FeatureParams, labels, path) -> dict:
    """``{"file", "n_slices", "probabilities" (genre → p, mean over slices), "genre"}`` for one file."""
    x = file_features(path, params)
    probs = np.asarray(model.predict(x, verbose=0), np.float64).mean(axis=0)
    return {
        "file": str(path),
        "n_slices": int(len(x)),
        "genre": labels[int(probs.argmax())],
        "probabilities": {g: float(p) for g, p in zip(labels, probs)},
    }


def predict_files(model, params, labels, paths) -> tuple[list[dict], list[dict]]:
    """Predict every file: returns (results, failures), one dict per file; a file that fails goes to the second list
    and the others still run.

    Notebook: 06_results
    """
    done, failed = [], []
    for p in paths:
        try:
            done.append(predict_file(model, params, labels, p))
        except GtzanError as exc:
            failed.append({"file": str(p), "error": str(exc)})
    return done, failed


def top_k(result: dict, k: int = 3) -> pd.DataFrame:
    """The ``k`` most likely genres of one prediction."""
    s = pd.Series(result["probabilities"]).sort_values(ascending=False).head(k)
    return pd.DataFrame({"genre": s.index, "probability": s.to_numpy()})


def probability_table(results: list[dict]) -> pd.DataFrame:
    """A DataFrame, one row per file: its top genre, the number of slices and every genre's probability.

    Notebook: 06_results
    """
    rows = [
        {"file": Path(r["file"]).name, "genre": r["genre"], "slices": r["n_slices"], **r["probabilities"]}
        for r in results
    ]
    return pd.DataFrame(rows)
