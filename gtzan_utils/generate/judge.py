"""Judging generated audio by more than ear: what a trained genre classifier hears in it.

Every *set* of slices (generated, a baseline, real) is brought to the classifier's input (the ``mel`` store's
128-bin log-mel) and scored against the real **test** slices of the same split:

* **accuracy** — the share of the set's slices that the classifier assigns to the intended genre;
* **Fréchet distance** between the classifier's penultimate-layer embeddings (the vanilla CNN's 64-unit
  ``dense`` layer) of the set and of the real test slices, per genre and over all genres — the FID recipe
  (Heusel et al. 2017) with a genre classifier in place of Inception, as FAD does with VGGish. With few
  slices per genre the estimate is biased upwards; compare sets of equal size only.

================================  ======================================================================
set                               what
================================  ======================================================================
``real, validation songs``        the floor: real slices of other unseen songs (not used for training)
``VAE, spectrogram``              decoder output (log-mel dB) fed to the classifier as it is
``VAE, audio``                    decoder → Griffin-Lim → audio → log-mel again: what a listener hears
``genre mean, audio``             baseline: Griffin-Lim of each genre's mean training spectrogram
``real → mel → audio``            the ceiling the inversion allows: the validation slices → Griffin-Lim
================================  ======================================================================

:func:`reconstruction_db` measures the VAE on real test slices (encode → decode, mean absolute error in dB).
:func:`judge_generated` builds and scores every set, with the in-domain listener and, when musicnn is installed,
the pretrained one (FAD on musicnn embeddings, the accuracy of a logistic regression on them).
:func:`judge_classifier` finds the classifier notebook 03 trained (or trains one) and :func:`augment_slices`
draws the generated training slices of the augmentation experiment (:mod:`gtzan_utils.generate.augment`). Shown in
notebook 05_vae_generation.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from gtzan_utils.base import layout
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.features.extract import compute_slices
from gtzan_utils.generate.audio import INVERSE, Render, mel_db_to_audio

EMBEDDING_LAYER = "dense"


def embedding_model(classifier, layer: str = EMBEDDING_LAYER):
    """A model with the classifier's inputs and two outputs: genre probabilities and ``layer``'s activations.

    Notebook: 05_vae_generation
    """
    try:
        emb = classifier.get_layer(layer).output
    except ValueError:
        raise GtzanError(
            f"classifier {classifier.name} has no layer {layer!r} to embed with: use the vanilla CNN "
            f"of notebook 03 (its penultimate layer is 'dense')"
        ) from None
    return keras.Model(classifier.inputs, [classifier.outputs[0], emb], name=f"{classifier.name}_embed")


def classify(embedder, x, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, embeddings) of slices ``x`` as numpy arrays."""
    x = np.asarray(x, np.float32)
    if len(x) == 0:
        n_classes, dim = embedder.outputs[0].shape[-1], embedder.outputs[1].shape[-1]
        return np.zeros((0, n_classes), np.float32), np.zeros((0, dim), np.float32)
    probs, emb = embedder.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(probs), np.asarray(emb).reshape(len(x), -1)


def frechet_distance(a, b) -> float:
    """Fréchet distance between Gaussians fitted to two sets of embeddings (rows are samples):
    ``|μa − μb|² + tr(Σa + Σb − 2 (Σa Σb)^½)``. One sample has covariance 0."""
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    if a.shape[1] != b.shape[1]:
        raise GtzanError(f"embeddings of different sizes: {a.shape[1]} and {b.shape[1]}")

    def cov(x):
        return np.atleast_2d(np.cov(x, rowvar=False)) if len(x) > 1 else np.zeros((x.shape[1], x.shape[1]))

    ca, cb = cov(a), cov(b)
    with warnings.catch_warnings():  # fewer samples than dimensions: singular covariances are expected
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(ca @ cb)
        if not np.all(np.isfinite(covmean)):  # a near-singular product: offset the diagonals (as pytorch-fid does)
            off = np.eye(len(ca)) * 1e-6
            covmean = linalg.sqrtm((ca + off) @ (cb + off))
    covmean = np.real(covmean)
    d = a.mean(0) - b.mean(0)
    return float(max(d @ d + np.trace(ca) + np.trace(cb) - 2 * np.trace(covmean), 0.0))


