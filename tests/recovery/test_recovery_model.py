"""A property: whatever the interleaving of broadcasts and reconnections, a client following
wire protocol v1 receives each message at most once, in order, and every message it lacks is
covered by an answer that said "not recovered" (never claimed complete). Checked against a
model of the history (its size), with WebsocketCommunicator and the in-memory layer."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from fast_channels.consumer.websocket import AsyncJsonWebsocketConsumer
from fast_channels.layers import InMemoryChannelLayer, channel_layers, register_channel_layer
from fast_channels.testing import WebsocketCommunicator


class ModelRoom(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "recovery-model"

    async def connect(self) -> None:
        await self.accept()
        await self.join_group("room")

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"n": event["n"]})


# ("send", k): k broadcasts; ("away", k): the client is disconnected while k are sent.
ops = st.lists(
    st.tuples(st.sampled_from(["send", "away"]), st.integers(0, 12)), min_size=1, max_size=8
)


class Client:
    """A client of wire protocol v1, checking each answer against the model of the history."""

    def __init__(self, layer: InMemoryChannelLayer, size: int) -> None:
        self.layer, self.size = layer, size
        self.sent = 0
        self.received: list[int] = []
        self.position: dict[str, Any] | None = None

    async def broadcast(self, count: int) -> None:
        for _ in range(count):
            self.sent += 1
            await self.layer.group_send("room", {"type": "chat.message", "n": self.sent})

    async def join(self) -> WebsocketCommunicator:
        position = self.position
        query = "" if position is None else "?recover=" + quote(json.dumps({"room": position}))
        ws = WebsocketCommunicator(ModelRoom.as_asgi(), "/ws" + query)
        assert (await ws.connect())[0]
        answer = await ws.receive_json_from()
        if position is not None:
            kept_from = max(position["offset"], self.sent - self.size)  # the model's history
            assert answer["recovered"] == (kept_from == position["offset"])
            assert answer["replayed"] == self.sent - kept_from
        if position is None or not answer["recovered"]:
            self.position = {"epoch": answer["epoch"], "offset": answer["offset"]}
        await self.take(ws, answer["replayed"])
        return ws

    async def take(self, ws: WebsocketCommunicator, count: int) -> None:
        for _ in range(count):
            message = await ws.receive_json_from()
            self.received.append(message["n"])
            self.position = {"epoch": message["_pos"]["epoch"], "offset": message["_pos"]["offset"]}


async def scenario(size: int, steps: list[tuple[str, int]]) -> None:
    layer = InMemoryChannelLayer(group_history={"room": (size, 600)}, capacity=1000)
    register_channel_layer("recovery-model", layer)
    client = Client(layer, size)
    try:
        ws = await client.join()
        for kind, count in steps:
            if kind == "away":
                await ws.disconnect()
                await client.broadcast(count)
                ws = await client.join()
            else:
                await client.broadcast(count)
                await client.take(ws, count)
        assert await ws.receive_nothing(timeout=0.01)
        await ws.disconnect()
    finally:
        channel_layers.unregister("recovery-model")
    assert client.received == sorted(set(client.received))  # once each, in order
    assert client.received[-1:] == ([client.sent] if client.sent else [])


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 10), steps=ops)
def test_exactly_once_in_order_and_never_a_false_complete(
    size: int, steps: list[tuple[str, int]]
) -> None:
    asyncio.run(scenario(size, steps))
