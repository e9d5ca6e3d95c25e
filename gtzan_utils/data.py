"""Find, read, validate and download GTZAN (or any folder of genre folders).

Layouts found by :func:`find_dataset`:

* the original archive: ``genres/<genre>/<genre>.NNNNN.au``
* the Kaggle copy: ``Data/genres_original/<genre>/<genre>.NNNNN.wav`` beside ``images_original/`` PNGs
  and CSVs (ignored: only audio files count)
* any folder whose sub-folders are genres holding audio that soundfile decodes

Shown in notebook 01_data_exploration.
"""
from __future__ import annotations

import os
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import AUDIO_EXTENSIONS, GENRES, SR, data_home
from .errors import GtzanError

# The original archive (1000 × 30 s .au). The first host is dead since 2022; mirrors, tried in order.
GTZAN_URLS: tuple[str, ...] = (
    "https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz",
    "https://web.archive.org/web/20211207012050/http://opihi.cs.uvic.ca/sound/genres.tar.gz",
)
GTZAN_SHA256 = "24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6"


# -- reading audio ----------------------------------------------------------------------------------
def read_audio(path, sr: int | None = SR) -> tuple[np.ndarray, dict]:
    """Decode a file to float32 mono at ``sr`` (None keeps the file's own rate): returns (samples, info).

    ``info`` holds the file's own ``sr``, ``channels`` and ``frames``; other sample rates are resampled
    and several channels averaged (the validation report says so). An undecodable file raises
    :class:`GtzanError` naming it.
    """
    import soundfile as sf

    path = Path(path)
    try:
        y, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        raise GtzanError(f"cannot decode {path}: {exc}. Replace or remove the file.") from None
    info = {"sr": int(file_sr), "channels": int(y.shape[1]), "frames": int(y.shape[0])}
    y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    if sr is not None and file_sr != sr and len(y):
        import librosa

        y = librosa.resample(y, orig_sr=file_sr, target_sr=sr)
    return np.ascontiguousarray(y, dtype=np.float32), info


# -- discovery --------------------------------------------------------------------------------------
def _audio_files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(AUDIO_EXTENSIONS):
                out.append(Path(dirpath) / name)
    return out


def find_dataset(root) -> pd.DataFrame:
    """Table of the clips under ``root``: columns ``path``, ``genre``, ``track_id``, sorted by track id.

    The genre is the name of the folder holding the file; all genre folders must share one parent (the
    dataset folder). ``track_id`` is the file name without extension (``blues.00000``), prefixed by the
    genre where names repeat across genres. Raises :class:`GtzanError` when the folder is missing or
    holds no audio, or when it holds two datasets (say ``genres/`` and ``Data/genres_original/``).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise GtzanError(
            f"data folder {root} does not exist: download GTZAN with `gtzan download {root}`, "
            f"make the synthetic set with `gtzan synth {root}`, or pass the folder that holds the genre folders"
        )
    files = _audio_files(root)
    if not files:
        raise GtzanError(
            f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {root}: pass the folder that holds the "
            f"genre folders (e.g. genres/ or Data/genres_original/)"
        )
    bases = Counter(f.parent.parent for f in files)
    if len(bases) > 1:
        listing = "; ".join(f"{b} ({n} files)" for b, n in sorted(bases.items()))
        raise GtzanError(f"{root} holds audio in more than one dataset folder: {listing}. Pass one of them.")
    base = next(iter(bases))
    if base == root.parent:
        raise GtzanError(
            f"{root} holds audio files directly; put them in one folder per genre ({root}/<genre>/...) "
            f"and pass {root}"
        )
    df = pd.DataFrame({"path": [str(f) for f in files], "genre": [f.parent.name for f in files],
                       "track_id": [f.stem for f in files]})
    if df.track_id.duplicated().any():
        df["track_id"] = df.genre + "/" + df.track_id
    if df.track_id.duplicated().any():
        dup = df.track_id[df.track_id.duplicated()].iloc[0]
        raise GtzanError(f"two files in {base} share the name {dup!r} in one genre folder: keep one of them")
    return df.sort_values("track_id", kind="stable").reset_index(drop=True)


def genre_labels(df: pd.DataFrame) -> list[str]:
    """Label order: GTZAN's ten genres when the data uses them, else the folder names sorted."""
    present = set(df.genre)
    if present <= set(GENRES):
        return list(GENRES)
    return sorted(present)


# -- validation -------------------------------------------------------------------------------------
@dataclass
class ValidationReport:
    """Per-file findings (:attr:`table`) and the clips that are kept (:attr:`usable`)."""

    table: pd.DataFrame

    @property
    def usable(self) -> pd.DataFrame:
        t = self.table[self.table.usable]
        return t[["path", "genre", "track_id"]].reset_index(drop=True)

    @property
    def excluded(self) -> pd.DataFrame:
        return self.table[~self.table.usable].reset_index(drop=True)

    def summary(self) -> str:
        t = self.table
        lines = [f"{len(t)} files, {int(t.usable.sum())} usable, {int((~t.usable).sum())} excluded"]
        for _, r in t[t.note != ""].iterrows():
            lines.append(f"  {r.track_id:<24} {r.note}")
        return "\n".join(lines)

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.table.to_csv(path, index=False)
        return path