def audio_to_features(audio, params) -> np.ndarray:
    """Audio slices (n, samples) → features of ``params`` (n, *shape); each slice is padded or cut to the
    store's slice length first (Griffin-Lim returns ``(frames − 1) · hop`` samples, a few ms short)."""
    audio = np.atleast_2d(np.asarray(audio, np.float32))
    n = params.slice_samples
    audio = np.pad(audio[:, :n], ((0, 0), (0, max(0, n - audio.shape[1]))))
    return compute_slices(audio, params)


RESYNTH_CHUNK = 16  # slices inverted at once: Griffin-Lim holds ~6.5 MB of complex STFT per 5-s slice


def resynthesize_audio(
    mels_db, params, n_iter: int = 32, seed: int = 0, inverse: str = INVERSE, chunk: int = RESYNTH_CHUNK
):
    """Log-mel slices → Griffin-Lim audio, ``chunk`` slices at a time: yields (first index, audio (k, samples))
    so that memory stays bounded by the chunk, not the set (200 slices at once took ~1.3 GB)."""
    mels_db = np.asarray(mels_db, np.float32)
    if chunk < 1:
        raise GtzanError(f"chunk must be at least 1 slice, got {chunk}")
    for a in range(0, len(mels_db), chunk):
        yield (
            a,
            mel_db_to_audio(
                mels_db[a : a + chunk],
                sr=params.sr,
                n_fft=params.n_fft,
                hop_length=params.hop_length,
                n_iter=n_iter,
                random_state=seed + a,
                inverse=inverse,
            ),
        )


def resynthesize(
    mels_db, params, n_iter: int = 32, seed: int = 0, inverse: str = INVERSE, chunk: int = RESYNTH_CHUNK, embed=None
):
    """Log-mel slices → Griffin-Lim audio → log-mel slices again (what the classifier hears of the audio),
    inverted ``chunk`` slices at a time (:func:`resynthesize_audio`).

    Returns the features (n, *shape); with ``embed`` (audio (k, samples) → embeddings (k, d), e.g.
    :func:`musicnn_embed`), ``(features, embeddings)``: the audio is embedded chunk by chunk, never held whole.
    """
    mels_db = np.asarray(mels_db, np.float32)
    out = np.empty((len(mels_db), *params.shape), np.float32)
    embs = []
    for a, audio in resynthesize_audio(mels_db, params, n_iter, seed, inverse, chunk):
        out[a : a + len(audio)] = audio_to_features(audio, params)
        if embed is not None:
            embs.append(np.asarray(embed(audio), np.float32))
    if embed is None:
        return out
    return out, (np.concatenate(embs) if embs else np.zeros((0, 0), np.float32))


# -- the pretrained listener (musicnn) -----------------------------------------------------------------------
PRETRAINED_CHECKPOINT = "MSD_musicnn"


def musicnn_embed(audio, sr: int, checkpoint: str = PRETRAINED_CHECKPOINT) -> np.ndarray:
    """Audio slices (n, samples) → musicnn embeddings (n, d) from :func:`gtzan_utils.classify.pretrained.embed_audio`.
    GtzanError saying what to install when the musicnn backbone is not available."""
    try:
        from gtzan_utils.classify.pretrained import embed_audio
    except ImportError as exc:
        raise GtzanError(
            f"musicnn backbone not installed ({exc}): `pip install --no-deps musicnn==0.1.0` and a "
            f"gtzan_utils with the pretrained module; the pretrained judge is skipped"
        ) from None
    audio = np.atleast_2d(np.asarray(audio, np.float32))
    if len(audio) == 0:
        return np.zeros((0, 0), np.float32)
    return np.asarray(embed_audio(audio, sr, checkpoint=checkpoint), np.float32).reshape(len(audio), -1)


