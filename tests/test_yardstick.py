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


def test_the_yardstick_downloads_its_excerpts_with_sha256_checks(tmp_path, http_root):
    """download_real fetches each listed file from the source into the archive's layout, checking its hash; a good
    copy is reused; a file whose bytes differ from its listed hash is refused naming both hashes."""
    import hashlib

    import pytest

    from gtzan_utils.base.errors import GtzanError

    src, base_url = http_root
    lines = []
    for name in ("blues.00001.wav", "jazz.00002.wav"):
        (src / name).write_bytes(b"RIFF" + name.encode() * 50)
        lines.append(f"{hashlib.sha256((src / name).read_bytes()).hexdigest()}  genres/{name.split('.')[0]}/{name}")
    listing = tmp_path / "hashes.sha256"
    listing.write_text("\n".join(lines) + "\n")
    url = base_url + "/{name}"
    dest = yardstick.download_real(tmp_path / "real", url=url, hashes=listing, progress=False)
    got = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.wav"))
    assert got == ["genres/blues/blues.00001.wav", "genres/jazz/jazz.00002.wav"]
    assert (dest / "genres/jazz/jazz.00002.wav").read_bytes() == (src / "jazz.00002.wav").read_bytes()
    (src / "jazz.00002.wav").write_bytes(b"another file")  # the source changes: the local copy is still good
    yardstick.download_real(tmp_path / "real", url=url, hashes=listing, progress=False)
    (dest / "genres/jazz/jazz.00002.wav").unlink()
    with pytest.raises(GtzanError, match="hash") as err:
        yardstick.download_real(tmp_path / "real", url=url, hashes=listing, progress=False)
    assert lines[1].split()[0] in str(err.value)  # the expected hash is named


def test_the_listed_excerpts_are_those_of_the_shared_set():
    """The registry's hashes are the shared set's own (ids 00001-00004: 40 files, 4 per genre)."""
    listed = yardstick.REAL_HASHES.read_text().split()
    pairs = dict(zip(listed[1::2], listed[0::2]))
    assert len(pairs) == 40 and all(".0000" in name and not name.endswith("00000.wav") for name in pairs)
    shared = yardstick.DEFAULT_REAL / "SHA256SUMS"
    if shared.exists():
        theirs = shared.read_text().split()
        assert {k: v for k, v in zip(theirs[1::2], theirs[0::2])}.items() >= pairs.items()
