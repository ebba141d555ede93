"""join_group() over the Redis layers' history: a returning client recovers every missed
message once, in order; after Redis restarted empty it is told its recovery is incomplete."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
from redis.exceptions import RedisError

from fast_channels.consumer.websocket import AsyncJsonWebsocketConsumer
from fast_channels.layers import channel_layers, register_channel_layer
from fast_channels.layers.history import Position
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.layers.redis.common import RedisLayerBase
from fast_channels.testing import WebsocketCommunicator
from tests.support.redis_server import RedisServer

ALIAS = "redis-recovery"


class Room(AsyncJsonWebsocketConsumer):
    channel_layer_alias = ALIAS

    async def connect(self) -> None:
        await self.accept()
        await self.join_group("room.1")

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"text": event["text"]})


@pytest.fixture(params=[RedisChannelLayer, RedisPubSubChannelLayer], ids=["queue", "pubsub"])
async def layer(
    request: pytest.FixtureRequest, own_redis_server: RedisServer
) -> AsyncIterator[RedisLayerBase]:
    made = request.param(
        hosts=[own_redis_server.url],
        prefix=f"r-{uuid.uuid4().hex[:8]}",
        group_history={"room.*": (50, 60)},
    )
    register_channel_layer(ALIAS, made)
    yield made
    channel_layers.unregister(ALIAS)
    await made.close()


async def say(layer: RedisLayerBase, text: str) -> None:
    await layer.group_send("room.1", {"type": "chat.message", "text": text})


async def connect(position: Position | None) -> Any:
    path = "/ws"
    if position is not None:
        query = {"room.1": {"epoch": position.epoch, "offset": position.offset}}
        path += "?recover=" + quote(json.dumps(query))
    ws = WebsocketCommunicator(Room.as_asgi(), path)
    connected, _ = await ws.connect()
    assert connected
    return ws


@pytest.mark.timeout(60)
async def test_a_returning_client_recovers_from_redis(layer: RedisLayerBase) -> None:
    ws = await connect(None)
    answer = await ws.receive_json_from()
    await say(layer, "seen")
    seen = await ws.receive_json_from(timeout=5)
    await ws.disconnect()
    for n in range(3):
        await say(layer, f"missed{n}")
    ws = await connect(Position(answer["epoch"], seen["_pos"]["offset"]))
    answer = await ws.receive_json_from(timeout=5)
    assert (answer["recovered"], answer["replayed"], answer["offset"]) == (True, 3, 4)
    texts = [(await ws.receive_json_from(timeout=5))["text"] for _ in range(3)]
    assert texts == ["missed0", "missed1", "missed2"]
    await say(layer, "live")
    live = await ws.receive_json_from(timeout=5)
    assert (live["text"], live["_pos"]["offset"]) == ("live", 5)
    assert await ws.receive_nothing()
    await ws.disconnect()


@pytest.mark.timeout(60)
async def test_after_redis_restarted_empty_recovery_is_incomplete(
    layer: RedisLayerBase, own_redis_server: RedisServer
) -> None:
    for n in range(3):
        await say(layer, f"m{n}")
    before = (await layer.read_history("room.1", None)).position
    own_redis_server.restart()  # kill -9 and start on the same port: everything lost
    for _ in range(100):  # the first commands meet the closed connections
        try:
            await layer.ping()
            break
        except (RedisError, OSError):
            await asyncio.sleep(0.1)
    ws = await connect(before)
    answer = await ws.receive_json_from(timeout=5)
    assert answer["recovered"] is False
    assert answer["epoch"] not in ("", before.epoch)
    assert (answer["offset"], answer["replayed"]) == (0, 0)
    assert "fresh" not in answer  # the client had a position: an incomplete recovery
    await ws.disconnect()