def store_audio(store, rows) -> np.ndarray:
    """The audio of manifest ``rows`` (n, slice samples), re-read from the songs' files and sliced as the store
    was (each file read once)."""
    from gtzan_utils.data.dataset import read_audio
    from gtzan_utils.features.extract import slice_audio

    rows = np.asarray(rows)
    m = store.manifest
    out = np.zeros((len(rows), store.params.slice_samples), np.float32)
    for path, where in pd.Series(np.arange(len(rows)), index=m.path.iloc[rows].to_numpy()).groupby(level=0):
        sliced = slice_audio(read_audio(path, sr=store.params.sr)[0], store.params)
        idx = m.slice_index.iloc[rows[where.to_numpy()]].to_numpy()
        out[where.to_numpy()] = sliced[idx]
    return out


def embed_store_rows(store, rows, embed, chunk: int = 64) -> np.ndarray:
    """Embeddings of the audio of manifest ``rows`` (``embed``: audio → embeddings), ``chunk`` slices at a time."""
    rows = np.asarray(rows)
    parts = [np.asarray(embed(store_audio(store, rows[a : a + chunk])), np.float32) for a in range(0, len(rows), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def fit_embedding_classifier(emb, y):
    """Standardised logistic regression on embeddings of real training slices: the pretrained listener's genre
    classifier (scikit-learn pipeline)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0)).fit(np.asarray(emb), np.asarray(y))


def genre_means(store, rows, chunk: int = 256) -> np.ndarray:
    """Each genre's mean slice (in dB) over manifest ``rows``: (n_genres, *shape), NaN for an absent genre."""
    rows = np.sort(np.asarray(rows))
    k = len(store.labels)
    s = np.zeros((k, *store.params.shape))
    n = np.zeros(k)
    for a in range(0, len(rows), chunk):
        part = rows[a : a + chunk]
        x, y = store.read(part), store.y[part]
        np.add.at(s, y, x)
        n += np.bincount(y, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (s / n.reshape(-1, *([1] * len(store.params.shape)))).astype(np.float32)


def nearest_db(x, store, rows, chunk: int = 256) -> np.ndarray:
    """For each log-mel slice of ``x`` (n, n_mels, frames), the RMS distance in dB to the nearest of the store's
    ``rows`` (read ``chunk`` at a time, so the reference never has to fit in memory)."""
    x = np.asarray(x, np.float32).reshape(len(x), -1)
    best = np.full(len(x), np.inf)
    sq = (x.astype(np.float64) ** 2).sum(axis=1)
    rows = np.sort(np.asarray(rows))
    for a in range(0, len(rows), chunk):
        r = store.read(rows[a : a + chunk]).reshape(-1, x.shape[1]).astype(np.float64)
        d2 = sq[:, None] + (r**2).sum(axis=1)[None, :] - 2 * x.astype(np.float64) @ r.T
        best = np.minimum(best, d2.min(axis=1))
    return np.sqrt(np.maximum(best, 0) / x.shape[1])


def nearest_embedding(emb, reference) -> np.ndarray:
    """For each embedding of ``emb``, the Euclidean distance to the nearest one of ``reference``."""
    emb, reference = np.asarray(emb, np.float64), np.asarray(reference, np.float64)
    d2 = (emb**2).sum(1)[:, None] + (reference**2).sum(1)[None, :] - 2 * emb @ reference.T
    return np.sqrt(np.maximum(d2.min(axis=1), 0))


def judge_sets(
    embedder, sets: dict, reference, labels, pretrained: dict | None = None, nearest: dict | None = None
) -> pd.DataFrame:
    """One row per (set, genre) and one per set over all genres: n, accuracy, Fréchet distance to the reference.

    ``sets``: name → (slices, genre indices); ``reference``: (real test slices, genre indices).
    ``pretrained`` (the musicnn listener, optional): ``{"reference": embeddings of the real test audio,
    "sets": {name: embeddings of that set's audio}, "classifier": fitted genre classifier on embeddings}`` adds
    ``fad`` (Fréchet Audio Distance on musicnn embeddings) and ``musicnn_accuracy``; NaN for a set without audio.
    ``nearest`` (optional): ``{"store", "rows"}``, the training slices (or windows) a generator learnt from, and
    with the musicnn listener ``"embeddings"`` of the training slices: adds the median distance of a set's slices
    to their nearest training slice, in dB (``nearest_train_db``) and in musicnn space
    (``nearest_train_musicnn``). A generator that replays its training slices scores far below real held-out
    slices there.
    """
    _, ref_emb = classify(embedder, reference[0])
    ref_y = np.asarray(reference[1])
    pre = pretrained or {}
    rows = []
    for name, (x, y) in sets.items():
        y = np.asarray(y)
        probs, emb = classify(embedder, x)
        hit = probs.argmax(axis=1) == y
        p_emb = pre.get("sets", {}).get(name)
        p_hit = pre["classifier"].predict(p_emb) == y if p_emb is not None and len(p_emb) else None
        near_db = nearest_db(x, nearest["store"], nearest["rows"]) if nearest else None
        near_mu = (
            nearest_embedding(p_emb, nearest["embeddings"])
            if nearest and nearest.get("embeddings") is not None and p_emb is not None
            else None
        )
        groups = [("all", np.ones(len(y), bool), np.ones(len(ref_y), bool))]
        groups += [(labels[g], y == g, ref_y == g) for g in np.unique(y)]
        for genre, mine, ref_mine in groups:
            row = {
                "set": name,
                "genre": genre,
                "n": int(mine.sum()),
                "accuracy": float(hit[mine].mean()) if mine.any() else np.nan,
                "frechet": frechet_distance(emb[mine], ref_emb[ref_mine]),
            }
            if pre:
                row["fad"] = frechet_distance(p_emb[mine], pre["reference"][ref_mine]) if p_hit is not None else np.nan
                row["musicnn_accuracy"] = float(p_hit[mine].mean()) if p_hit is not None and mine.any() else np.nan
            if nearest:
                row["nearest_train_db"] = float(np.median(near_db[mine])) if mine.any() else np.nan
                if nearest.get("embeddings") is not None:
                    row["nearest_train_musicnn"] = (
                        float(np.median(near_mu[mine])) if near_mu is not None and mine.any() else np.nan
                    )
            rows.append(row)
    return pd.DataFrame(rows)


def summary_table(judged: pd.DataFrame) -> pd.DataFrame:
    """A DataFrame with the sets as rows; overall accuracy, overall Fréchet distance and the mean of the per-genre
    distances (and the same for the musicnn listener when it judged: ``musicnn accuracy``, ``FAD, all``,
    ``FAD, genre mean``).

    Notebook: 05_vae_generation
    """
    cols = ["n", "accuracy", "frechet"] + [
        c for c in ("musicnn_accuracy", "fad", "nearest_train_db", "nearest_train_musicnn") if c in judged
    ]
    overall = judged[judged.genre == "all"].set_index("set")[cols]
    per_genre = judged[judged.genre != "all"].groupby("set", sort=False)
    out = overall.join(per_genre.frechet.mean().rename("frechet, genre mean"))
    if "fad" in judged:
        out = out.join(per_genre.fad.mean().rename("FAD, genre mean"))
    return out.rename(
        columns={
            "frechet": "frechet, all",
            "fad": "FAD, all",
            "musicnn_accuracy": "musicnn accuracy",
            "nearest_train_db": "nearest training slice, dB",
            "nearest_train_musicnn": "nearest training slice, musicnn",
        }
    )


def reconstruction_db(vae, x, genres, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Encode → decode real slices through ``z_mean``: (reconstructions in dB, mean absolute error per slice, dB).

    Notebook: 05_vae_generation
    """
    x = np.asarray(x, np.float32)
    recon = [
        np.asarray(keras.ops.convert_to_numpy(vae((x[a : a + batch_size], np.asarray(genres)[a : a + batch_size]))))
        for a in range(0, len(x), batch_size)
    ]
    recon = np.concatenate(recon) if recon else np.zeros_like(x)
    return recon, np.abs(recon - x).reshape(len(x), -1).mean(axis=1)


def pick_per_genre(store, rows, n: int, seed: int = 0) -> np.ndarray:
    """At most ``n`` random manifest rows of each genre among ``rows`` (seeded), sorted.

    Notebook: 05_vae_generation
    """
    rows = np.asarray(rows)
    rng = np.random.default_rng(seed)
    y = store.y[rows]
    picked = [rng.permutation(rows[y == g])[:n] for g in np.unique(y)]
    return np.sort(np.concatenate(picked)) if picked else rows[:0]


def sample_per_genre(vae, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` VAE slices of every genre (log-mel dB) and their genre indices; genre g uses seed ``seed + g``."""
    xs = [vae.sample(g, n, seed=seed + g) for g in range(vae.n_genres)]
    return np.concatenate(xs), np.repeat(np.arange(vae.n_genres), n)


def augment_slices(vae, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The augmentation experiment's extra training slices: ``k`` generated slices per genre, drawn with a
    seed apart from the judging samples."""
    return sample_per_genre(vae, k, seed=seed + 10_000)


def _nb03_runs(run_dir, kind: str):
    """Notebook 03's vanilla-CNN folders of ``kind`` in a run (fold 0 of a k-fold run), with their configs."""
    root = layout.notebook_dir(run_dir, layout.VANILLA_CNN)
    out = []
    for d in sorted(root.glob(layout.experiment_dir("", "vanilla_cnn", kind, "*").name)):
        for cand in (d, layout.fold_dir(d, 0)):
            if (cand / "config.json").exists() and (cand / "model.keras").exists():
                out.append((cand, json.loads((cand / "config.json").read_text())))
    return out


def _window_store(cfg: dict, windows: dict):
    """The training-window store a run's ``config.json`` names (None when it trained on the slices); GtzanError
    naming it when notebook 02's index no longer lists it."""
    name = cfg.get("train_store")
    if not name:
        return None
    found = [w for w in windows.values() if w.path.name == name]
    if not found:
        raise GtzanError(
            f"the training-window store {name} of this run is not in 02_preprocessing/windows.json: run "
            f"notebook 02 again with the same parameters"
        )
    return found[0]


def judge_classifier(run_dir, store, split, out_dir, fallback) -> dict:
    """The vanilla CNN that judges generated audio: notebook 03's model on this store and split (fold 0 of a
    k-fold split) when the run folder has one (loaded, not retrained: its configuration matches), otherwise one
    trained now into ``out_dir/classifier`` with notebook 03's recipe from another split of the run (its training
    settings and training windows), or, where 03 did not run, with the ``fallback`` :class:`TrainSettings`.

    Returns :func:`gtzan_utils.classify.experiment.run_experiment`'s dict plus ``settings`` and ``train_store`` (how
    it trained, so that the augmentation run can train exactly the same way), ``source`` (where the model came
    from) and ``trained_here`` (whether notebook 05 trained it, and why, in one line; None when 03's was used).

    Notebook: 05_vae_generation
    """
    from gtzan_utils.classify.experiment import run_experiment
    from gtzan_utils.classify.settings import TrainSettings
    from gtzan_utils.features.store import open_windows

    windows = open_windows(layout.prep_dir(run_dir))
    runs = _nb03_runs(run_dir, store.params.kind)
    for d, cfg in runs:
        same_songs = cfg.get("split") == split.name and cfg.get("split_members") == split.members_key(0)
        if cfg.get("store") == store.path.name and cfg.get("fold") == 0 and same_songs:
            settings, train_store = TrainSettings.from_config(cfg), _window_store(cfg, windows)
            run = run_experiment("vanilla_cnn", store, split, d, settings, train_store=train_store)
            return {**run, "settings": settings, "train_store": train_store, "source": str(d), "trained_here": None}
    out = Path(out_dir) / "classifier"
    same_store = [(d, cfg) for d, cfg in runs if cfg.get("store") == store.path.name and cfg.get("split") != "paper"]
    if same_store:
        d, cfg = same_store[0]
        settings, train_store = TrainSettings.from_config(cfg), _window_store(cfg, windows)
        how = f"notebook 03's recipe of {d.relative_to(Path(run_dir))}"
    else:
        settings, train_store = fallback, None
        how = f"CLASSIFIER_EPOCHS={fallback.epochs}"
    why = f"notebook 03 left no vanilla CNN on {store.params.kind} for the {split.name} split"
    run = run_experiment("vanilla_cnn", store, split, out, settings, train_store=train_store)
    return {
        **run,
        "settings": settings,
        "train_store": train_store,
        "source": f"{out} (trained in notebook 05 with {how}: 03 had none for this split)",
        "trained_here": f"{why}: this notebook trained its own listener with {how} ({out})",
    }


def vae_protocol(split, store, test_rows, listener: dict, settings: JudgeSettings) -> dict:
    """How the judging figures were made, as a dict: split, reference set, slices per genre, mel inversion, listener.

    Notebook: 05_vae_generation
    """
    return {
        "split": split.name,
        "leaky": split.leaky,
        "seed": settings.seed,
        "reference": "real test slices of the split",
        "n_test_songs": int(store.manifest.track_id.iloc[test_rows].nunique()),
        "n_test_slices": int(len(test_rows)),
        "n_per_genre": settings.n_per_genre,
        "inverse": settings.render.inverse,
        "griffin_lim_iterations": settings.render.n_iter,
        "embedding": f"{EMBEDDING_LAYER} layer of the listener",
        "listener": listener["source"],
        "listener_test_accuracy": {k: v["accuracy"] for k, v in listener["metrics"]["results"].items()},
    }


def write_vae_metrics(
    path,
    *,
    vae_config: dict,
    history: pd.DataFrame,
    judged: pd.DataFrame,
    reconstruction: dict,
    protocol: dict,
    augmentation: dict | None = None,
) -> dict:
    """``vae_metrics.json`` of notebook 05: the VAE's configuration and last epoch, the judging table (every set,
    overall and per genre), the reconstruction error, the augmentation result, each with its protocol.
    Returns the document.

    Notebook: 05_vae_generation
    """
    from gtzan_utils.classify.evaluate import write_doc

    last = history.iloc[-1].to_dict() if len(history) else {}
    doc = {
        "vae": {
            "config": vae_config,
            "epochs_run": int(len(history)),
            "last_epoch": {k: float(v) for k, v in last.items()},
        },
        "judging": {
            "protocol": protocol,
            "summary": summary_table(judged).reset_index().to_dict("records"),
            "per_genre": judged.to_dict("records"),
        },
        "reconstruction": reconstruction,
        "augmentation": augmentation,
    }
    return write_doc(path, doc)


SETS = ("real, validation songs", "VAE, spectrogram", "VAE, audio", "genre mean, audio", "real → mel → audio")


def verdict(summary: pd.DataFrame) -> list[str]:
    """The judging summary (:func:`summary_table`) in words, one sentence per listener and one on copying: how often
    each listener places the VAE's audio in its genre against its baseline (the genre mean) and its ceiling (real
    slices through the same inversion), whether its FAD is below the baseline's, and how near the samples lie to
    their nearest training slice compared with real held-out slices.

    Notebook: 05_vae_generation
    """
    rows = summary.to_dict("index")
    vae, mean, ceiling, real = (rows.get(SETS[i], {}) for i in (2, 3, 4, 0))
    out = []
    for name, col in (("the in-domain CNN", "accuracy"), ("musicnn", "musicnn accuracy")):
        if pd.isna(vae.get(col, np.nan)):
            continue
        a, b, c = vae[col], mean.get(col, np.nan), ceiling.get(col, np.nan)
        out.append(
            f"{name} places the VAE's audio in its genre in {a:.0%} of the slices: {100 * (a - b):+.0f} points "
            f"against the genre-mean baseline ({b:.0%}), {100 * (a - c):+.0f} against real slices through the same "
            f"inversion ({c:.0%})."
        )
    if not pd.isna(vae.get("FAD, all", np.nan)):
        fa, fb = vae["FAD, all"], mean["FAD, all"]
        closer = "nearer to" if fa < fb else "no nearer to"
        out.append(f"musicnn's FAD: {fa:.0f} for the VAE, {fb:.0f} for the genre mean: the VAE is {closer} real music.")
    key = "nearest training slice, musicnn"
    if not pd.isna(vae.get(key, np.nan)) and not pd.isna(ceiling.get(key, np.nan)):
        v, r = vae[key], ceiling[key]
        copies = "no nearer to" if v >= r else "NEARER to"
        out.append(
            f"median distance to the nearest training slice in musicnn space: {v:.1f} for the VAE's audio, {r:.1f} "
            f"for real held-out slices through the same inversion ({real.get(key, np.nan):.1f} without it): the "
            f"samples lie {copies} their training slices than unseen songs do"
            + (" (they do not replay them)." if v >= r else ": they may replay training audio.")
        )
    return out


def pretrained_embedder(checkpoint: str, sr: int):
    """(audio → embeddings function, status line): the musicnn embedder of ``checkpoint``, or (None, why not)
    when ``checkpoint`` is empty or the backbone is not installed."""
    if not checkpoint:
        return None, "pretrained listener off (PRETRAINED is empty)"
    try:
        musicnn_embed(np.zeros((1, sr), np.float32), sr, checkpoint)  # loads the backbone once, fails early
    except GtzanError as exc:
        return None, str(exc)
    return (
        lambda audio: musicnn_embed(audio, sr, checkpoint)
    ), f"{checkpoint} embeddings (gtzan_utils.classify.pretrained)"


def cached_real_embeddings(stores: dict, store, checkpoint: str = PRETRAINED_CHECKPOINT):
    """The run's ``musicnn`` store seen through ``checkpoint``'s cached embeddings
    (:class:`gtzan_utils.classify.pretrained.EmbeddedStore`; computed now if notebook 04 did not), when that store holds
    the same slices as ``store`` row for row (same songs, same slice indices); else None, and the judge embeds
    the real slices' audio itself. ``stores``: the run's stores by kind (``store.open_index``).

    Notebook: 05_vae_generation
    """
    music = stores.get("musicnn")
    if not checkpoint or music is None:
        return None
    cols = ["track_id", "slice_index"]
    if not music.manifest[cols].reset_index(drop=True).equals(store.manifest[cols].reset_index(drop=True)):
        return None
    from gtzan_utils.classify.pretrained import EmbeddedStore

    try:
        return EmbeddedStore(music, checkpoint, progress=False)
    except (GtzanError, ImportError):
        return None


@dataclass(frozen=True)
class JudgeSettings:
    """How generated audio is judged: ``n_per_genre`` slices per genre in every set; ``seed``; the pretrained
    listener's checkpoint (``pretrained``; "" skips it) and, without cached embeddings, ``n_pretrained_train`` real
    training slices per genre for its classifier; ``render``: the mel inversion (no filters).

    Notebook: 05_vae_generation
    """

    n_per_genre: int = 20
    seed: int = 0
    pretrained: str = PRETRAINED_CHECKPOINT
    n_pretrained_train: int = 20
    render: Render = field(default_factory=Render)


def _judging_sets(vae, store, split, settings: JudgeSettings, embed):
    """The five sets of :data:`SETS` (features, labels) with the musicnn embeddings of those heard as audio, and
    the validation rows picked for the real set."""
    m, params, seed = store.manifest, store.params, settings.seed
    val_pick = pick_per_genre(store, split.rows(m, "val"), settings.n_per_genre, seed=seed)
    x_val, y_val = store.read(val_pick), store.y[val_pick]
    gen_x, gen_y = sample_per_genre(vae, settings.n_per_genre, seed=seed)
    means = genre_means(store, split.rows(m, "train"))
    present = np.repeat(np.flatnonzero(np.isfinite(means).all(axis=(1, 2))), settings.n_per_genre)
    r = settings.render

    def heard(mels):
        out = resynthesize(mels, params, n_iter=r.n_iter, seed=seed, inverse=r.inverse, embed=embed)
        return out if embed is not None else (out, None)

    (vae_audio, vae_emb), (mean_audio, mean_emb), (real_audio, real_emb) = map(heard, (gen_x, means[present], x_val))
    sets = {
        SETS[0]: (x_val, y_val),
        SETS[1]: (gen_x, gen_y),
        SETS[2]: (vae_audio, gen_y),
        SETS[3]: (mean_audio, present),
        SETS[4]: (real_audio, y_val),
    }
    return sets, {SETS[2]: vae_emb, SETS[3]: mean_emb, SETS[4]: real_emb}, val_pick


def _pretrained_listener(store, split, settings: JudgeSettings, embed, real_embeddings, heard: dict, val_pick):
    """musicnn's side of the judging: the reference (real test slices), a classifier fitted on real training slices'
    embeddings, every set's embeddings; and the training embeddings used for the nearest-slice distances."""
    m = store.manifest
    train_rows = split.rows(m, "train")
    if real_embeddings is not None:  # every training slice, embedded once with the run's musicnn store
        train_pick = train_rows

        def real(rows):
            return real_embeddings.read(rows)
    else:
        train_pick = pick_per_genre(store, train_rows, settings.n_pretrained_train, seed=settings.seed)

        def real(rows):
            return embed_store_rows(store, rows, embed)

    train_emb = real(train_pick)
    pre = {
        "reference": real(split.rows(m, "test")),
        "classifier": fit_embedding_classifier(train_emb, store.y[train_pick]),
        "sets": {SETS[0]: real(val_pick), **heard},
    }
    return pre, train_emb


def judge_generated(vae, store, split, embedder, settings: JudgeSettings, *, learnt_from=None, real_embeddings=None):
    """Every judging set of the module docstring, scored by the in-domain listener (``embedder``, from
    :func:`embedding_model`) and, when ``settings.pretrained`` names an installed musicnn checkpoint, by the
    pretrained one: FAD against the real test slices' audio and the accuracy of a standardised logistic regression
    fitted on musicnn embeddings of real training slices.

    ``learnt_from``: what the VAE learnt from, ``(store, rows)`` — :func:`gtzan_utils.generate.vae.train_vae`
    returns them as ``train_store`` and ``train_rows`` (the training windows when it learnt from them); None means
    every training slice of ``split`` in ``store``. Every set's distance to its nearest training slice is measured
    in dB against exactly those rows, and in musicnn space against the training slices' embeddings.
    ``real_embeddings`` (from :func:`cached_real_embeddings`): the real slices' musicnn embeddings cached with the
    run's ``musicnn`` store, row for row the same slices as ``store``; then the real sets are not embedded again
    and the logistic regression learns from every training slice.

    Every set has ``n_per_genre`` slices per genre, the genre-mean baseline too (its mean spectrum inverted with
    different Griffin-Lim phases), so that Fréchet distances compare sets of equal size. Mel → audio inversions
    run in bounded chunks. Returns ``{"judged": judge_sets table, "pretrained": status line, "test": (x, y),
    "test_rows", "n_per_genre"}``.

    Notebook: 05_vae_generation
    """
    test_rows = split.rows(store.manifest, "test")
    x_test, y_test = store.read(test_rows), store.y[test_rows]
    embed, status = pretrained_embedder(settings.pretrained, store.params.sr)
    sets, heard, val_pick = _judging_sets(vae, store, split, settings, embed)
    pool, rows = learnt_from if learnt_from is not None else (store, split.rows(store.manifest, "train"))
    nearest = {"store": pool, "rows": np.asarray(rows)}
    pre = None
    if embed is not None:
        pre, nearest["embeddings"] = _pretrained_listener(
            store, split, settings, embed, real_embeddings, heard, val_pick
        )
    judged = judge_sets(embedder, sets, (x_test, y_test), store.labels, pretrained=pre, nearest=nearest)
    return {
        "judged": judged,
        "pretrained": status,
        "test": (x_test, y_test),
        "test_rows": test_rows,
        "n_per_genre": settings.n_per_genre,
    }
