"""join_group() on AsyncJsonWebsocketConsumer, driven by WebsocketCommunicator: the answer
frame, replay through the handlers, de-duplication, "_pos", invalid ?recover= queries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from prometheus_client import REGISTRY

from fast_channels.consumer.websocket import AsyncJsonWebsocketConsumer
from fast_channels.layers import InMemoryChannelLayer, channel_layers, register_channel_layer
from fast_channels.layers.history import HistoryRead, Position
from fast_channels.testing import WebsocketCommunicator

RESULTS: list[Any] = []


class Room(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "recovery"
    recent = 0

    async def connect(self) -> None:
        await self.accept()
        RESULTS.append(await self.join_group("room.1", recent=self.recent))

    async def chat_message(self, event: dict[str, Any]) -> None:
        if event.get("list_first"):
            await self.send_json(["list", event["text"]])
        reply = {"text": event["text"]}
        await self.send_json(reply)
        assert "_pos" not in reply  # a copy was sent, the app's dict is unchanged
        if event.get("twice"):
            await self.send_json({"again": event["text"]})
        if event.get("list"):
            await self.send_json([event["text"]])


class Recent(Room):
    recent = 2


class Plain(AsyncJsonWebsocketConsumer):
    """Joins by `groups`: no recovery, its send_json and dispatch are the class's."""

    channel_layer_alias = "recovery"
    groups = ["room.1"]

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"text": event["text"]})


@pytest.fixture
def layer() -> Iterator[InMemoryChannelLayer]:
    layer = InMemoryChannelLayer(group_history={"room.*": (5, 60)})
    register_channel_layer("recovery", layer)
    RESULTS.clear()
    yield layer
    channel_layers.unregister("recovery")


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def recover_path(**positions: Position) -> str:
    query = {g: {"epoch": p.epoch, "offset": p.offset} for g, p in positions.items()}
    return "/ws?recover=" + quote(json.dumps(query))


async def say(layer: InMemoryChannelLayer, text: str, **extra: Any) -> None:
    await layer.group_send("room.1", {"type": "chat.message", "text": text, **extra})


async def connect(path: str, consumer: type[AsyncJsonWebsocketConsumer] = Room) -> Any:
    communicator = WebsocketCommunicator(consumer.as_asgi(), path)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def test_a_fresh_join_is_answered_then_live_messages_carry_their_position(
    layer: InMemoryChannelLayer,
) -> None:
    await say(layer, "before")
    ws = await connect("/ws")
    answer = await ws.receive_json_from()
    epoch = answer["epoch"]
    assert answer == {
        "type": "fc.recovery", "group": "room.1", "recovered": False, "replayed": 0,
        "epoch": epoch, "offset": 1, "fresh": True,
    }  # fmt: skip
    assert RESULTS[0] == ("room.1", False, 0, Position(epoch, 1))
    await say(layer, "hi", twice=True, list=True)
    assert await ws.receive_json_from() == {
        "text": "hi",
        "_pos": {"group": "room.1", "epoch": epoch, "offset": 2},
    }
    assert await ws.receive_json_from() == {"again": "hi"}  # only the first send carries it
    assert await ws.receive_json_from() == ["hi"]
    await say(layer, "ho", list_first=True)
    assert await ws.receive_json_from() == ["list", "ho"]  # not a dict: sent as it is
    assert await ws.receive_json_from() == {
        "text": "ho",
        "_pos": {"group": "room.1", "epoch": epoch, "offset": 3},
    }  # the first dict carries it
    assert await ws.receive_nothing()
    await ws.disconnect()


async def test_recent_replays_the_last_messages_to_a_fresh_client(
    layer: InMemoryChannelLayer,
) -> None:
    for n in range(4):
        await say(layer, f"m{n}")
    ws = await connect("/ws", Recent)
    answer = await ws.receive_json_from()
    assert (answer["recovered"], answer["replayed"], answer["offset"]) == (False, 2, 4)
    assert answer["fresh"] is True
    assert [(await ws.receive_json_from())["text"] for _ in range(2)] == ["m2", "m3"]
    assert await ws.receive_nothing()
    await ws.disconnect()


