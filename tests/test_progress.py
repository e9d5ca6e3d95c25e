"""Progress under papermill is a few plain text lines, not a live bar that a saved notebook shows stale."""

from __future__ import annotations

from gtzan_utils.base.progress import progress


def test_papermill_progress_is_a_few_plain_lines(monkeypatch, capsys):
    monkeypatch.setenv("GTZAN_PAPERMILL", "1")
    assert list(progress(range(40), desc="featurize mel", unit="song")) == list(range(40))
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert err == "" and "\r" not in out
    assert [line.split("|")[0].split(":")[1].strip() for line in lines] == ["25%", "50%", "75%", "100%"]
    assert lines[-1].startswith("featurize mel: 100%|##########| 40/40") and "song/s" in lines[-1]


def test_resumed_and_unsized_work(monkeypatch, capsys):
    monkeypatch.setenv("GTZAN_PAPERMILL", "1")
    assert list(progress(iter(range(3)), total=10, initial=7, desc="synthetic GTZAN", unit="clip")) == [0, 1, 2]
    assert capsys.readouterr().out.splitlines()[-1].startswith("synthetic GTZAN: 100%|##########| 10/10")
    assert list(progress(iter("ab"), desc="x")) == ["a", "b"]  # no total: one line at the end
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("x: 2it")


def test_live_is_tqdm_and_disable_is_untouched(monkeypatch):
    monkeypatch.delenv("GTZAN_PAPERMILL", raising=False)
    items = [1, 2]
    assert progress(items, disable=True) is items
    bar = progress(items, desc="d")
    assert type(bar).__module__.startswith("tqdm") and list(bar) == items
