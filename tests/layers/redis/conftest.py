from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY

from fast_channels.layers.redis import RedisChannelLayer
from fast_channels.layers.redis.common import RedisLayerBase
from tests.support.redis_server import RedisServer


def metric(name: str, **labels: str) -> float:
    """The current value of a fast_channels metric sample (0 when never touched)."""
    return REGISTRY.get_sample_value(f"fast_channels_{name}", labels) or 0.0


def command_calls(server: RedisServer, command: str) -> int:
    """How many times the server ran `command`, from INFO commandstats."""
    client = redis.Redis.from_url(server.url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def raw_client(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url)


LayerFactory = Callable[..., RedisLayerBase]


@pytest.fixture
async def make_redis(redis_server: RedisServer) -> AsyncIterator[Callable[..., Any]]:
    """Build layers with a unique prefix and metrics alias; flushed and closed afterwards."""
    made: list[RedisLayerBase] = []

    def make(cls: type[RedisLayerBase] = RedisChannelLayer, **options: Any) -> Any:
        options.setdefault("hosts", [redis_server.url])
        options.setdefault("prefix", f"t-{uuid.uuid4().hex[:10]}")
        layer = cls(**options)
        layer.bind_alias(f"test-{uuid.uuid4().hex[:8]}")
        made.append(layer)
        return layer

    yield make
    for layer in made:
        with contextlib.suppress(redis.RedisError):
            await layer.flush()
        await layer.close()


async def joined(layer: RedisLayerBase, group: str, count: int) -> list[str]:
    """`count` new channels of `layer`, added to `group` one after another (join order)."""
    channels = [await layer.new_channel() for _ in range(count)]
    for channel in channels:
        await layer.group_add(group, channel)
    return channels


class WakeOrder:
    """A receiver waiting on each of `channels`; `order()`: the channels in the order that one
    message each woke their receivers in."""

    def __init__(self, layer: RedisLayerBase, channels: list[str]) -> None:
        self._woken: list[str] = []
        self._receivers = [asyncio.create_task(self._wait(layer, c)) for c in channels]

    async def _wait(self, layer: RedisLayerBase, channel: str) -> None:
        await layer.receive(channel)
        self._woken.append(channel)

    async def order(self, timeout: float = 5) -> list[str]:
        await asyncio.wait_for(asyncio.gather(*self._receivers), timeout)
        return self._woken