async def test_a_returning_client_gets_every_missed_message_once_in_order(
    layer: InMemoryChannelLayer,
) -> None:
    ws = await connect("/ws")
    epoch = (await ws.receive_json_from())["epoch"]
    await say(layer, "seen")
    seen = await ws.receive_json_from()
    await ws.disconnect()
    assert not layer.groups  # the joined group was left on disconnect
    for n in range(3):
        await say(layer, f"missed{n}")
    complete_before = metric("fast_channels_recoveries_total", outcome="complete")
    replayed_before = metric("fast_channels_recovery_replayed_messages_total")
    seconds_before = metric("fast_channels_recovery_seconds_count")

    ws = await connect(recover_path(**{"room.1": Position(epoch, seen["_pos"]["offset"])}))
    answer = await ws.receive_json_from()
    assert (answer["recovered"], answer["replayed"], answer["offset"]) == (True, 3, 4)
    assert "fresh" not in answer
    got = [await ws.receive_json_from() for _ in range(3)]
    assert [m["text"] for m in got] == ["missed0", "missed1", "missed2"]
    assert [m["_pos"]["offset"] for m in got] == [2, 3, 4]
    await say(layer, "live")
    assert (await ws.receive_json_from())["_pos"]["offset"] == 5
    assert await ws.receive_nothing()
    assert RESULTS[-1] == ("room.1", True, 3, Position(epoch, 4))
    assert metric("fast_channels_recoveries_total", outcome="complete") == complete_before + 1
    assert metric("fast_channels_recovery_replayed_messages_total") == replayed_before + 3
    assert metric("fast_channels_recovery_seconds_count") == seconds_before + 1
    await ws.disconnect()


class RacingLayer(InMemoryChannelLayer):
    """Messages sent between the join and the history read: they arrive live AND replayed."""

    async def read_history(self, group: str, since: Position | None = None) -> HistoryRead:
        if since is not None:
            await self.group_send(group, {"type": "chat.message", "text": "raced1"})
            await self.group_send(group, {"type": "chat.message", "text": "raced2"})
        return await super().read_history(group, since)


async def test_live_messages_already_replayed_are_skipped() -> None:
    layer = RacingLayer(group_history={"room.*": (10, 60)})
    register_channel_layer("recovery", layer)
    try:
        await say(layer, "seen")
        position = (await layer.read_history("room.1", None)).position
        skipped_before = metric("fast_channels_recovery_duplicates_skipped_total")
        ws = await connect(recover_path(**{"room.1": position}))
        answer = await ws.receive_json_from()
        assert (answer["recovered"], answer["replayed"]) == (True, 2)
        texts = [(await ws.receive_json_from())["text"] for _ in range(2)]
        assert texts == ["raced1", "raced2"]
        await say(layer, "after")
        assert (await ws.receive_json_from())["text"] == "after"
        assert await ws.receive_nothing()
        assert metric("fast_channels_recovery_duplicates_skipped_total") == skipped_before + 2
        await ws.disconnect()
    finally:
        channel_layers.unregister("recovery")


async def test_trimmed_history_is_reported_incomplete_with_what_there_is(
    layer: InMemoryChannelLayer,
) -> None:
    await say(layer, "seen")
    position = (await layer.read_history("room.1", None)).position
    for n in range(7):  # size 5: two of the missed ones are gone
        await say(layer, f"missed{n}")
    incomplete_before = metric("fast_channels_recoveries_total", outcome="incomplete")
    ws = await connect(recover_path(**{"room.1": position}))
    answer = await ws.receive_json_from()
    assert (answer["recovered"], answer["replayed"], answer["offset"]) == (False, 5, 8)
    texts = [(await ws.receive_json_from())["text"] for _ in range(5)]
    assert texts == [f"missed{n}" for n in range(2, 7)]
    assert metric("fast_channels_recoveries_total", outcome="incomplete") == incomplete_before + 1
    await ws.disconnect()


