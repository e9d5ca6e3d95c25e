"""The real-music yardstick: the ``cpu`` profile, notebooks 01 → 06, on a small folder of real songs, k-fold by song
(``gtzan bench real``, ``make bench-real``).

Every default of the ``cpu`` and ``full`` profiles is chosen on it, not on the synthetic set: the synthetic songs
are separable in ways real music is not (the paper's CNN learns them in three epochs and failed on real songs).
The folder defaults to ``../shared/gtzan_real`` beside the repository (50 real GTZAN excerpts, 5 per genre);
any folder of genre folders works. Where neither is there, :func:`download_real` fetches the 40 of those excerpts
that have a pinned public source (ids 00001–00004 of each genre, sha256-checked) and the yardstick runs on them
with 4 folds (one song per genre in each test fold). With 50 songs a figure moves by about ±7 points per fold
mean: compare settings on the same folds (``-p KEY=VALUE`` overrides one), never on one fold. Prints Table 1 as
mean ± std over the folds, every row's protocol, and the wall time; a ``--data`` folder that is absent is said in
one line, and nothing runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from gtzan_utils.base.constants import REPO_ROOT
from gtzan_utils.base.layout import runs_home

#: Where the development set of real excerpts lives in a checkout with ``shared/`` beside it.
DEFAULT_REAL = REPO_ROOT.parent / "shared" / "gtzan_real"
#: ImageNet weights beside the repository (``../shared/imagenet``), seeded into a temporary Keras cache where the
#: user's own holds none (:func:`imagenet_weights`).
SHARED_IMAGENET = REPO_ROOT.parent / "shared" / "imagenet"
#: The yardstick's fixed settings: the cpu profile, every song tested once.
PROFILE = "cpu"
OVERRIDES = {"SPLIT": "kfold"}


#: The public source of the excerpts ids 00001-00004 (a GitHub repository at a fixed commit, folder ``data/``) and
#: their hashes, one ``<sha256>  genres/<genre>/<name>`` line each (the ids 00000 of ../shared/gtzan_real, 30-s
#: clips, have no pinned public source).
REAL_URL = "https://raw.githubusercontent.com/zenny126/py/9845aa74f40f3ec3cc37e1ca40db48fa292d85c3/data/{name}"
REAL_HASHES = Path(__file__).with_name("gtzan_real.sha256")
#: k of the downloaded set's k-fold (4 songs per genre).
DOWNLOADED_K = 4


def download_real(dest=None, url: str = REAL_URL, hashes: Path = REAL_HASHES, progress: bool = True) -> Path:
    """Fetch the yardstick's downloadable excerpts into ``dest`` (default ``<data home>/gtzan_real``) in the
    archive's layout (``genres/<genre>/<genre>.NNNNN.wav``), each checked against its sha256 (pooch; a good copy
    is reused, a wrong one refused naming both hashes). Returns ``dest``."""
    from gtzan_utils.base.layout import data_home
    from gtzan_utils.data.dataset import fetch

    dest = Path(dest) if dest else data_home() / "gtzan_real"
    for line in hashes.read_text().split("\n"):
        if not line.strip():
            continue
        sha256, rel = line.split()
        rel = Path(rel)
        fetch(url.format(name=rel.name), sha256, dest / rel.parent, fname=rel.name, progress=False)
        if progress:
            print(f"  {rel} ok", flush=True)
    return dest


def real_folder(data=None) -> Path | None:
    """The folder of real songs to measure on (``data`` or :data:`DEFAULT_REAL`), or None when it is absent."""
    path = Path(data).expanduser() if data else DEFAULT_REAL
    return path.resolve() if path.is_dir() else None


def kfold_rows(run_dir) -> list[dict]:
    """Table 1's k-fold rows of a finished run: model, input, song and slice accuracy (mean, std over folds),
    number of folds and test songs, and where the figure comes from."""
    from gtzan_utils.report.results import collect, table1, weights_label

    t = table1(collect(run_dir))
    t = t[(t["split"] == "kfold")]
    return [
        {
            "model": r["model"],
            "input": r["input"],
            "row": r["row"],
            "song_mean": r["test songs"],
            "song_std": r["test songs ± std"],
            "slice_mean": r["test slices"],
            "slice_std": r["test slices ± std"],
            "folds": int(r["folds"]),
            "n_test_songs": int(r["n test songs"]),
            "weights": weights_label(r["pretrained"]),
        }
        for r in t.to_dict("records")
    ]


def format_rows(rows: list[dict], label: str) -> str:
    """The yardstick's table as GitHub Markdown, headed by what it was measured on."""
    lines = [
        f"{label}: song accuracy (mean ± std over the folds; every song tested once), slice accuracy likewise",
        "",
        "| model | input | row | weights | test songs | test slices | folds | songs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -r["song_mean"]):
        lines.append(
            f"| {r['model']} | {r['input']} | {r['row']} | {r.get('weights', '–')} | "
            f"{r['song_mean']:.2f} ± {r['song_std']:.2f} | "
            f"{r['slice_mean']:.2f} ± {r['slice_std']:.2f} | {r['folds']} | {r['n_test_songs']} |"
        )
    return "\n".join(lines)


def imagenet_weights(source: Path = SHARED_IMAGENET) -> str:
    """Make MobileNetV2's ImageNet weights available to the run's kernels, and say how, in one line: Keras' own
    cache when it holds them; else a temporary ``KERAS_HOME`` seeded from ``source`` (never the user's home; the
    kernels inherit the variable); else nothing, and the ImageNet rows (``WEIGHTS=cached``) say "not run"."""
    import os
    import tempfile

    from gtzan_utils.classify.imagenet import imagenet_cached, keras_home, seed_keras_cache

    if imagenet_cached("mobilenetv2"):
        return f"ImageNet weights: MobileNetV2's, from Keras' cache in {keras_home()}"
    if Path(source).is_dir():
        home = Path(tempfile.mkdtemp(prefix="gtzan-keras-home-"))
        if "mobilenetv2" in seed_keras_cache(source, home):
            os.environ["KERAS_HOME"] = str(home)
            return f"ImageNet weights: MobileNetV2's from {source}, in a temporary Keras cache ({home})"
    return (
        "ImageNet rows not run: MobileNetV2's ImageNet weights are not in Keras' cache and "
        f"{source} is absent (WEIGHTS=cached never downloads; one run with WEIGHTS=imagenet online fetches them)"
    )


def bench_real(data=None, out=None, overrides: dict | None = None, start: str = "01", stop: str = "06") -> dict | None:
    """Run the yardstick; returns ``{"run_dir", "rows", "seconds", "table"}`` or None (folder absent: one line said
    why). Also writes ``<run>/yardstick.json`` and ``yardstick.md``."""
    from gtzan_utils.run.runner import run_pipeline

    folder, params = real_folder(data), {**OVERRIDES, **(overrides or {})}
    if folder is None and data:
        print(f"gtzan bench real: skipped: {data} is not a folder (pass --data DIR: a folder of genre folders)")
        return None
    if folder is None:
        print(f"{DEFAULT_REAL} is absent: downloading the 40 excerpts with a pinned public source (sha256-checked)")
        folder, params = download_real(), {"KFOLD_K": DOWNLOADED_K, **params}
    run_dir = Path(out) if out else runs_home() / f"bench-real-{time.strftime('%Y%m%d-%H%M%S')}"
    weights_line = imagenet_weights()
    print(weights_line)
    t0 = time.perf_counter()
    run_pipeline(profile=PROFILE, data=str(folder), start=start, stop=stop, out=run_dir, overrides=params)
    seconds = time.perf_counter() - t0
    rows = kfold_rows(run_dir)
    n_songs = max((r["n_test_songs"] for r in rows), default=0)
    settings = ", ".join(f"{k}={v}" for k, v in params.items())
    label = f"{n_songs} real songs of {folder.name}, {PROFILE} profile, k-fold by song ({settings})"
    table = format_rows(rows, label) + f"\n\n{weights_line}"
    doc = {"data": str(folder), "profile": PROFILE, "overrides": params, "seconds": round(seconds, 1), "rows": rows}
    (Path(run_dir) / "yardstick.json").write_text(json.dumps(doc, indent=1, default=float))
    (Path(run_dir) / "yardstick.md").write_text(table + f"\n\nwall time: {seconds / 60:.1f} min\n")
    print(f"\n{table}\n\nwall time: {seconds / 60:.1f} min ({seconds:.0f} s); run folder: {run_dir}")
    return {"run_dir": Path(run_dir), "rows": rows, "seconds": seconds, "table": table}
