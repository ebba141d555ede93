"""A consumer's presence (issue 20): join_presence, opt-in event handlers, leave at cleanup."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.layers import InMemoryChannelLayer
from fast_channels.layers.presence import events_group
from fast_channels.testing import WebsocketCommunicator


class Room(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "default"

    async def connect(self) -> None:
        await self.accept()
        name = self.scope["query_string"].decode()
        await self.join_presence("room", {"name": name})
        members = await self.read_presence("room")
        await self.send_json({"members": sorted(info["name"] for info in members.values())})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if content == "leave":
            await self.leave_presence("room")
            await self.send_json("left")
        else:
            raise RuntimeError("a handler fails")

    async def presence_join(self, event: dict[str, Any]) -> None:
        await self.send_json({"joined": event["info"]["name"]})

    async def presence_leave(self, event: dict[str, Any]) -> None:
        await self.send_json({"left": event["info"]["name"], "reason": event["reason"]})


class Quiet(Room):
    """Joins presence without event handlers: not in the events group."""

    presence_join = AsyncJsonWebsocketConsumer.presence_join  # type: ignore[assignment]
    presence_leave = AsyncJsonWebsocketConsumer.presence_leave  # type: ignore[assignment]


async def connected(consumer: type[Room], name: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(consumer.as_asgi(), "/")
    communicator.scope["query_string"] = name.encode()
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def test_members_see_each_other_join_and_leave(memory_layer: InMemoryChannelLayer) -> None:
    ann = await connected(Room, "ann")
    # Events are handled after connect() returns: the list first, then its own join.
    assert await ann.receive_json_from() == {"members": ["ann"]}
    assert await ann.receive_json_from() == {"joined": "ann"}
    bob = await connected(Room, "bob")
    assert await bob.receive_json_from() == {"members": ["ann", "bob"]}
    assert await bob.receive_json_from() == {"joined": "bob"}
    assert await ann.receive_json_from() == {"joined": "bob"}
    await bob.disconnect()
    assert await ann.receive_json_from() == {"left": "bob", "reason": "left"}
    assert [info["name"] for info in (await memory_layer.read_presence("room")).values()] == ["ann"]
    await ann.disconnect()
    assert memory_layer.presence.held == {}
    assert memory_layer.groups == {}


async def test_leave_presence_keeps_the_group(memory_layer: InMemoryChannelLayer) -> None:
    ann = await connected(Room, "ann")
    await ann.receive_json_from()
    await ann.receive_json_from()
    await ann.send_json_to("leave")
    assert await ann.receive_json_from() == "left"
    assert await ann.receive_json_from() == {"left": "ann", "reason": "left"}  # sent before
    assert await memory_layer.read_presence("room") == {}
    assert list(memory_layer.groups) == ["room"]  # the group itself stays joined
    await ann.disconnect()


async def test_a_consumer_without_handlers_gets_no_events(
    memory_layer: InMemoryChannelLayer,
) -> None:
    quiet = await connected(Quiet, "quiet")
    assert await quiet.receive_json_from() == {"members": ["quiet"]}
    assert events_group("room") not in memory_layer.groups
    ann = await connected(Room, "ann")
    await ann.receive_json_from()
    await ann.receive_json_from()
    assert await quiet.receive_nothing()
    await ann.disconnect()
    await quiet.disconnect()


async def test_a_failing_handler_still_leaves_presence(memory_layer: InMemoryChannelLayer) -> None:
    watcher = await connected(Room, "watcher")
    await watcher.receive_json_from()
    await watcher.receive_json_from()
    fragile = await connected(Room, "fragile")
    await fragile.receive_json_from()
    await fragile.receive_json_from()
    assert await watcher.receive_json_from() == {"joined": "fragile"}
    await fragile.send_json_to("boom")
    with pytest.raises(RuntimeError, match="a handler fails"):
        await fragile.wait(1)
    assert await watcher.receive_json_from() == {"left": "fragile", "reason": "left"}
    assert [i["name"] for i in (await memory_layer.read_presence("room")).values()] == ["watcher"]
    await watcher.disconnect()


async def test_a_leaving_watcher_gets_no_leave_event_of_its_own(
    memory_layer: InMemoryChannelLayer,
) -> None:
    """Its events membership goes before its entry: its own leave would reach a channel
    about to be released, and be counted as a dropped message."""
    labels = {"layer": memory_layer.alias, "reason": "released"}
    name = "fast_channels_layer_messages_dropped_total"
    before = REGISTRY.get_sample_value(name, labels) or 0.0
    ann = await connected(Room, "ann")
    await ann.receive_json_from()
    await ann.receive_json_from()
    await ann.disconnect()
    assert (REGISTRY.get_sample_value(name, labels) or 0.0) == before
    assert memory_layer.channels == {}
