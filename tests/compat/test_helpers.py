"""1.x's public helpers behave as 1.x code expects."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis import asyncio as aioredis

from fast_channels.layers.redis.serializers import MissingSerializer
from fast_channels.layers.redis.utils import create_pool, decode_hosts, wrap_close
from fast_channels.utils import await_many_dispatch, is_same_domain
from tests.support.redis_server import RedisServer


async def test_await_many_dispatch_passes_each_result_on() -> None:
    first: asyncio.Queue[Any] = asyncio.Queue()
    second: asyncio.Queue[Any] = asyncio.Queue()
    seen: list[Any] = []
    done = asyncio.Event()

    async def dispatch(message: Any) -> None:
        seen.append(message)
        if len(seen) == 3:
            done.set()

    task = asyncio.ensure_future(await_many_dispatch([first.get, second.get], dispatch))
    await first.put("a")
    await second.put("b")
    await first.put("c")
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(seen) == ["a", "b", "c"]


def test_is_same_domain_matches_exact_and_dotted_patterns() -> None:
    assert is_same_domain("example.com", "example.com")
    assert is_same_domain("example.com", ".example.com")
    assert is_same_domain("chat.example.com", ".Example.com")
    assert not is_same_domain("evilexample.com", ".example.com")
    assert not is_same_domain("example.com", "")


async def test_create_pool_connects_to_a_decoded_host(redis_server: RedisServer) -> None:
    pool = create_pool(decode_hosts([redis_server.url])[0])
    client = aioredis.Redis(connection_pool=pool)
    try:
        assert await client.ping()
    finally:
        await client.aclose(close_connection_pool=True)


def test_wrap_close_closes_the_layer_before_the_loop() -> None:
    closed: list[bool] = []

    class Layer:
        async def close(self) -> None:
            closed.append(asyncio.get_running_loop().is_running())

    loop = asyncio.new_event_loop()
    wrap_close(Layer(), loop)
    loop.close()
    assert closed == [True]
    assert loop.is_closed()


def test_missing_serializer_raises_its_exception() -> None:
    class NoCbor(MissingSerializer):
        exception = ImportError("pip install cbor2")

    with pytest.raises(ImportError, match="cbor2"):
        NoCbor()
