"""Batched counters and histograms: the same figures as direct updates, whoever reads them."""

from __future__ import annotations

import asyncio
import threading

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from fast_channels.observability import batching
from fast_channels.observability.batching import BatchedCounter, BatchedHistogram, batched
from fast_channels.observability.metrics import LATENCY_BUCKETS


def samples(registry: CollectorRegistry, name: str) -> dict[str, float]:
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for metric in registry.collect()
        for s in metric.samples
        if s.name.startswith(name) and not s.name.endswith("_created")
    }


def test_a_batched_histogram_matches_prometheus_client_bucket_for_bucket() -> None:
    registry = CollectorRegistry()
    direct = Histogram("direct_seconds", "d", ["l"], buckets=LATENCY_BUCKETS, registry=registry)
    via_batch = Histogram("batched_seconds", "b", ["l"], buckets=LATENCY_BUCKETS, registry=registry)
    wrapper = batched(via_batch.labels("x"))
    assert isinstance(wrapper, BatchedHistogram)
    # Bounds themselves, values between, below the first, above the last, and zero.
    values = [*LATENCY_BUCKETS, 0.0, 0.0001, 0.0007, 0.003, 0.7, 7.0, 11.0, 1e9]
    for value in values:
        direct.labels("x").observe(value)
        wrapper.observe(value)
    batching.flush()
    expected = {k.replace("direct", "batched"): v for k, v in samples(registry, "direct").items()}
    assert samples(registry, "batched") == expected


def test_a_histogram_counting_into_a_counter_counts_each_observation_once() -> None:
    registry = CollectorRegistry()
    sizes = Histogram("sizes_bytes", "s", ["l"], buckets=(10, 100), registry=registry)
    frames = Counter("frames", "f", ["l"], registry=registry)
    counted = batched(sizes.labels("x"), counts_into=frames.labels("x"))
    own = batched(frames.labels("x"))  # what is counted without a size
    for value in (5, 50, 500):
        counted.observe(value)
    own.inc()
    batching.flush()
    assert registry.get_sample_value("frames_total", {"l": "x"}) == 4
    assert registry.get_sample_value("sizes_bytes_count", {"l": "x"}) == 3
    counted.observe(7)
    batching.flush()
    batching.flush()  # nothing new: counted once, not at every flush
    assert registry.get_sample_value("frames_total", {"l": "x"}) == 5
    assert registry.get_sample_value("sizes_bytes_bucket", {"l": "x", "le": "10.0"}) == 2


def test_an_unbatchable_observer_still_counts_into_its_counter() -> None:
    # A child whose internals BatchedHistogram does not read (here a Summary) is updated
    # directly, and its counter must not lose what the histogram would have counted at flush.
    from prometheus_client import Summary

    registry = CollectorRegistry()
    sizes = Summary("direct_sizes_bytes", "s", ["l"], registry=registry)
    frames = Counter("direct_frames", "f", ["l"], registry=registry)
    counted = batched(sizes.labels("x"), counts_into=frames.labels("x"))
    assert not isinstance(counted, BatchedHistogram)
    counted.observe(12)
    counted.observe(30)
    assert registry.get_sample_value("direct_frames_total", {"l": "x"}) == 2
    assert registry.get_sample_value("direct_sizes_bytes_sum", {"l": "x"}) == 42


def test_gauges_are_not_batched() -> None:
    from prometheus_client import Gauge

    registry = CollectorRegistry()
    child = Gauge("plain_gauge", "g", ["l"], registry=registry).labels("x")
    assert batched(child) is child


def test_an_update_is_visible_to_the_next_read_of_the_registry() -> None:
    counter = Counter("fast_channels_test_batched", "t", ["l"])
    try:
        wrapper = batched(counter.labels("x"))
        assert isinstance(wrapper, BatchedCounter)
        wrapper.inc()
        wrapper.inc(2)
        # No explicit flush: the registry's collect flushes first.
        assert REGISTRY.get_sample_value("fast_channels_test_batched_total", {"l": "x"}) == 3
        wrapper.inc()
        assert REGISTRY.get_sample_value("fast_channels_test_batched_total", {"l": "x"}) == 4
    finally:
        REGISTRY.unregister(counter)


def test_flushing_from_another_thread_loses_and_doubles_nothing() -> None:
    registry = CollectorRegistry()
    counter = Counter("threaded", "t", registry=registry)
    wrapper = batched(counter)
    stop = threading.Event()

    def scrape() -> None:
        while not stop.is_set():
            batching.flush()

    scraper = threading.Thread(target=scrape)
    scraper.start()
    try:
        for _ in range(200_000):
            wrapper.inc()
    finally:
        stop.set()
        scraper.join()
    batching.flush()
    assert registry.get_sample_value("threaded_total") == 200_000


async def test_multiprocess_mode_flushes_on_a_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under multiprocess mode a scrape reads the workers' files, not this registry: updates
    # must reach them without any collect here.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent-only-checked-for-presence")
    monkeypatch.setattr(batching, "FLUSH_INTERVAL", 0.0)
    registry = CollectorRegistry()
    counter = Counter("timed", "t", registry=registry)
    wrapper = batched(counter)
    wrapper.inc(5)
    for _ in range(100):
        if counter._value.get() == 5:
            break
        await asyncio.sleep(0.01)
    assert counter._value.get() == 5