async def test_another_epoch_is_never_claimed_recovered(layer: InMemoryChannelLayer) -> None:
    await say(layer, "new epoch")
    ws = await connect(recover_path(**{"room.1": Position("lost-epoch", 1)}))
    answer = await ws.receive_json_from()
    assert (answer["recovered"], answer["replayed"]) == (False, 1)
    assert answer["epoch"] != "lost-epoch"
    assert (await ws.receive_json_from())["text"] == "new epoch"
    await ws.disconnect()


async def test_a_position_ahead_of_the_stream_skips_nothing(layer: InMemoryChannelLayer) -> None:
    await say(layer, "one")
    epoch = (await layer.read_history("room.1", None)).position.epoch
    ws = await connect(recover_path(**{"room.1": Position(epoch, 50)}))
    answer = await ws.receive_json_from()
    assert (answer["recovered"], answer["replayed"], answer["offset"]) == (False, 0, 1)
    await say(layer, "two")
    assert (await ws.receive_json_from())["text"] == "two"
    await ws.disconnect()


@pytest.mark.parametrize(
    "query",
    [
        "recover=not-json",
        "recover=" + quote("[1, 2]"),
        "recover=" + quote('{"room.1": {"epoch": "e", "offset": -1}}'),
        "recover=" + quote('{"room.1": {"epoch": "e", "offset": true}}'),
        "recover=" + quote('{"room.1": {"epoch": 5, "offset": 1}}'),
        "recover=" + quote('{"room.1": {"epoch": "e", "offset": 1, "x": 1}}'),
        "recover=" + quote('{"room.1": {"epoch": "e", "offset": 1}}') + "&recover=x",
        "recover=%ff%fe",
    ],
)
async def test_an_invalid_recover_query_is_a_fresh_join(
    layer: InMemoryChannelLayer, query: str
) -> None:
    invalid_before = metric("fast_channels_recovery_invalid_requests_total")
    ws = await connect("/ws?" + query)
    answer = await ws.receive_json_from()
    assert answer["fresh"] is True
    assert answer["recovered"] is False
    assert metric("fast_channels_recovery_invalid_requests_total") == invalid_before + 1
    await say(layer, "still open")
    assert (await ws.receive_json_from())["text"] == "still open"
    await ws.disconnect()


async def test_a_position_with_an_empty_epoch_is_no_position(layer: InMemoryChannelLayer) -> None:
    incomplete_before = metric("fast_channels_recoveries_total", outcome="incomplete")
    ws = await connect(recover_path(**{"room.1": Position("", 0)}))
    answer = await ws.receive_json_from()
    assert (answer["fresh"], answer["recovered"]) == (True, False)
    assert metric("fast_channels_recoveries_total", outcome="incomplete") == incomplete_before
    await ws.disconnect()


async def test_a_group_without_history_answers_an_empty_epoch() -> None:
    layer = InMemoryChannelLayer()
    register_channel_layer("recovery", layer)
    try:
        ws = await connect(recover_path(**{"room.1": Position("e", 3)}))
        answer = await ws.receive_json_from()
        assert (answer["recovered"], answer["epoch"], answer["offset"]) == (False, "", 0)
        await say(layer, "plain")  # no position: sent exactly as without recovery
        assert await ws.receive_json_from() == {"text": "plain"}
        await ws.disconnect()
    finally:
        channel_layers.unregister("recovery")


async def test_a_consumer_without_join_group_is_untouched(layer: InMemoryChannelLayer) -> None:
    ws = await connect("/ws", Plain)
    await say(layer, "hi")
    assert await ws.receive_json_from() == {"text": "hi"}  # no "_pos": recovery unused
    await ws.disconnect()


class Mounted(Room):
    """Served as an instance (each connection runs on a shallow copy of it)."""

    async def connect(self) -> None:
        await self.accept()
        room = self.scope["path"].rsplit("/", 1)[1]
        RESULTS.append(await self.join_group(f"room.{room}"))


async def test_a_mounted_instance_does_not_share_joined_groups(
    layer: InMemoryChannelLayer,
) -> None:
    app = Mounted()
    first = WebsocketCommunicator(app, "/ws/a")
    assert (await first.connect())[0]
    second = WebsocketCommunicator(app, "/ws/b")
    assert (await second.connect())[0]
    assert set(layer.groups) == {"room.a", "room.b"}
    assert [len(members) for members in layer.groups.values()] == [1, 1]
    assert app.groups == []
    await first.disconnect()
    await second.disconnect()
    assert not layer.groups


