"""What fast_channels/_compat.py reads beyond its dependencies' public APIs, checked against the
installed releases: an upgrade that removes a piece fails here, naming it and where to update.
uvicorn's transport is checked under real uvicorn in tests/consumer/test_compat.py."""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import hiredis
import pytest
import redis
from packaging.requirements import Requirement
from packaging.version import Version
from prometheus_client import CollectorRegistry, Counter, Histogram
from redis import asyncio as aioredis
from redis.exceptions import ResponseError, TryAgainError

from fast_channels import _compat
from fast_channels.consumer import _json
from fast_channels.observability.batching import (
    BatchedCounter,
    BatchedHistogram,
    batched,
    flush,
)
from tests.support.redis_server import RedisServer

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# Each dependency whose internals _compat.py reads, and the major release it stays below.
PINNED_BELOW = {"redis": 9, "hiredis": 4, "prometheus-client": 1, "uvicorn": 1}


def missing(obj: object, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if not hasattr(obj, name)]


class _Replies(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.replies: asyncio.Queue[Any] = asyncio.Queue()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            self.replies.put_nowait(reply)


async def test_redis_py_hands_over_a_connected_transport(redis_server: RedisServer) -> None:
    pool = aioredis.ConnectionPool.from_url(redis_server.url)
    connection = pool.make_connection()
    await connection.connect()
    gone = missing(connection, _compat.REDIS_CONNECTION_ATTRIBUTES)
    assert not gone, (
        f"redis-py {redis.__version__}: {type(connection).__name__} has no {gone}: "
        "update take_over_transport() in fast_channels/_compat.py"
    )
    assert callable(getattr(connection._parser, "on_disconnect", None)), (
        f"redis-py {redis.__version__}: {type(connection._parser).__name__} has no "
        "on_disconnect(): update take_over_transport() in fast_channels/_compat.py"
    )
    protocol = _Replies()
    transport, writer = _compat.take_over_transport(connection, protocol)
    try:
        assert connection._reader is None
        assert connection._writer is None
        transport.write(hiredis.pack_command(("PING",)))
        assert await asyncio.wait_for(protocol.replies.get(), 5) == b"PONG"
    finally:
        transport.abort()
        del writer  # only now: its __del__ warns about an open transport
        await pool.aclose()


def test_redis_py_error_reply_parsing_is_there() -> None:
    parsers = importlib.import_module("redis._parsers")
    parse_error = getattr(getattr(parsers, "BaseParser", None), "parse_error", None)
    assert callable(parse_error), (
        f"redis-py {redis.__version__}: no redis._parsers.BaseParser.parse_error: "
        "update parse_error_reply() in fast_channels/_compat.py"
    )
    error = _compat.parse_error_reply("TRYAGAIN Multiple keys request during rehashing of slot")
    assert type(error) is TryAgainError
    assert type(_compat.parse_error_reply("WRONGTYPE Operation against a key")) is ResponseError


def test_prometheus_client_histogram_internals_are_there() -> None:
    version = metadata.version("prometheus-client")
    registry = CollectorRegistry()
    histogram = Histogram("probe_seconds", "probe", ["k"], buckets=(0.1, 1.0), registry=registry)
    counter = Counter("probe", "probe", ["k"], registry=registry)
    child = histogram.labels("a")
    gone = missing(child, (*_compat.HISTOGRAM_ATTRIBUTES, "_type"))
    assert not gone, (
        f"prometheus_client {version}: a Histogram child has no {gone}: update "
        "fast_channels/_compat.py (meanwhile batching.batched() updates histograms directly)"
    )
    assert _compat.metric_kind(child) == "histogram"
    assert _compat.metric_kind(counter.labels("a")) == "counter"
    assert _compat.histogram_bounds(child) == [0.1, 1.0, math.inf]
    # The batched stand-ins are really used with this release, and flush the right figures.
    assert isinstance(batched(counter.labels("a")), BatchedCounter)
    stand_in = batched(child)
    assert isinstance(stand_in, BatchedHistogram)
    for value in (0.05, 0.5, 0.5, 5.0):
        stand_in.observe(value)
    flush()

    def sample(suffix: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"probe_seconds_{suffix}", {"k": "a", **labels})

    assert [sample("bucket", le=le) for le in ("0.1", "1.0", "+Inf")] == [1.0, 3.0, 4.0]
    assert sample("count") == 4.0
    assert sample("sum") == pytest.approx(6.05)


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's C accelerator")
def test_json_c_encoder_is_there_and_encodes_as_dumps_does() -> None:
    assert _compat.c_make_encoder is not None, (
        f"Python {sys.version.split()[0]}: json.encoder has no c_make_encoder: update "
        "fast_channels/_compat.py (meanwhile send_json uses json.dumps)"
    )
    assert _json.dumps is not json.dumps  # the reused encoder is in use
    values: list[Any] = [
        {"a": [1, 2.5, None, True, False], "é": "\u2028 \x00", 3: {}},
        [],
        "plain",
        math.nan,
        -math.inf,
        10**30,
    ]
    for value in values:
        assert _json.dumps(value) == json.dumps(value)


async def test_asyncio_lets_a_handler_run_as_another_task() -> None:
    assert _compat.swap_current_task is not None, (
        f"Python {sys.version.split()[0]}: asyncio.tasks has neither _swap_current_task nor "
        "a _current_tasks dict: update fast_channels/_compat.py (meanwhile "
        "every consumer handler runs in its own task, consumer/direct.py)"
    )
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    other = loop.create_task(asyncio.sleep(1))
    previous = _compat.swap_current_task(loop, other)
    try:
        assert previous is me
        assert asyncio.current_task() is other
    finally:
        assert _compat.swap_current_task(loop, previous) is other
    assert asyncio.current_task() is me
    # From a loop callback (no task current), as a fan-out run outside any task does (an
    # in-memory group_send called from a callback):
    # swapped in and out again, and tasks still step as before (asyncio checks what is current).
    seen: list[object] = []
    swap = _compat.swap_current_task

    def callback() -> None:
        previous = swap(loop, other)
        seen.extend([previous, asyncio.current_task(loop)])
        swap(loop, previous)
        seen.append(asyncio.current_task(loop))

    loop.call_soon(callback)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert seen == [None, other, None]
    assert asyncio.current_task() is me
    other.cancel()


def test_dependencies_whose_internals_we_read_are_pinned_below_their_next_major() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    declared = {
        Requirement(line).name.lower(): Requirement(line) for line in project["dependencies"]
    }
    for name, major in PINNED_BELOW.items():
        assert name in declared, f"{name} is not a declared dependency"
        specifier = declared[name].specifier
        assert f"<{major}" in {str(spec) for spec in specifier}, (
            f"{name} wants an upper bound <{major} in pyproject.toml, has {specifier}"
        )
        installed = Version(metadata.version(name))
        assert installed in specifier, f"installed {name} {installed} is outside {specifier}"
