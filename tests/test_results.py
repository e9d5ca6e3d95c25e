"""Table 1 from a run folder: every paper cell, "not run" where the run has nothing, CSV and Markdown."""

from __future__ import annotations

import json

import pandas as pd

from gtzan_utils.classify import diagnostics
from gtzan_utils.report import overview, results


def _doc(model, kind, split, acc, song=None, leaky=False, folds=1, std=None):
    res = {"slice": {"accuracy": acc}} if std is None else {"slice": {"accuracy_mean": acc, "accuracy_std": std}}
    if song is not None:
        res["song"] = {"accuracy": song} if std is None else {"accuracy_mean": song, "accuracy_std": std}
    return {
        "model": model,
        "kind": kind,
        "results": res,
        "protocol": {
            "split": split,
            "leaky": leaky,
            "folds": folds,
            "n_test_songs": 10,
            "pretrained": False,
            "epochs_run": 3,
            "seed": 0,
        },
    }


def _write(run, nb, name, doc):
    d = run / nb / name
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps(doc))
    return d


def test_an_empty_run_gives_not_run_everywhere(tmp_path):
    t = results.table1(results.collect(tmp_path))
    assert len(t) == len(results.PAPER_TABLE1) + 2  # the paper's cells, then the baseline and musicnn (MSD) rows
    f = results.format_table1(t)
    assert (f["ours, test songs"] == results.NOT_RUN).all() and (f["ours, paper protocol"] == results.NOT_RUN).all()
    assert list(f["paper (leaky val.)"][:2]) == ["53.5%", "79.0%"]
    assert list(f["paper (leaky val.)"][-2:]) == [results.BASELINE, results.BEYOND]
    summary, doc = results.vae_table(tmp_path)
    assert doc is None and summary.iloc[0]["accuracy"] == results.NOT_RUN
    assert results.best_model([]) is None and overview.plot_overview([]) is None
    assert results.run_times(tmp_path).empty


def test_table1_puts_each_figure_beside_its_protocol(tmp_path):
    run = tmp_path / "run"
    _write(run, "03_vanilla_cnn", "vanilla_cnn-mfcc-song", _doc("vanilla_cnn", "mfcc", "song", 0.40, 0.50))
    _write(run, "03_vanilla_cnn", "vanilla_cnn-mfcc-paper", _doc("vanilla_cnn", "mfcc", "paper", 0.85, leaky=True))
    _write(
        run,
        "03_vanilla_cnn",
        "vanilla_cnn-mel-kfold",
        _doc("vanilla_cnn", "mel", "kfold", 0.60, 0.70, folds=5, std=0.05),
    )
    (run / "04_transfer_learning" / "broken").mkdir(parents=True)
    (run / "04_transfer_learning" / "broken" / "metrics.json").write_text("{ half written")
    docs = results.collect(run)
    assert len(docs) == 3  # the torn file is skipped, not a crash
    t = results.table1(docs)
    mfcc = t[(t.input == "mfcc")].iloc[0]
    assert mfcc["ours, paper protocol"] == 0.85 and mfcc["test slices"] == 0.40 and mfcc["test songs"] == 0.50
    assert mfcc["leak"] == 0.85 - 0.40
    mel = t[(t.model == "vanilla_cnn") & (t.input == "mel")].iloc[0]
    assert mel["split"] == "kfold" and mel["test songs ± std"] == 0.05 and pd.isna(mel["leak"])
    f = results.format_table1(t)
    row = f[(f.model == "vanilla_cnn") & (f.input == "mel")].iloc[0]
    assert row["ours, test songs"] == "70.0% ± 5.0%" and row["ours, paper protocol"] == results.NOT_RUN
    assert f[f.model == "densenet121"].iloc[0]["ours, test songs"] == results.NOT_RUN
    paths = results.write_tables(run / "06_results", t, f)
    back = pd.read_csv(paths["csv"])
    assert len(back) == len(t) and back.loc[back.input == "mfcc", "test songs"].iloc[0] == 0.5
    md = paths["md"].read_text()
    assert "| vanilla_cnn | mfcc | 79.0% | 85.0% | song | 40.0% | 50.0% | +45.0% |" in md
    assert "random split of 5-s slices" in md


