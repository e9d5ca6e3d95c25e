"""The genre of any audio file, with a classifier a run trained (``gtzan predict``, notebook 06).

Any file soundfile decodes, of any length, sample rate or channel count: it is read as mono at the model's
sample rate, cut into the model's slices (all of them, not only the first 30 s), featurized exactly as the
store was, and the slice probabilities are averaged (the song-level protocol of the evaluation). A model
folder written by :func:`gtzan_utils.classify.experiment.run_experiment` holds ``features.json`` (the feature
parameters and genre labels) beside ``model.keras``; that is what makes a prediction match training. It also
says what the model was trained on (``trained_on``: synthetic set, GTZAN or another folder, how many songs, which
profile), so that a model of the synthetic quick run given real music says, in one line, that its genres mean
nothing there. A ``.keras`` file that is not a whole classifier of audio features (the VAE, a checkpoint of
part of a model) is refused in one line naming the file to use.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from gtzan_utils.base.constants import GENRES
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.features.extract import FeatureParams, compute_slices, slice_audio

FEATURES_FILE = "features.json"
MAX_SLICES = 120  # ten minutes of 5-s slices; a longer file is sampled evenly
#: below this top probability a prediction line says "low confidence"
LOW_CONFIDENCE = 0.5


def trained_on(store, split, fold: int = 0) -> dict:
    """What a classifier of ``store`` and ``split`` fold learnt from: ``{"source"`` (synthetic, gtzan, folder),
    ``"n_songs"`` (training songs), ``"n_dataset_songs"``, ``"profile"`` (of ``gtzan run``, else None)``}``."""
    import os

    from gtzan_utils.data.dataset import dataset_source

    tracks = store.manifest.drop_duplicates("track_id")
    train = split.rows(store.manifest, "train", fold)
    return {
        "source": dataset_source(tracks.path),
        "n_songs": int(store.manifest.track_id.iloc[train].nunique()),
        "n_dataset_songs": int(len(tracks)),
        "profile": os.environ.get("GTZAN_PROFILE") or None,
    }


def write_features(out_dir, params: FeatureParams, labels, trained: dict | None = None) -> Path:
    """``features.json`` beside a model: how its inputs were computed, what its outputs mean and, with ``trained``
    (:func:`trained_on`), what it learnt from."""
    path = Path(out_dir) / FEATURES_FILE
    doc = {"params": params.to_dict(), "labels": list(labels)}
    if trained is not None:
        doc["trained_on"] = trained
    path.write_text(json.dumps(doc, indent=1))
    return path


def trained_on_of(model_path) -> dict | None:
    """The ``trained_on`` record in the ``features.json`` beside a model (None for models of older runs).

    Notebook: 06_results
    """
    path = Path(model_path).expanduser()
    feats = (path if path.is_dir() else path.parent) / FEATURES_FILE
    return json.loads(feats.read_text()).get("trained_on") if feats.exists() else None


def domain_note(trained: dict | None, files) -> str | None:
    """One line when a model trained on the synthetic set is given other audio (its genres then mean nothing),
    naming which model to use instead; None otherwise.

    Notebook: 06_results
    """
    from gtzan_utils.data.dataset import dataset_source

    if not trained or trained.get("source") != "synthetic" or not files:
        return None
    if dataset_source(files) == "synthetic":
        return None
    profile = f", {trained['profile']} profile" if trained.get("profile") else ""
    return (
        f"note: this model learnt from the embedded synthetic set ({trained.get('n_songs')} songs{profile}): its "
        f"genres mean nothing for real music. For real songs use a model of a run on real music, e.g. "
        f"RUN/04_transfer_learning/msd_musicnn-musicnn-song of `gtzan run --profile cpu --data DIR`"
    )


def _not_a_classifier(model_path: Path) -> str | None:
    """Why ``model_path`` is not a classifier ``gtzan predict`` can use (before loading it), or None."""
    folder = model_path.parent
    if model_path.name == "vae.keras" or (folder / "vae_config.json").exists():
        return (
            f"{model_path} is the VAE of notebook 05 (it generates audio: `gtzan generate --model {model_path}`); "
            f"to predict genres pass a model.keras of notebook 03 or 04"
        )
    if model_path.name != "model.keras" and (folder / "model.keras").exists():
        return f"{model_path} is a training checkpoint, not the finished classifier: use {folder / 'model.keras'}"
    return None


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
    reason = _not_a_classifier(model_path)
    if reason:
        raise GtzanError(reason)
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
    params = FeatureParams.from_dict(meta["params"])
    expected = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if expected != tuple(params.shape):
        raise GtzanError(
            f"{model_path} takes inputs of shape {expected}, not the {params.kind} features {tuple(params.shape)} "
            f"of its folder: it is part of a model (e.g. a head on embeddings), not a classifier of audio. Pass the "
            f"model.keras that notebook 03 or 04 wrote"
        )
    return model, params, meta.get("labels") or list(GENRES)


def file_features(path, params: FeatureParams) -> np.ndarray:
    """All slices of a file as model inputs (n, *shape); GtzanError for an unreadable, damaged (NaN/inf
    samples), all-silent or too-short file."""
    from gtzan_utils.data.dataset import audio_problem, read_audio

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


def describe(result: dict, k: int = 3) -> str:
    """One line of a prediction: the file, its slices, the top ``k`` genres with their probabilities, and "low
    confidence" when the top one is below :data:`LOW_CONFIDENCE`."""
    t = top_k(result, k)
    guesses = ", ".join(f"{g} {p:.0%}" for g, p in zip(t.genre, t.probability))
    low = " (low confidence)" if t.probability.iloc[0] < LOW_CONFIDENCE else ""
    return f"{Path(result['file']).name} ({result['n_slices']} slices): {guesses}{low}"


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
