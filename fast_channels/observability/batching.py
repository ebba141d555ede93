"""Counters and histograms updated per message in plain Python, pushed into prometheus_client
in batches.

A prometheus_client update takes a lock (a histogram one also walks its buckets in Python):
~1 µs, and a delivered message made five of them. Here an update is an addition; the totals
reach the real metric children (through the histogram internals fast_channels/_compat.py
reads) when anything reads them:

- `Flusher` is registered in the default REGISTRY before any of our metrics, so every collect
  (a /metrics scrape, `generate_latest`, `REGISTRY.get_sample_value` in tests) flushes first;
- under prometheus_client's multiprocess mode the scrape reads files, so `render_metrics`
  flushes this process explicitly, and a timer flushes every `FLUSH_INTERVAL` seconds while
  there are updates: the other workers' figures are at most that late.

The event loop's thread updates; a scrape may flush from another thread (start_http_server).
Only the loop thread writes the running totals and only a flush (under a lock) writes what
was flushed, so no update is lost or counted twice.

Kept instead of updating prometheus_client directly, a measured win: one of the consumer-side
changes of the 2026-11-25 bench run (ops/bench/README.md, "What made the difference").
"""

from __future__ import annotations

import asyncio
import bisect
import os
import threading
from collections.abc import Iterable
from typing import Any

from fast_channels import _compat

FLUSH_INTERVAL = 1.0
_bisect_left = bisect.bisect_left  # a global, not a module attribute, per observation

_lock = threading.Lock()
_dirty: list[_Batched] = []
_timer: dict[str, Any] = {"loop": None}  # the loop a periodic flush is pending on


def _periodic() -> bool:
    # prometheus_client reads this variable too, at import, to choose its file-backed values.
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class _Batched:
    __slots__ = ("_child", "_dirty")

    def __init__(self, child: Any) -> None:
        self._child = child
        self._dirty = False

    def _mark_dirty(self) -> None:
        with _lock:
            if self._dirty:
                return
            self._dirty = True
            _dirty.append(self)
        if _periodic():
            _schedule_flush()

    def _flush(self) -> None:
        raise NotImplementedError


class BatchedCounter(_Batched):
    """A counter child's `inc`, batched."""

    __slots__ = ("_flushed", "_total")

    def __init__(self, child: Any) -> None:
        super().__init__(child)
        self._total: float = 0
        self._flushed: float = 0

    def inc(self, amount: float = 1) -> None:
        self._total += amount
        if not self._dirty:
            self._mark_dirty()

    def _flush(self) -> None:
        total = self._total
        if total != self._flushed:
            self._child.inc(total - self._flushed)
            self._flushed = total


class BatchedHistogram(_Batched):
    """A histogram child's `observe`, batched: counts per bucket and the sum. With
    `counts_into` (a counter child), every observation also counts one there, at flush: a
    message counted and measured costs one update, not two."""

    __slots__ = (
        "_bounds",
        "_counts",
        "_counts_into",
        "_flushed_counts",
        "_flushed_sum",
        "_sum",
    )

    def __init__(self, child: Any, counts_into: Any = None) -> None:
        super().__init__(child)
        self._bounds: list[float] = _compat.histogram_bounds(child)  # ends with +Inf
        self._counts = [0] * len(self._bounds)
        self._flushed_counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._flushed_sum = 0.0
        self._counts_into = counts_into

    def observe(self, amount: float) -> None:
        # The first bucket whose upper bound is >= amount, as prometheus_client counts it.
        self._counts[_bisect_left(self._bounds, amount)] += 1
        self._sum += amount
        if not self._dirty:
            self._mark_dirty()

    def _flush(self) -> None:
        buckets = _compat.histogram_buckets(self._child)
        flushed = self._flushed_counts
        observed = 0
        for index, count in enumerate(self._counts):
            if count != flushed[index]:
                buckets[index].inc(count - flushed[index])
                observed += count - flushed[index]
                flushed[index] = count
        total = self._sum
        if total != self._flushed_sum:
            _compat.histogram_sum(self._child).inc(total - self._flushed_sum)
            self._flushed_sum = total
        if observed and self._counts_into is not None:
            self._counts_into.inc(observed)


def batched(child: Any, counts_into: Any = None) -> Any:
    """A batched stand-in for a Counter or Histogram child; anything else (gauges, or a
    prometheus_client whose internals differ) is returned as it is: updated directly.
    `counts_into`: a counter child that a histogram's every observation also counts one on."""
    kind = _compat.metric_kind(child)
    if kind == "counter":
        return BatchedCounter(child)
    if kind == "histogram" and _compat.histogram_internals_present(child):
        return BatchedHistogram(child, counts_into)
    if counts_into is not None:
        return _CountingObserver(child, counts_into)
    return child


class _CountingObserver:
    """A histogram child updated directly that also counts each observation on a counter (a
    prometheus_client whose histogram internals differ from what BatchedHistogram reads)."""

    __slots__ = ("_child", "_counts_into")

    def __init__(self, child: Any, counts_into: Any) -> None:
        self._child = child
        self._counts_into = counts_into

    def observe(self, amount: float) -> None:
        self._child.observe(amount)
        self._counts_into.inc()


def flush() -> None:
    """Push every pending update into the prometheus_client children."""
    with _lock:
        pending = _dirty[:]
        _dirty.clear()
        for item in pending:
            # Marked clean before its totals are read: an update racing this flush either
            # is included or marks the item dirty again, never neither.
            item._dirty = False  # why: this module's own items, flushed under its lock
        for item in pending:
            item._flush()  # why: as above


def _schedule_flush() -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        flush()  # no loop to flush later: now
        return
    with _lock:
        if _timer["loop"] is loop:
            return
        _timer["loop"] = loop
    loop.call_later(FLUSH_INTERVAL, _timed_flush)


def _timed_flush() -> None:
    with _lock:
        _timer["loop"] = None
    flush()


class Flusher:
    """A collector that yields nothing: registered ahead of our metrics, so that a collect of
    the registry flushes before it reads them."""

    def describe(self) -> Iterable[Any]:
        return ()

    def collect(self) -> Iterable[Any]:
        flush()
        return ()
