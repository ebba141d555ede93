"""A consumer on a Redis layer still cleans up, within its bound, when Redis is gone."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.layers import channel_layers, register_channel_layer
from fast_channels.layers.redis import RedisChannelLayer
from fast_channels.testing import WebsocketCommunicator
from tests.support.redis_server import RedisServer

disconnects: list[int] = []


class Member(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "doomed"
    groups = ["lobby", "news"]
    cleanup_timeout = 1.0

    async def disconnect(self, code: int) -> None:
        disconnects.append(code)


@pytest.fixture
async def doomed(own_redis_server: RedisServer) -> AsyncIterator[RedisChannelLayer]:
    layer = RedisChannelLayer(
        hosts=[own_redis_server.url], prefix=f"down-{uuid.uuid4().hex[:6]}", socket_timeout=0.5
    )
    register_channel_layer("doomed", layer)
    yield layer
    channel_layers.unregister("doomed")
    await layer.close()


async def test_redis_down_cleanup_still_runs_within_its_bound(
    doomed: RedisChannelLayer, own_redis_server: RedisServer
) -> None:
    disconnects.clear()
    client = WebsocketCommunicator(Member.as_asgi(), "/")
    assert (await client.connect())[0]
    assert doomed._groups  # joined both groups locally (and in Redis)
    own_redis_server.stop()
    started = time.monotonic()
    await client.disconnect(timeout=5)
    elapsed = time.monotonic() - started
    # Two group_discards fail (each bounded by cleanup_timeout), disconnect() still runs once,
    # and the layer forgets the channel and its memberships locally.
    assert disconnects == [1000]
    assert elapsed < 2 * Member.cleanup_timeout + 1
    assert doomed._groups == {}
    assert doomed._local == {}
