"""Widgets without a browser: the clip explorer's logic, the static fallbacks, each widget displayed once."""

from __future__ import annotations

import base64

import pytest

from gtzan_utils.data import dataset, explore

pytest.importorskip("ipywidgets")


@pytest.fixture
def tracks(tmp_path):
    from conftest import write_dataset

    root = write_dataset(tmp_path / "genres", genres=("blues", "jazz", "rock"), per_genre=2, seconds=1.5)
    return dataset.find_dataset(root)


def _kinds(outputs):
    return [next(k for k in o["data"] if k != "text/plain") for o in outputs]


def test_explorer_opens_on_the_first_clip_of_the_first_genre(tracks, monkeypatch):
    monkeypatch.delenv("GTZAN_PAPERMILL", raising=False)
    ex = explore.ClipExplorer(tracks, seconds=1.0)
    assert ex.genre.value == "blues" and ex.clip.value == "blues.00000"
    assert list(ex.clip.options) == ["blues.00000", "blues.00001"]
    assert _kinds(ex.out.outputs) == ["image/png", "text/html"]
    assert base64.b64decode(ex.out.outputs[0]["data"]["image/png"])[:4] == b"\x89PNG"
    assert "<audio" in ex.out.outputs[1]["data"]["text/html"]


def test_a_genre_change_selects_and_draws_its_first_clip(tracks, monkeypatch):
    monkeypatch.delenv("GTZAN_PAPERMILL", raising=False)
    ex = explore.ClipExplorer(tracks, seconds=1.0)
    before = ex.out.outputs
    ex.genre.value = "jazz"
    assert list(ex.clip.options) == ["jazz.00000", "jazz.00001"] and ex.clip.value == "jazz.00000"
    assert ex.out.outputs != before and _kinds(ex.out.outputs) == ["image/png", "text/html"]
    assert "jazz.00000" in ex.out.outputs[0]["data"]["text/plain"]
    # picking a clip by hand draws that clip; back to a genre shows its first clip again
    ex.clip.value = "jazz.00001"
    assert "jazz.00001" in ex.out.outputs[0]["data"]["text/plain"]
    ex.genre.value = "rock"
    assert ex.clip.value == "rock.00000" and "rock.00000" in ex.out.outputs[0]["data"]["text/plain"]


def test_each_draw_happens_once_per_change(tracks, monkeypatch):
    monkeypatch.delenv("GTZAN_PAPERMILL", raising=False)
    calls = []
    real = explore.clip_outputs
    monkeypatch.setattr(explore, "clip_outputs", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    ex = explore.ClipExplorer(tracks, seconds=1.0)
    ex.genre.value = "rock"
    assert calls == ["blues.00000", "rock.00000"]


def test_explorer_is_displayed_once_live_and_static_under_papermill(tracks, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: shown.append((objs, kw)))
    monkeypatch.delenv("GTZAN_PAPERMILL", raising=False)
    assert explore.clip_explorer(tracks, seconds=1.0) is None  # a returned box would be displayed a second time
    assert len(shown) == 1 and type(shown[0][0][0]).__name__ == "VBox"
    shown.clear()
    monkeypatch.setenv("GTZAN_PAPERMILL", "1")
    assert explore.clip_explorer(tracks, seconds=1.0) is None
    assert [kw.get("raw") for _, kw in shown] == [True, True]
    assert "image/png" in shown[0][0][0] and "<audio" in shown[1][0][0]["text/html"]
