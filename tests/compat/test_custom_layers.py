"""1.x extension points: custom layers, any-object registration, the base's public names."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from fast_channels.consumer.websocket import AsyncJsonWebsocketConsumer
from fast_channels.layers import (
    BaseChannelLayer,
    InMemoryChannelLayer,
    channel_layers,
    register_channel_layer,
    unregister_channel_layer,
)
from fast_channels.testing import WebsocketCommunicator


class QueueLayer(BaseChannelLayer):
    """A 1.x-style custom layer: only send, receive, new_channel, groups and flush."""

    def __init__(self) -> None:
        super().__init__(expiry=60, capacity=100)
        self.queues: defaultdict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self.members: defaultdict[str, set[str]] = defaultdict(set)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self.queues[channel].put(message)

    async def receive(self, channel: str) -> dict[str, Any]:
        return await self.queues[channel].get()

    async def new_channel(self, prefix: str = "specific.") -> str:
        return f"{prefix}custom!{secrets.token_hex(4)}"

    async def group_add(self, group: str, channel: str) -> None:
        self.members[group].add(channel)

    async def group_discard(self, group: str, channel: str) -> None:
        self.members[group].discard(channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        for channel in self.members[group]:
            await self.send(channel, message)

    async def flush(self) -> None:
        self.queues.clear()
        self.members.clear()


class DuckLayer:
    """Not a BaseChannelLayer at all: what a third-party layer or a hand-written fake is."""

    def __init__(self) -> None:
        self.inner = QueueLayer()

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self.inner.send(channel, message)

    async def receive(self, channel: str) -> dict[str, Any]:
        return await self.inner.receive(channel)

    async def new_channel(self, prefix: str = "specific.") -> str:
        return await self.inner.new_channel(prefix)

    async def group_add(self, group: str, channel: str) -> None:
        await self.inner.group_add(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        await self.inner.group_discard(group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self.inner.group_send(group, message)


class Echo(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "custom"
    groups = ["room"]

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.channel_layer.group_send("room", {"type": "room.message", "text": content})  # type: ignore[union-attr]

    async def room_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["text"])


@pytest.fixture
def custom_alias() -> Iterator[None]:
    yield
    unregister_channel_layer("custom")


def test_base_channel_layer_is_concrete() -> None:
    layer = BaseChannelLayer()
    assert layer.get_capacity("anything") == 100


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("send", ("c", {})),
        ("receive", ("c",)),
        ("new_channel", ()),
        ("group_add", ("g", "c")),
        ("group_discard", ("g", "c")),
        ("group_send", ("g", {})),
        ("flush", ()),
    ],
)
async def test_base_methods_raise_not_implemented(method: str, args: tuple[Any, ...]) -> None:
    with pytest.raises(NotImplementedError):
        await getattr(BaseChannelLayer(), method)(*args)


def test_base_takes_1x_positional_arguments() -> None:
    layer = BaseChannelLayer(30, 5, {"big.*": 50})
    assert (layer.expiry, layer.capacity) == (30, 5)
    assert layer.get_capacity("big.one") == 50


@pytest.mark.usefixtures("custom_alias")
@pytest.mark.parametrize("make", [QueueLayer, DuckLayer], ids=["subclass", "any-object"])
async def test_consumers_run_on_a_layer_with_only_receive(make: Any) -> None:
    register_channel_layer("custom", make())
    first = WebsocketCommunicator(Echo.as_asgi(), "/")
    second = WebsocketCommunicator(Echo.as_asgi(), "/")
    assert (await first.connect())[0]
    assert (await second.connect())[0]
    await first.send_json_to({"n": 1})
    assert await first.receive_json_from() == {"n": 1}
    assert await second.receive_json_from() == {"n": 1}
    await first.disconnect()
    await second.disconnect()


def test_register_refuses_an_object_without_the_layer_methods() -> None:
    with pytest.raises(TypeError, match=r"lacks .*group_send"):
        register_channel_layer("custom", object())
    assert "custom" not in channel_layers


@pytest.mark.usefixtures("custom_alias")
async def test_a_subclass_overriding_receive_is_read_through_it() -> None:
    seen: list[str] = []

    class Spying(InMemoryChannelLayer):
        async def receive(self, channel: str) -> dict[str, Any]:
            message = await super().receive(channel)
            seen.append(message["type"])
            return message

    register_channel_layer("custom", Spying())
    communicator = WebsocketCommunicator(Echo.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_json_to("hi")
    assert await communicator.receive_json_from() == "hi"
    assert seen == ["room.message"]
    await communicator.disconnect()


def test_1x_naming_members() -> None:
    layer = InMemoryChannelLayer()
    assert layer.MAX_NAME_LENGTH == 100
    assert layer.channel_name_regex.match("specific.abc!def")
    assert not layer.group_name_regex.match("a!b")
    assert layer.invalid_name_error.format("Group").startswith("Group name must be")
    assert layer.match_type_and_length("x" * 99)
    assert not layer.match_type_and_length("x" * 100)
    assert not layer.match_type_and_length(5)
    compiled = layer.compile_capacities({"a.*": 3, re.compile("b"): 4})
    assert [(pattern.match("a.x") is not None, n) for pattern, n in compiled] == [
        (True, 3),
        (False, 4),
    ]


async def test_an_unregistered_alias_warns_once_per_class() -> None:
    class Lonely(AsyncJsonWebsocketConsumer):
        channel_layer_alias = "never-registered"

    with capture_logs() as logs:
        for _ in range(3):
            communicator = WebsocketCommunicator(Lonely.as_asgi(), "/")
            assert await communicator.connect() == (True, None)
            await communicator.disconnect()
    event = "fast_channels.consumer.layer_not_registered"
    warnings = [log for log in logs if log["event"] == event]
    assert len(warnings) == 1
    assert warnings[0]["alias"] == "never-registered"
    assert warnings[0]["log_level"] == "warning"
