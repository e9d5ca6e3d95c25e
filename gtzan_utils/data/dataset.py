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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gtzan_utils.base import engine
from gtzan_utils.base.constants import AUDIO_EXTENSIONS, GENRES, SR, SYNTH_MARKER
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.layout import data_home

# The original archive (1000 × 30 s .au). The first host is dead since 2022; mirrors, tried in order.
GTZAN_URLS: tuple[str, ...] = (
    "https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz",
    "https://web.archive.org/web/20211207012050/http://opihi.cs.uvic.ca/sound/genres.tar.gz",
)
GTZAN_SHA256 = "24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6"


# -- reading audio ----------------------------------------------------------------------------------
#: A clip whose peak stays below this is silent (-80 dBFS; one step of 16-bit PCM is 3e-5).
SILENCE_PEAK = 1e-4


def _decode(path) -> tuple[np.ndarray, dict]:
    """float32 mono samples at the file's own rate and ``info`` (sr, channels, frames); GtzanError if undecodable."""
    import soundfile as sf

    try:
        y, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        raise GtzanError(f"cannot decode {path}: {exc}. Replace or remove the file.") from None
    info = {"sr": int(file_sr), "channels": int(y.shape[1]), "frames": int(y.shape[0])}
    y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    return y, info


def audio_problem(y: np.ndarray) -> str:
    """Why decoded samples cannot be used: ``""`` when they can, else the reason (non-finite samples, all
    silent). Used by :func:`validate`, the feature store and ``gtzan predict``."""
    finite = np.isfinite(y)
    if not finite.all():
        return f"{int((~finite).sum())} non-finite samples (NaN/inf)"
    if len(y) and float(np.max(np.abs(y))) < SILENCE_PEAK:
        return "all silent"
    return ""


def _announced_seconds(path, seconds: float) -> float | None:
    """Length the file's header announces when its data is shorter (a truncated file), else None.

    libsndfile logs a data size it could not find as ``data : 1323000 (should be 440970)`` (WAV) or
    ``Data Size : 1323000 (should be 440984)`` (AU); the announced length scales the decoded one."""
    import re

    import soundfile as sf

    try:
        log = sf.info(str(path)).extra_info
    except Exception:  # undecodable: reported elsewhere
        return None
    m = re.search(r"(?:data|Data Size)\s*:\s*(\d+)\s*\(should be (\d+)\)", log)
    if not m or int(m.group(2)) <= 0 or int(m.group(1)) <= int(m.group(2)):
        return None
    return seconds * int(m.group(1)) / int(m.group(2))


def read_audio(path, sr: int | None = SR) -> tuple[np.ndarray, dict]:
    """Decode a file to float32 mono at ``sr`` (None keeps the file's own rate): returns (samples, info).

    ``info`` holds the file's own ``sr``, ``channels`` and ``frames``; other sample rates are resampled
    and several channels averaged (the validation report says so). An undecodable file, or one holding
    non-finite samples (NaN/inf, which no feature survives), raises :class:`GtzanError` naming it.

    Notebook: 01_data_exploration
    """
    path = Path(path)
    y, info = _decode(path)
    if not np.isfinite(y).all():
        raise GtzanError(f"{path} holds {audio_problem(y)}: the file is damaged. Replace or remove it.")
    if sr is not None and info["sr"] != sr and len(y):
        import librosa

        y = librosa.resample(y, orig_sr=info["sr"], target_sr=sr)
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
    genre where names repeat across genres. A track with two files (``blues.00000.au`` and ``.wav``) keeps
    the one with the dataset's most common extension; :func:`validate` reports the other. Raises
    :class:`GtzanError` when the folder is missing or holds no audio, or when it holds two datasets (say
    ``genres/`` and ``Data/genres_original/``).

    Notebook: 01_data_exploration
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
            f"{root} holds audio files directly; put them in one folder per genre ({root}/<genre>/...) and pass {root}"
        )
    df = pd.DataFrame(
        {"path": [str(f) for f in files], "genre": [f.parent.name for f in files], "track_id": [f.stem for f in files]}
    )
    # one file per track: of blues.00000.au and blues.00000.wav, keep the dataset's usual extension
    ext = df.path.map(lambda p: Path(p).suffix.lower())
    counts = Counter(ext)
    order = sorted(counts, key=lambda e: (-counts[e], AUDIO_EXTENSIONS.index(e) if e in AUDIO_EXTENSIONS else 99, e))
    df = (
        df.assign(_rank=ext.map(order.index))
        .sort_values("_rank", kind="stable")
        .drop_duplicates(["genre", "track_id"])
        .drop(columns="_rank")
    )
    if df.track_id.duplicated().any():
        df["track_id"] = df.genre + "/" + df.track_id
    return df.sort_values("track_id", kind="stable").reset_index(drop=True)