def test_markdown_table_shape():
    md = results.to_markdown(pd.DataFrame({"a": [1, None], "b": ["x", "y"]}))
    lines = md.strip().splitlines()
    assert lines[0] == "| a | b |" and lines[1] == "|---|---|" and len(lines) == 4


def test_rows_beyond_the_paper_follow_its_cells(tmp_path):
    run = tmp_path / "run"
    _write(
        run,
        "04_transfer_learning",
        "baseline_lr-mel-kfold",
        _doc("baseline_lr", "mel", "kfold", 0.6, 0.7, folds=5, std=0.05),
    )
    _write(
        run,
        "04_transfer_learning",
        "probe_mtt_musicnn-musicnn-song",
        _doc("probe_mtt_musicnn", "musicnn", "song", 0.8, 0.9),
    )
    t = results.table1(results.collect(run))
    f = results.format_table1(t).set_index("model")
    assert f.loc["baseline_lr", "paper (leaky val.)"] == results.BASELINE
    assert f.loc["baseline_lr", "ours, test songs"] == "70.0% ± 5.0%"
    assert f.loc["probe_mtt_musicnn", "paper (leaky val.)"] == results.BEYOND
    assert f.loc["probe_mtt_musicnn", "ours, test songs"] == "90.0%"
    assert f.loc["msd_musicnn", "ours, test songs"] == results.NOT_RUN
    assert list(t.model[: len(results.PAPER_TABLE1)]) == [m for m, _, _ in results.PAPER_TABLE1]


def test_best_model_is_chosen_on_validation_never_on_test(tmp_path):
    run = tmp_path / "run"

    def experiment(name, test_song, val_song, split="song", folds=1):
        doc = {
            **_doc("vanilla_cnn", "mel", split, test_song, song=test_song, folds=folds),
            "validation": {"song": {"accuracy": val_song}},
        }
        d = _write(run, "03_vanilla_cnn", name, doc)
        target = d / "fold_0" if folds > 1 else d
        target.mkdir(exist_ok=True)
        if folds > 1:
            (target / "metrics.json").write_text(json.dumps({**doc, "protocol": {**doc["protocol"], "folds": 1}}))
        for f in ("model.keras", "features.json"):
            (target / f).write_text("x")
        return target

    experiment("best-on-test", test_song=0.9, val_song=0.5)
    chosen = experiment("best-on-validation", test_song=0.6, val_song=0.8, split="kfold", folds=3)
    pick = results.best_model(results.collect(run))
    assert pick["model"] == chosen / "model.keras"
    assert (pick["split"], pick["fold"], pick["validation_accuracy"]) == ("kfold", 0, 0.8)
    no_validation = {**_doc("vanilla_cnn", "mfcc", "song", 1.0, song=1.0), "path": str(tmp_path)}
    assert results.best_model([no_validation]) is None  # a model without validation scores is never picked


def test_confusion_plot_writes_every_count_in_its_cell():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = [[3, 0, 1], [0, 2, 0], [5, 0, 0]]
    fig = diagnostics.plot_confusion({"song": {"confusion": cm}}, ["a", "b", "c"], title="t")
    ax = fig.axes[0]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert cells == {(i, j): str(v) for i, row in enumerate(cm) for j, v in enumerate(row)}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"] and ax.get_title() == "t"
    plt.close(fig)


def test_table1_names_the_weights_each_row_started_from():
    assert [results.weights_label(v) for v in ("imagenet", "MSD_musicnn", False, None)] == [
        "imagenet",
        "MSD_musicnn",
        "none",
        "–",
    ]
