"""A consumer whose handler is slow: its local buffer fills and the overflow is dropped and
counted, while the other consumers of the same layer get every message."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from prometheus_client import REGISTRY

from fast_channels.consumer import AsyncWebsocketConsumer
from fast_channels.layers import channel_layers, register_channel_layer
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.layers.redis.common import RedisLayerBase
from fast_channels.testing import WebsocketCommunicator
from tests.support.redis_server import RedisServer

CAPACITY = 20
MESSAGES = 300


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"fast_channels_{name}", labels) or 0.0


class Member(AsyncWebsocketConsumer):
    groups = ["room"]
    gate: ClassVar[asyncio.Event | None] = None  # a slow member waits on it in every handler

    async def chat_message(self, message: dict[str, Any]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        await self.send(text_data=str(message["n"]))


@pytest.fixture(params=[RedisChannelLayer, RedisPubSubChannelLayer], ids=["queue", "pubsub"])
def layer(request: pytest.FixtureRequest, redis_server: RedisServer) -> Iterator[RedisLayerBase]:
    cls = request.param
    instance = cls(
        hosts=[redis_server.url], prefix=f"slow-{uuid.uuid4().hex[:8]}", capacity=CAPACITY
    )
    alias = f"slow-{uuid.uuid4().hex[:8]}"
    register_channel_layer(alias, instance)  # binds the alias: the `layer` metric label
    yield instance
    channel_layers.unregister(alias)


async def frames(communicator: WebsocketCommunicator, count: int | None) -> list[int]:
    """`count` frames (or, with None, every frame until none comes for 0.5 s)."""
    got: list[int] = []
    while count is None or len(got) < count:
        if count is None and await communicator.receive_nothing(0.5):
            break
        got.append(int(await communicator.receive_from(timeout=5)))
    return got


@pytest.mark.timeout(60)
async def test_a_slow_consumer_drops_its_overflow_and_the_others_get_everything(
    layer: RedisLayerBase,
) -> None:
    alias = layer.alias
    gate = asyncio.Event()
    fast = [
        WebsocketCommunicator(Member.as_asgi(channel_layer_alias=alias), "/ws") for _ in range(3)
    ]
    slow = WebsocketCommunicator(Member.as_asgi(channel_layer_alias=alias, gate=gate), "/ws")
    for communicator in [*fast, slow]:
        assert (await communicator.connect())[0]
    dropped_before = metric("layer_messages_dropped_total", layer=alias, reason="channel_full")
    full_before = metric("layer_channel_full_total", layer=alias, op="group_send")
    try:
        for n in range(MESSAGES):
            await layer.group_send("room", {"type": "chat.message", "n": n})
            await asyncio.sleep(0.001)  # a steady stream the fast members keep up with
        for communicator in fast:
            assert await frames(communicator, MESSAGES) == list(range(MESSAGES))
        dropped = metric("layer_messages_dropped_total", layer=alias, reason="channel_full")
        refused = metric("layer_channel_full_total", layer=alias, op="group_send")
        dropped, refused = dropped - dropped_before, refused - full_before
        gate.set()  # the slow handler catches up with what it kept
        kept = await frames(slow, None)
        # Every message is accounted for: handled by the slow member, or counted as dropped
        # (its local buffer was full) or refused (its Redis queue was full).
        assert len(kept) + dropped + refused == MESSAGES, (len(kept), dropped, refused)
        assert dropped + refused >= MESSAGES - CAPACITY - 5
        assert kept == sorted(kept)
        assert kept[:CAPACITY] == list(range(CAPACITY))  # the oldest were kept, newer dropped
        print(
            f"\n{type(layer).__name__}: slow member kept {len(kept)}, dropped {dropped:.0f},"
            f" refused at Redis {refused:.0f}; fast members got {MESSAGES}/{MESSAGES}"
        )
    finally:
        gate.set()
        for communicator in [*fast, slow]:
            await communicator.disconnect()
        await layer.flush()
        await layer.close()