def second_files(df: pd.DataFrame) -> pd.DataFrame:
    """Audio files that :func:`find_dataset` left out because their track already has a file (say
    ``blues.00000.wav`` beside the ``blues.00000.au`` kept): columns ``path``, ``genre``, ``track_id``,
    ``kept`` (the path used). :func:`validate` reports them. Notebook: 01_data_exploration.
    """
    kept = {(str(Path(p).parent), Path(p).stem): (p, t) for p, t in zip(df.path, df.track_id)}
    rows = []
    for folder in sorted({str(Path(p).parent) for p in df.path}):
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            if name.startswith(".") or not name.lower().endswith(AUDIO_EXTENSIONS):
                continue
            path, hit = str(Path(folder) / name), kept.get((folder, Path(name).stem))
            if hit is not None and hit[0] != path:
                rows.append({"path": path, "genre": Path(folder).name, "track_id": hit[1], "kept": hit[0]})
    return pd.DataFrame(rows, columns=["path", "genre", "track_id", "kept"])


def genre_labels(df: pd.DataFrame) -> list[str]:
    """Label order: GTZAN's ten genres when the data uses them, else the folder names sorted."""
    present = set(df.genre)
    if present <= set(GENRES):
        return list(GENRES)
    return sorted(present)


# -- validation -------------------------------------------------------------------------------------
#: A clip shorter than this fraction of the dataset's usual (median) length is reported as short.
SHORT_FRACTION = 0.9
#: GTZAN's track ids: ``<genre>.00000`` ... ``<genre>.00099`` for each of the ten genres.
GTZAN_PER_GENRE = 100


@dataclass
class ValidationReport:
    """Per-file findings (:attr:`table`), the clips that are kept (:attr:`usable`) and, when the folder is
    GTZAN, the expected track ids that have no file (:attr:`missing`, as mirdata's ``validate`` does)."""

    table: pd.DataFrame
    missing: list = field(default_factory=list)

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
        if self.missing:
            shown = ", ".join(self.missing[:20]) + (", ..." if len(self.missing) > 20 else "")
            lines.append(
                f"  GTZAN: {len(self.missing)} of {len(GENRES) * GTZAN_PER_GENRE} expected tracks missing: {shown}"
            )
        for _, r in t[t.note != ""].iterrows():
            lines.append(f"  {r.track_id:<24} {r.note}")
        return "\n".join(lines)

    def save(self, path) -> Path:
        """Write the table as CSV, atomically; returns the path."""
        from gtzan_utils.base.files import atomic_write

        return atomic_write(path, lambda tmp: self.table.to_csv(tmp, index=False))


def missing_gtzan_tracks(df: pd.DataFrame) -> list[str]:
    """Expected GTZAN track ids with no file in ``df``; ``[]`` when the folder is not GTZAN.

    The folder counts as GTZAN when its genre folders are exactly the ten GTZAN genres, every file is named
    ``<genre>.NNNNN`` with NNNNN below 100, and it is not the synthetic set (no ``SYNTH.json`` beside the
    genre folders). Notebook: 01_data_exploration.
    """
    if df.empty or set(df.genre) != set(GENRES) or (Path(df.path.iloc[0]).parent.parent / "SYNTH.json").exists():
        return []
    pattern = r"(?:[a-z]+/)?([a-z]+)\.(\d{5})"
    m = df.track_id.str.fullmatch(pattern)
    parts = df.track_id.str.extract(pattern)
    if not m.all() or not (parts[0] == df.genre).all() or (parts[1].astype(int) >= GTZAN_PER_GENRE).any():
        return []
    have = set(parts[0] + "." + parts[1])
    return [f"{g}.{i:05d}" for g in GENRES for i in range(GTZAN_PER_GENRE) if f"{g}.{i:05d}" not in have]


def _inspect(path) -> dict:
    """What validation needs of one file, read where the task runs: readable (or the decoder's complaint), rate,
    channels, frames, what is wrong with the samples, and the length the header announces for a truncated file."""
    try:
        y, info = _decode(path)
    except GtzanError as exc:
        return {"readable": False, "error": str(exc).split(": ", 1)[-1]}
    seconds = info["frames"] / info["sr"] if info["sr"] else 0.0
    return {
        "readable": True,
        **info,
        "seconds": seconds,
        "problem": audio_problem(y),
        "announced": _announced_seconds(path, seconds),
    }