class Early(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "recovery"

    async def connect(self) -> None:
        try:
            await self.join_group("room.1")
        except RuntimeError as error:
            RESULTS.append(str(error))
        await self.close()


async def test_join_group_before_accept_is_an_error(layer: InMemoryChannelLayer) -> None:
    communicator = WebsocketCommunicator(Early.as_asgi(), "/ws")
    connected, _ = await communicator.connect()
    assert not connected
    assert RESULTS == ["join_group() sends frames: call it after accept()"]
    assert not layer.groups


class Foreign:
    """A 1.x-style layer: not a BaseChannelLayer, the group methods by delegation."""

    def __init__(self) -> None:
        self.inner = InMemoryChannelLayer()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_layer_of_another_kind_has_no_history() -> None:
    foreign = Foreign()
    register_channel_layer("recovery", foreign)  # type: ignore[arg-type]
    try:
        ws = await connect(recover_path(**{"room.1": Position("e", 1)}))
        answer = await ws.receive_json_from()
        assert (answer["recovered"], answer["epoch"], answer["offset"]) == (False, "", 0)
        await foreign.inner.group_send("room.1", {"type": "chat.message", "text": "x"})
        assert await ws.receive_json_from() == {"text": "x"}
        await ws.disconnect()
    finally:
        channel_layers.unregister("recovery")


class Held(Room):
    """Room, with a handler that waits for `release`: meanwhile deliveries queue up."""

    release: asyncio.Event
    channel: str = ""

    async def connect(self) -> None:
        type(self).channel = self.channel_name
        await super().connect()

    async def hold(self, event: dict[str, Any]) -> None:
        await self.release.wait()


async def test_live_messages_lost_on_the_way_are_taken_from_the_history() -> None:
    # capacity=2: a burst overflows the consumer's buffer, and the layer drops the rest.
    layer = InMemoryChannelLayer(capacity=2, group_history={"room.*": (100, 60)})
    register_channel_layer("recovery", layer)
    Held.release = asyncio.Event()
    try:
        ws = await connect("/ws", Held)
        await ws.receive_json_from()
        # Busy in a handler (sent to its channel alone: not in the group's history), the
        # consumer takes none of the burst: two wait in its buffer, three are dropped.
        await layer.send(Held.channel, {"type": "hold"})
        for n in range(5):
            await say(layer, f"burst{n}")
        Held.release.set()
        assert [(await ws.receive_json_from())["text"] for _ in range(2)] == ["burst0", "burst1"]
        replayed_before = metric("fast_channels_recovery_replayed_messages_total")
        await say(layer, "next")
        got = [await ws.receive_json_from() for _ in range(4)]
        assert [m["text"] for m in got] == ["burst2", "burst3", "burst4", "next"]
        assert [m["_pos"]["offset"] for m in got] == [3, 4, 5, 6]
        assert metric("fast_channels_recovery_replayed_messages_total") == replayed_before + 3
        assert await ws.receive_nothing()
        await ws.disconnect()
    finally:
        channel_layers.unregister("recovery")


class Twice(Room):
    async def connect(self) -> None:
        await self.accept()
        RESULTS.append(await self.join_group("room.1", recent=5))

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        RESULTS.append(await self.join_group("room.1", recent=5))


async def test_joining_again_sends_nothing_twice(layer: InMemoryChannelLayer) -> None:
    await say(layer, "old")
    ws = await connect("/ws", Twice)
    assert (await ws.receive_json_from())["replayed"] == 1
    assert (await ws.receive_json_from())["text"] == "old"
    await say(layer, "live")
    assert (await ws.receive_json_from())["text"] == "live"
    await ws.send_json_to({"join": "again"})
    answer = await ws.receive_json_from()
    assert (answer["recovered"], answer["replayed"], answer["offset"]) == (True, 0, 2)
    await say(layer, "after")
    assert (await ws.receive_json_from())["text"] == "after"
    assert await ws.receive_nothing()
    assert [len(m) for m in layer.groups.values()] == [1]
    await ws.disconnect()