def validate(df: pd.DataFrame, min_seconds: float = 5.0, sr: int = SR, progress: bool = True) -> ValidationReport:
    """Decode every file of ``df`` (from :func:`find_dataset`) and report what is wrong with it.

    Unreadable files and clips shorter than ``min_seconds`` (one slice) are excluded, by name; other
    sample rates and channel counts are kept (resampled / downmixed) and the note says so.
    """
    from tqdm.auto import tqdm

    rows = []
    for r in tqdm(list(df.itertuples(index=False)), desc="validate", disable=not progress):
        row = {"path": r.path, "genre": r.genre, "track_id": r.track_id, "readable": True, "sr": np.nan,
               "channels": np.nan, "seconds": np.nan, "usable": True, "note": ""}
        try:
            y, info = read_audio(r.path, sr=sr)
        except GtzanError as exc:
            row.update(readable=False, usable=False, note=f"unreadable, excluded ({str(exc).split(': ', 1)[-1]})")
            rows.append(row)
            continue
        seconds = len(y) / sr
        row.update(sr=info["sr"], channels=info["channels"], seconds=round(seconds, 3))
        notes = []
        if info["sr"] != sr:
            notes.append(f"resampled {info['sr']}->{sr} Hz")
        if info["channels"] != 1:
            notes.append(f"downmixed {info['channels']}->1 channels")
        if seconds < min_seconds:
            row["usable"] = False
            notes.append(f"too short ({seconds:.2f} s < {min_seconds:g} s), excluded")
        row["note"] = "; ".join(notes)
        rows.append(row)
    table = pd.DataFrame(rows, columns=["path", "genre", "track_id", "readable", "sr", "channels", "seconds",
                                        "usable", "note"])
    return ValidationReport(table)


def load_dataset(root, min_seconds: float = 5.0, report_path=None, progress: bool = True) -> pd.DataFrame:
    """Find and validate in one call; prints the excluded files, returns the usable clips."""
    report = validate(find_dataset(root), min_seconds=min_seconds, progress=progress)
    if report_path is not None:
        report.save(report_path)
    if len(report.excluded):
        print(report.summary())
    if report.usable.empty:
        raise GtzanError(f"no usable clip under {root}: see the validation report ({report_path or 'gtzan validate'})")
    return report.usable


# -- download ---------------------------------------------------------------------------------------
def safe_extract(archive, dest) -> Path:
    """Extract a tar archive refusing members that would land outside ``dest`` (or links, devices)."""
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for m in members:
            target = (dest / m.name).resolve()
            if not (target == dest or dest in target.parents):
                raise GtzanError(f"refusing to extract {archive}: member {m.name!r} would land outside {dest}")
            if not (m.isfile() or m.isdir()):
                raise GtzanError(f"refusing to extract {archive}: member {m.name!r} is a link or device")
        tar.extractall(dest, members=members)
    return dest


def fetch(url: str, sha256: str, dest_dir, fname: str | None = None, progress: bool = True) -> Path:
    """Download ``url`` into ``dest_dir`` with pooch, checking its sha256; reuse a good local copy.

    A hash mismatch raises :class:`GtzanError` naming both hashes (the bad file is deleted by pooch).
    """
    import pooch

    dest_dir = Path(dest_dir).expanduser()
    dest_dir.mkdir(parents=True, exist_ok=True)
    try:
        return Path(pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=fname, path=dest_dir,
                                   progressbar=progress))
    except ValueError as exc:  # pooch: "SHA256 hash of downloaded file (...) does not match the known hash: expected ..."
        raise GtzanError(f"download of {url} failed its hash check: {exc}. The mirror may serve another file; "
                         f"try another mirror or download by hand and pass the folder.") from None
    except Exception as exc:  # requests' connection errors and HTTP errors
        raise GtzanError(f"cannot download {url}: {exc}") from None


def download(dest=None, urls=GTZAN_URLS, sha256: str = GTZAN_SHA256, progress: bool = True) -> Path:
    """Download and extract the original GTZAN archive into ``dest``; returns the ``genres`` folder.

    Tries each mirror in turn; only when asked, never at import. An already extracted copy is reused.
    """
    dest = Path(dest or data_home() / "gtzan").expanduser()
    genres_dir = dest / "genres"
    if (genres_dir / ".complete").exists():
        return genres_dir
    errors = []
    for url in urls:
        try:
            archive = fetch(url, sha256, dest, fname="genres.tar.gz", progress=progress)
            break
        except GtzanError as exc:
            if "hash check" in str(exc):
                raise
            errors.append(str(exc))
    else:
        raise GtzanError("no GTZAN mirror could be reached:\n  " + "\n  ".join(errors)
                         + f"\nDownload genres.tar.gz by hand into {dest} (sha256 {sha256}) and run again, "
                           "or pass a local copy with --data.")
    safe_extract(archive, dest)
    if not genres_dir.is_dir():
        raise GtzanError(f"{archive} did not contain a genres/ folder; remove it and download again")
    (genres_dir / ".complete").write_text(sha256 + "\n")
    return genres_dir


# -- one entry point for the notebooks ---------------------------------------------------------------
def resolve_data(data: str, synth_per_genre: int = 10, synth_seconds: float = 30.0, seed: int = 0) -> Path:
    """The dataset folder for a notebook's ``DATA`` parameter.

    ``"gtzan"``: the original archive under the data home, downloaded on first use; ``"synth"``: the
    embedded synthetic GTZAN, generated on first use (offline); anything else: a local folder in any
    layout :func:`find_dataset` knows (the original ``genres/``, Kaggle's ``Data/genres_original``, ...).
    """
    if data == "gtzan":
        return download()
    if data == "synth":
        from .synth import make_synthetic_gtzan

        return make_synthetic_gtzan(data_home() / f"synth-{synth_per_genre}x{synth_seconds:g}s-seed{seed}",
                                    per_genre=synth_per_genre, seconds=synth_seconds, seed=seed)
    root = Path(data).expanduser()
    find_dataset(root)  # fails early, naming the folder, when it holds no dataset
    return root