def _inspect_files(item: tuple[int, tuple[str, ...]]) -> tuple[int, list[dict]]:
    """Task: ``(first index, paths)`` → ``(first index, [:func:`_inspect` of each])``."""
    first, paths = item
    return first, [_inspect(p) for p in paths]


def _inspect_all(paths: list, n_jobs, progress: bool) -> list[dict]:
    """:func:`_inspect_files` on every path, in chunks through :mod:`gtzan_utils.base.engine`; facts in order."""
    facts: list[dict] = [{}] * len(paths)
    per = engine.chunk_size(len(paths), n_jobs, most=64)
    items = [(r.start, tuple(str(p) for p in paths[r.start : r.stop])) for r in engine.chunks(len(paths), per)]
    results = engine.map_unordered(
        _inspect_files,
        items,
        n_jobs,
        desc="validate",
        unit="file",
        progress=progress,
        size=lambda r: len(r[1]),
        total=len(paths),
    )
    for first, part in results:
        facts[first : first + len(part)] = part
    return facts


def _report_row(item: tuple, fact: dict, min_seconds: float, sr: int) -> dict:
    """One row of the validation report: a file, what decoding it showed, whether it is used and why not."""
    path, genre, track_id, kept = item
    row = {"path": path, "genre": genre, "track_id": track_id, "readable": True, "sr": np.nan, "channels": np.nan}
    row.update(seconds=np.nan, usable=True, note="")
    if not fact["readable"]:
        row.update(readable=False, usable=False, note=f"unreadable, excluded ({fact['error']})")
        if kept is not None:
            row["note"] = f"second file {Path(path).name} of the track ({Path(kept).name} is used); " + row["note"]
        return row
    seconds = fact["seconds"]
    row.update(sr=fact["sr"], channels=fact["channels"], seconds=round(seconds, 3))
    if kept is not None:
        row.update(
            usable=False, note=f"second file {Path(path).name} of the track ({Path(kept).name} is used), excluded"
        )
        return row
    notes = []
    if fact["sr"] != sr:
        notes.append(f"resampled {fact['sr']}->{sr} Hz")
    if fact["channels"] != 1:
        notes.append(f"downmixed {fact['channels']}->1 channels")
    if fact["problem"]:
        row["usable"] = False
        notes.append(f"{fact['problem']}, excluded")
    elif seconds < min_seconds:
        row["usable"] = False
        notes.append(f"too short ({seconds:.2f} s < {min_seconds:g} s), excluded")
    row["note"] = "; ".join(notes)
    return row


def _note_short_clips(rows: list[dict], facts: list[dict], min_seconds: float, n_slices: int | None) -> None:
    """Flag the usable clips that give fewer slices than they should: truncated (their header announces more than
    the data holds) or much shorter than the dataset's usual (median) length."""

    def slices(t):  # whole slices of min_seconds; a last one short by at most 5 % counts
        k = int(t / min_seconds + 0.05)
        return k if n_slices is None else min(k, n_slices)

    usable = [i for i, r in enumerate(rows) if r["usable"]]
    seconds_of = {i: facts[i]["seconds"] for i in usable}
    usual = float(np.median(list(seconds_of.values()))) if len(seconds_of) >= 3 else None
    for i, seconds in seconds_of.items():
        announced = facts[i]["announced"]
        if announced is not None and slices(seconds) < slices(announced):
            note = (
                f"truncated: the header announces {announced:.1f} s, the data holds {seconds:.1f} s; "
                f"gives {slices(seconds)} of {slices(announced)} slices"
            )
        elif usual is not None and seconds < SHORT_FRACTION * usual and slices(seconds) < slices(usual):
            note = (
                f"short: {seconds:.1f} s where clips usually last {usual:.1f} s; "
                f"gives {slices(seconds)} of {slices(usual)} slices"
            )
        else:
            continue
        rows[i]["note"] = "; ".join(x for x in (rows[i]["note"], note) if x)


