"""The real-music yardstick's command and the runner's handling of relative paths (no training here)."""

from __future__ import annotations

from pathlib import Path

from gtzan_utils.run import cli, runner, yardstick


def test_bench_real_skips_in_one_line_where_the_folder_is_absent(tmp_path, capsys):
    assert cli.main(["bench", "real", "--data", str(tmp_path / "nowhere")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "skipped" in out[0] and "nowhere" in out[0] and "--data" in out[0]
    assert not (tmp_path / "nowhere").exists()


def test_yardstick_table_is_sorted_and_labelled():
    rows = [
        {
            "model": "a",
            "input": "mfcc",
            "row": "paper",
            "song_mean": 0.5,
            "song_std": 0.1,
            "slice_mean": 0.4,
            "slice_std": 0.05,
            "folds": 5,
            "n_test_songs": 50,
        },
        {
            "model": "b",
            "input": "musicnn",
            "row": "beyond the paper",
            "song_mean": 0.8,
            "song_std": 0.05,
            "slice_mean": 0.7,
            "slice_std": 0.1,
            "folds": 5,
            "n_test_songs": 50,
        },
    ]
    text = yardstick.format_rows(rows, "50 real songs")
    lines = text.splitlines()
    assert lines[0].startswith("50 real songs") and "| b | musicnn" in lines[4] and "0.50 ± 0.10" in lines[5]


def test_relative_data_paths_are_made_absolute_for_the_kernels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fixed = runner._absolute_paths({"DATA": "songs", "05_vae_generation": {"STORE_DIR": "s"}, "SEED": 1})
    assert fixed["DATA"] == str(tmp_path / "songs") and fixed["SEED"] == 1
    assert fixed["05_vae_generation"]["STORE_DIR"] == str(tmp_path / "s")
    assert runner._absolute_paths({"DATA": "synth"})["DATA"] == "synth"  # keywords stay
    assert Path(runner._absolute_paths({"DATA": "/abs"})["DATA"]) == Path("/abs")


def test_a_profile_resolves_to_what_each_notebook_receives():
    p = runner.resolve_parameters("cpu", "03_vanilla_cnn", {"EPOCHS": 2})
    assert p["INPUT_SIZE"] == "64x108" and p["EPOCHS"] == 2 and p["MIN_EPOCHS"] >= 1  # profile, override, default
    assert "DATA" not in p  # not a parameter of 03
    quick = runner.resolve_parameters("quick", "02_preprocessing")
    assert quick["DATA"] == "synth" and quick["TRAIN_HOP_SECONDS"] == 2.5
