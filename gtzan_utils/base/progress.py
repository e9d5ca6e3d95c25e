"""Progress of long loops: tqdm's live bar in a terminal or a live notebook, plain text lines under papermill.

A saved notebook keeps neither widget state nor the carriage returns a live bar redraws itself with, so
papermill's copy of a ``tqdm.auto`` bar reads as a stale ``0%|  | 0/100`` or a broken widget. Under papermill
(:func:`gtzan_utils.base.progress.in_papermill`) :func:`progress` prints a few plain lines instead — one per quarter of
the work, at least one a minute, and one at the end — each drawn by tqdm's own formatter, e.g.::

    featurize mel:  50%|#####     | 20/40 [00:12<00:12,  1.60song/s]

Used by ``data.validate`` (notebook 01_data_exploration), ``store.build_stores`` (02_preprocessing) and the
synthetic GTZAN (``synth``).
"""

from __future__ import annotations

import math
import os
import sys
import time


def progress(
    iterable,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    initial: int = 0,
    disable: bool = False,
    every: float = 0.25,
    min_interval: float = 60.0,
    size=None,
):
    """Wrap ``iterable`` so that its progress shows; returns an iterable of the same items.

    Live (terminal, JupyterLab, Colab): a ``tqdm.auto`` bar. Under papermill: plain lines on stdout after each
    ``every`` share of ``total`` (or of ``len(iterable)``), at least every ``min_interval`` seconds, and at the
    end. ``initial`` counts work done before (e.g. a resumed run). ``disable`` returns ``iterable`` untouched.
    ``size(item)`` is how many ``unit``s an item counts for (default 1: e.g. a shard of songs counts its songs).

    Notebook: 01_data_exploration (validation), 02_preprocessing (featurizing).
    """
    if disable:
        return iterable
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if not in_papermill():
        from tqdm.auto import tqdm

        if size is None:
            return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial)
        return _weighted_bar(tqdm(total=total, desc=desc, unit=unit, initial=initial), iterable, size)
    return _lines(iterable, total, desc, unit, initial, every, min_interval, size or (lambda _: 1))


def _weighted_bar(bar, iterable, size):
    try:
        for item in iterable:
            bar.update(size(item))
            yield item
    finally:
        bar.close()


def _lines(iterable, total, desc, unit, initial, every, min_interval, size):
    from tqdm import tqdm

    def line(n, elapsed):
        rate = (n - initial) / elapsed if elapsed > 0 else None
        print(
            tqdm.format_meter(n, total, elapsed, prefix=desc, unit=unit, ascii=True, rate=rate),
            file=sys.stdout,
            flush=True,
        )

    t0 = last = time.perf_counter()
    marks = sorted({math.ceil(total * every * k) for k in range(1, math.ceil(1 / every))}) if total else []
    n = initial
    for item in iterable:
        n += size(item)
        yield item
        now = time.perf_counter()
        passed = [m for m in marks if m <= n]
        if passed or now - last >= min_interval:
            marks = marks[len(passed) :]
            if not total or n < total:
                line(n, now - t0)
                last = now
    line(n, time.perf_counter() - t0)


def in_papermill() -> bool:
    """True when the ``gtzan run`` runner executes the notebook (it sets ``GTZAN_PAPERMILL=1``)."""
    return os.environ.get("GTZAN_PAPERMILL") == "1"
