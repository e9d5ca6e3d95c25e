"""The ``gtzan`` command line (also ``python -m gtzan_utils``).

Errors a user can cause are printed as one line and exit with status 1, without a traceback.
``gtzan predict`` reports each file it cannot read and goes on: status 2 when some files were skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_synth(a):
    from gtzan_utils.data.synth import make_synthetic_gtzan

    out = make_synthetic_gtzan(a.dir, per_genre=a.per_genre, seconds=a.seconds, seed=a.seed, n_jobs=a.jobs)
    print(f"synthetic GTZAN: {out}")


def _cmd_download(a):
    from gtzan_utils.data.dataset import download

    print(f"GTZAN: {download(a.dir)}")


def _cmd_validate(a):
    from gtzan_utils.data.dataset import find_dataset, validate

    report = validate(find_dataset(a.dir), min_seconds=a.min_seconds)
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.width", 160, "display.max_colwidth", 60):
        cols = ["track_id", "genre", "sr", "channels", "seconds", "usable", "note"]
        print(report.table[cols].to_string(index=False))
    print(
        "\n".join(
            line for line in report.summary().splitlines() if not line.startswith("  ") or line.startswith("  GTZAN:")
        )
    )  # counts, missing GTZAN ids
    out = Path(a.report or Path(a.dir) / "validation_report.csv")
    try:
        print(f"report: {report.save(out)}")
    except OSError:  # read-only dataset folder
        print(f"report: {report.save(Path.cwd() / 'validation_report.csv')}")
    return 0 if report.usable.shape[0] else 1


def _cluster_options(s) -> None:
    s.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the parallel work on the Dask cluster at ADDRESS (tcp://host:8786; docs/cluster.md)",
    )
    s.add_argument(
        "--scheduler-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="run the parallel work on the Dask cluster whose `dask scheduler --scheduler-file PATH` wrote PATH",
    )


def _cmd_featurize(a):
    from gtzan_utils.base import engine
    from gtzan_utils.base.layout import data_home
    from gtzan_utils.base.parse import parse_list
    from gtzan_utils.data.dataset import load_dataset
    from gtzan_utils.features.extract import KINDS, FeatureParams
    from gtzan_utils.features.store import featurize_all

    kinds = KINDS if a.kinds == "all" else tuple(parse_list(a.kinds))
    with engine.cluster_from(a.scheduler, a.scheduler_file):
        tracks = load_dataset(a.dir, min_seconds=a.slice_seconds, n_slices=a.n_slices, n_jobs=a.jobs)
        base = FeatureParams(kind=kinds[0], slice_seconds=a.slice_seconds, n_slices=a.n_slices)
        stores = featurize_all(tracks, kinds, a.store or data_home() / "stores", base=base, n_jobs=a.jobs)
    for kind, store in stores.items():
        print(f"{kind:<11} {store.path}  {len(store)} slices  {store.params.shape}  {store.nbytes / 1e6:.1f} MB")


def _cmd_run(a):
    from gtzan_utils.base.parse import parse_overrides
    from gtzan_utils.run.runner import run_pipeline

    run_pipeline(
        profile=a.profile,
        data=a.data,
        start=a.start,
        stop=a.stop,
        out=a.out,
        overrides=parse_overrides(a.param),
        scheduler=a.scheduler,
        scheduler_file=a.scheduler_file,
    )


def _cmd_generate(a):
    from gtzan_utils.base.constants import SR
    from gtzan_utils.base.errors import GtzanError
    from gtzan_utils.generate.audio import Render, generate, write_wav

    # checked before loading TensorFlow: a bad band is one line, at once
    render = Render(n_iter=a.n_iter, inverse=a.inverse, lowpass_hz=a.lowpass, highpass_hz=a.highpass)
    if not a.model.exists():
        raise GtzanError(f"model {a.model} not found: train one in notebook 05_vae_generation (vae.keras)")
    from gtzan_utils.generate.vae import load_vae

    model = load_vae(a.model)
    y = generate(model, a.genre, a.seconds, render, seed=a.seed)
    print(f"{a.genre}, {len(y) / SR:.2f} s: {write_wav(a.out, y)}")


def _cmd_predict(a):
    from gtzan_utils.classify.predict import describe, domain_note, load_classifier, predict_files, trained_on_of

    model, params, labels = load_classifier(a.model)
    done, failed = predict_files(model, params, labels, a.files)
    note = domain_note(trained_on_of(a.model), [r["file"] for r in done])
    if a.json:
        doc = {"model": str(a.model), "trained_on": trained_on_of(a.model), "note": note}
        print(json.dumps({**doc, "predictions": done, "skipped": failed}, indent=1))
    else:
        if note:
            print(note, file=sys.stderr)
        for r in done:
            print(describe(r, 3))
    for f in failed:
        print(f"gtzan predict: skipped {f['error']}", file=sys.stderr)
    if failed:
        return 1 if not done else 2
    return 0


def _cmd_bench(a):
    if a.what == "real":
        from gtzan_utils.base.parse import parse_overrides
        from gtzan_utils.run.yardstick import bench_real

        bench_real(data=a.data, out=a.out, overrides=parse_overrides(a.param), start=a.start, stop=a.stop)
        return 0
    from gtzan_utils.base import engine
    from gtzan_utils.run import bench

    with engine.cluster_from(a.scheduler, a.scheduler_file):
        bench.main(a.what, songs=a.songs, jobs=a.jobs)


def build_parser() -> argparse.ArgumentParser:
    """The ``gtzan`` command-line parser, one subcommand per task (each sets ``func``)."""
    from gtzan_utils.generate import audio  # numpy only; the choices and default of --inverse live there

    p = argparse.ArgumentParser(prog="gtzan", description="GTZAN genre classification: data, features, runs.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="write the embedded synthetic GTZAN (offline)")
    s.add_argument("dir", type=Path)
    s.add_argument("--per-genre", type=int, default=10)
    s.add_argument("--seconds", type=float, default=30.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--jobs", type=int, default=1)
    s.set_defaults(func=_cmd_synth)

    s = sub.add_parser("download", help="download and extract the original GTZAN archive (1.2 GB)")
    s.add_argument("dir", type=Path, nargs="?", default=None, help="target folder (default: data/gtzan)")
    s.set_defaults(func=_cmd_download)

    s = sub.add_parser("validate", help="decode every file and report problems")
    s.add_argument("dir", type=Path)
    s.add_argument("--min-seconds", type=float, default=5.0, help="shorter clips are excluded (one slice)")
    s.add_argument("--report", type=Path, default=None, help="CSV path (default: DIR/validation_report.csv)")
    s.set_defaults(func=_cmd_validate)

    s = sub.add_parser("featurize", help="compute feature stores for a dataset folder")
    s.add_argument("dir", type=Path)
    s.add_argument("--kinds", default="all", help="comma list of mfcc, mel, mel3, mfcc_image, musicnn, or 'all'")
    s.add_argument("--store", type=Path, default=None, help="store root (default: data/stores)")
    s.add_argument("--slice-seconds", type=float, default=5.0)
    s.add_argument("--n-slices", type=int, default=6)
    s.add_argument("--jobs", type=int, default=2, help="local worker processes (1: this process)")
    _cluster_options(s)
    s.set_defaults(func=_cmd_featurize)

    s = sub.add_parser("run", help="execute the notebooks with papermill into a run folder")
    s.add_argument(
        "--profile", default="quick", help="quick (synthetic, tiny, offline), cpu (real music, 2 cores) or full"
    )
    s.add_argument("--data", default=None, help="'synth', 'gtzan' or a dataset folder (overrides the profile)")
    s.add_argument("--from", dest="start", default="01", help="first notebook to run, e.g. 03")
    s.add_argument("--to", dest="stop", default="99", help="last notebook to run, e.g. 02")
    s.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<profile>-<time>)")
    s.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a notebook parameter (repeatable)",
    )
    _cluster_options(s)
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("generate", help="genre + duration -> audio with a trained conditional VAE")
    s.add_argument("--genre", required=True)
    s.add_argument("--seconds", type=float, default=10.0)
    s.add_argument("--model", type=Path, required=True, help="a vae.keras file")
    s.add_argument("--out", type=Path, required=True, help="the .wav file to write")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--lowpass", type=float, default=None, help="Butterworth low-pass cut-off in Hz")
    s.add_argument("--highpass", type=float, default=None, help="Butterworth high-pass cut-off in Hz")
    s.add_argument("--n-iter", type=int, default=32, help="Griffin-Lim iterations")
    s.add_argument(
        "--inverse",
        choices=audio.INVERSIONS,
        default=audio.INVERSE,
        help="mel inversion: fista (the NNLS by accelerated projected gradient, ≈ 0.04 s per 5-s slice), nnls "
        "(librosa's NNLS, ≈ 1.5 s) or pinv (the clipped pseudo-inverse: milliseconds, coarser)",
    )
    s.set_defaults(func=_cmd_generate)

    s = sub.add_parser("predict", help="genre probabilities of audio files with a trained classifier")
    s.add_argument("files", type=Path, nargs="+", help="audio files (wav, au, flac, ogg, mp3, ...)")
    s.add_argument("--model", type=Path, required=True, help="a model.keras (or its folder) from notebook 03 or 04")
    s.add_argument("--json", action="store_true", help="print JSON instead of the top-3 table")
    s.set_defaults(func=_cmd_predict)

    s = sub.add_parser("bench", help="benchmarks that print figures (not tests); 'real': the real-music yardstick")
    s.add_argument("what", choices=["real", "featurize", "memory", "stream", "train", "determinism", "scale"])
    s.add_argument("--songs", type=int, default=None)
    s.add_argument("--jobs", type=int, default=2)
    s.add_argument("--data", default=None, help="real: folder of genre folders (default: ../shared/gtzan_real)")
    s.add_argument("--out", type=Path, default=None, help="real: run folder (default: runs/bench-real-<time>)")
    s.add_argument("--from", dest="start", default="01", help="real: first notebook (resume a run with --out)")
    s.add_argument("--to", dest="stop", default="06", help="real: last notebook")
    s.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="real: a parameter")
    _cluster_options(s)
    s.set_defaults(func=_cmd_bench)
    return p


#: The commands that load TensorFlow (imported first, quietly: :func:`gtzan_utils.run.environment.quiet_tensorflow`).
TF_COMMANDS = ("predict", "generate", "bench")


def main(argv=None) -> int:
    """Run ``gtzan`` with ``argv`` and return the exit status (1 on GtzanError, 130 when interrupted)."""
    from gtzan_utils.base.errors import GtzanError

    args = build_parser().parse_args(argv)
    try:
        if args.command in TF_COMMANDS:  # TensorFlow's start-up lines filtered, as the notebooks do
            from gtzan_utils.run.environment import quiet_tensorflow

            quiet_tensorflow()
        return int(args.func(args) or 0)
    except GtzanError as exc:
        print(f"gtzan {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"gtzan {args.command}: interrupted; finished work is kept and a re-run resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