def validate(
    df: pd.DataFrame,
    min_seconds: float = 5.0,
    sr: int = SR,
    progress: bool = True,
    n_slices: int | None = None,
    n_jobs: int | None = None,
) -> ValidationReport:
    """Decode every file of ``df`` (from :func:`find_dataset`) and report what is wrong with it, one row per
    file with the reason in ``note``; returns a :class:`ValidationReport`.

    Excluded, by name: unreadable files, files holding non-finite samples (NaN/inf), all-silent clips,
    clips shorter than ``min_seconds`` (one slice) and a second file of a track (:func:`second_files`).
    Kept with a note: other sample rates and channel counts (resampled / downmixed), and clips much shorter
    than the dataset's usual (median) length -- a truncated file -- which give k of the usual n slices of
    ``min_seconds`` (at most ``n_slices``). :attr:`ValidationReport.missing` lists the GTZAN track ids with
    no file. The files are decoded through :mod:`gtzan_utils.base.engine`: ``n_jobs`` local processes (None or 1:
    this process), or the workers of the cluster that ``gtzan run --scheduler`` names.

    Notebook: 01_data_exploration
    """
    extra = second_files(df)
    todo = [(r.path, r.genre, r.track_id, None) for r in df.itertuples(index=False)]
    todo += [(r.path, r.genre, r.track_id, r.kept) for r in extra.itertuples(index=False)]
    facts = _inspect_all([t[0] for t in todo], n_jobs, progress)
    rows = [_report_row(item, fact, min_seconds, sr) for item, fact in zip(todo, facts)]
    _note_short_clips(rows, facts, min_seconds, n_slices)
    table = pd.DataFrame(
        rows, columns=["path", "genre", "track_id", "readable", "sr", "channels", "seconds", "usable", "note"]
    )
    return ValidationReport(table, missing=missing_gtzan_tracks(df))


def load_dataset(
    root,
    min_seconds: float = 5.0,
    report_path=None,
    progress: bool = True,
    n_slices: int | None = None,
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """Find and validate in one call (``n_jobs`` as :func:`validate`); prints the files excluded or flagged and why,
    returns the usable clips.

    Notebook: 02_preprocessing
    """
    report = validate(find_dataset(root), min_seconds=min_seconds, progress=progress, n_slices=n_slices, n_jobs=n_jobs)
    if report_path is not None:
        report.save(report_path)
    if len(report.excluded) or (report.table.note != "").any() or report.missing:
        print(report.summary())  # what is skipped or short, and why
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
        return Path(
            pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=fname, path=dest_dir, progressbar=progress)
        )
    except (
        ValueError
    ) as exc:  # pooch: "SHA256 hash of downloaded file (...) does not match the known hash: expected ..."
        raise GtzanError(
            f"download of {url} failed its hash check: {exc}. The mirror may serve another file; "
            f"try another mirror or download by hand and pass the folder."
        ) from None
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
        raise GtzanError(
            "no GTZAN mirror could be reached:\n  "
            + "\n  ".join(errors)
            + f"\nDownload genres.tar.gz by hand into {dest} (sha256 {sha256}) and run again, "
            "or pass a local copy with --data."
        )
    safe_extract(archive, dest)
    if not genres_dir.is_dir():
        raise GtzanError(f"{archive} did not contain a genres/ folder; remove it and download again")
    (genres_dir / ".complete").write_text(sha256 + "\n")
    return genres_dir


# -- one entry point for the notebooks ---------------------------------------------------------------
def dataset_source(paths) -> str:
    """Where audio files come from: ``"synthetic"`` (the embedded synthetic GTZAN: its ``SYNTH.json`` sits beside
    the genre folders), ``"gtzan"`` (files named like GTZAN's, ``blues.00000.au``, at least 900 of them: the whole
    dataset) or ``"folder"`` (any other music)."""
    import re

    paths = [Path(p) for p in paths]
    if paths and all(any((d / SYNTH_MARKER).exists() for d in list(p.parents)[:3]) for p in paths):
        return "synthetic"
    named = sum(bool(re.fullmatch(r"[a-z]+\.\d{5}", p.stem)) for p in paths)
    return "gtzan" if named >= 900 else "folder"


def resolve_data(data: str, synth_per_genre: int = 10, synth_seconds: float = 30.0, seed: int = 0) -> Path:
    """The dataset folder (a Path) for a notebook's ``DATA`` parameter.

    ``"gtzan"``: the original archive under the data home, downloaded on first use; ``"synth"``: the
    embedded synthetic GTZAN, generated on first use (offline); anything else: a local folder in any
    layout :func:`find_dataset` knows (the original ``genres/``, Kaggle's ``Data/genres_original``, ...).

    Notebook: 01_data_exploration, 02_preprocessing
    """
    if data == "gtzan":
        return download()
    if data == "synth":
        from gtzan_utils.data.synth import make_synthetic_gtzan

        return make_synthetic_gtzan(
            data_home() / f"synth-{synth_per_genre}x{synth_seconds:g}s-seed{seed}",
            per_genre=synth_per_genre,
            seconds=synth_seconds,
            seed=seed,
        )
    root = Path(data).expanduser()
    find_dataset(root)  # fails early, naming the folder, when it holds no dataset
    return root
