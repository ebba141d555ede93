"""Process-wide log lines (the receive loop's, the subscriber's) carry no consumer's context,
though the first consumer's receive is what started them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import structlog
from structlog.testing import capture_logs

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.layers import channel_layers, register_channel_layer
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.layers.redis.common import RedisLayerBase
from fast_channels.testing import WebsocketCommunicator
from tests.layers.redis.conftest import metric
from tests.support.redis_server import RedisServer

ALIAS = "log-context"
PROCESS_WIDE = {
    "fast_channels.layer.redis_error",
    "fast_channels.layer.reconnected",
    "fast_channels.layer.subscriber_disconnected",
}


class Member(AsyncJsonWebsocketConsumer):
    channel_layer_alias = ALIAS
    groups = ["lobby"]


@pytest.fixture(params=[RedisChannelLayer, RedisPubSubChannelLayer])
async def layer(
    request: pytest.FixtureRequest, own_redis_server: RedisServer
) -> AsyncIterator[RedisLayerBase]:
    made: RedisLayerBase = request.param(
        hosts=[own_redis_server.url], prefix=f"ctx-{uuid.uuid4().hex[:6]}", socket_timeout=0.5
    )
    register_channel_layer(ALIAS, made)
    yield made
    channel_layers.unregister(ALIAS)
    await made.close()


async def test_the_loops_log_lines_carry_no_consumer_context(
    layer: RedisLayerBase, own_redis_server: RedisServer
) -> None:
    op = "receive" if isinstance(layer, RedisChannelLayer) else "subscribe"
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        client = WebsocketCommunicator(Member.as_asgi(), "/")
        assert (await client.connect())[0]  # its receive started the layer's loop
        own_redis_server.stop()
        deadline = time.monotonic() + 10
        while metric("layer_redis_errors_total", layer=layer.alias, op=op) < 1:
            assert time.monotonic() < deadline, "the loop saw no Redis error"
            await asyncio.sleep(0.05)
        own_redis_server.start()
        while metric("layer_reconnects_total", layer=layer.alias, op=op) < 1:
            assert time.monotonic() < deadline, "the loop did not reconnect"
            await asyncio.sleep(0.05)
        await client.disconnect()
    consumer_lines = [entry for entry in logs if entry["event"] == "websocket connected"]
    assert consumer_lines
    assert "connection_id" in consumer_lines[0]  # the consumer's context was bound
    loop_lines = [
        entry for entry in logs if entry["event"] in PROCESS_WIDE and entry.get("op", op) == op
    ]
    assert {entry["event"] for entry in loop_lines} >= {
        "fast_channels.layer.redis_error",
        "fast_channels.layer.reconnected",
    }
    for entry in loop_lines:
        assert "connection_id" not in entry, entry
        assert "channel" not in entry, entry
