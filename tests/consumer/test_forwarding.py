"""Declared forwarding handlers (consumer/forwarding.py): `forward_json = {"chat.message":
"body"}` is the handler `await self.send_json(event["body"])`, frame for frame, metric for
metric, on every layer kind (with recovery's "_pos" too), and a layer delivery of that type
runs it without dispatch; a bad declaration fails at class creation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from fast_channels.consumer import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from fast_channels.consumer.dispatch import HandlerDispatch
from fast_channels.layers import (
    BaseChannelLayer,
    InMemoryChannelLayer,
    channel_layers,
    register_channel_layer,
)
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.testing import WebsocketCommunicator
from tests.support.redis_server import RedisServer

ALIAS = "forwarding-test"
HISTORY_GROUP = "kept"


class Written(AsyncJsonWebsocketConsumer):
    channel_layer_alias = ALIAS
    groups = ["room"]

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["body"])


class Declared(AsyncJsonWebsocketConsumer):
    channel_layer_alias = ALIAS
    groups = ["room"]
    forward_json = {"chat.message": "body"}


channels: list[str] = []


class DeclaredNoted(Declared):
    """Declared, and says its channel name (for a send to it alone)."""

    async def connect(self) -> None:
        channels.append(self.channel_name)
        await self.accept()


class WrittenRecovering(Written):
    groups = []

    async def connect(self) -> None:
        await self.accept()
        await self.join_group(HISTORY_GROUP)


class DeclaredRecovering(Declared):
    groups = []

    async def connect(self) -> None:
        await self.accept()
        await self.join_group(HISTORY_GROUP)


class Texts(AsyncWebsocketConsumer):
    channel_layer_alias = ALIAS
    groups = ["room"]
    forward_text = {"chat.message": "body"}


@pytest.fixture(params=["memory", "queue", "pubsub"])
async def layer(request: pytest.FixtureRequest) -> AsyncIterator[BaseChannelLayer]:
    made: BaseChannelLayer
    history = {HISTORY_GROUP: (100, 600.0)}
    if request.param == "memory":
        made = InMemoryChannelLayer(group_history=history)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        kind = RedisChannelLayer if request.param == "queue" else RedisPubSubChannelLayer
        made = kind(hosts=[server.url], prefix=f"fwd-{uuid.uuid4().hex[:6]}", group_history=history)
    register_channel_layer(ALIAS, made)
    yield made
    channel_layers.unregister(ALIAS)
    await made.flush()
    await made.close()


@pytest.fixture
def dispatched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The types dispatch() is called with, from here on (the fast path does not call it)."""
    seen: list[str] = []
    original = HandlerDispatch.dispatch

    async def counting(self: Any, message: Any) -> None:
        seen.append(message.get("type"))
        await original(self, message)

    monkeypatch.setattr(HandlerDispatch, "dispatch", counting)
    return seen


def _handler_samples(consumer: str) -> tuple[float, float]:
    labels = {"consumer": consumer, "handler": "chat_message"}
    runs = REGISTRY.get_sample_value(
        "fast_channels_consumer_handler_duration_seconds_count", labels
    )
    errors = REGISTRY.get_sample_value("fast_channels_consumer_errors_total", labels)
    return runs or 0.0, errors or 0.0


async def _connected(consumer: type[Any], path: str = "/") -> WebsocketCommunicator:
    client = WebsocketCommunicator(consumer.as_asgi(), path)
    assert (await client.connect())[0]
    return client


BODIES: list[Any] = [{"text": "hi", "n": 1}, [1, "two"], "plain", 3, None, {"é": "ü"}]


def test_the_declaration_makes_the_handler() -> None:
    assert Declared._forwards == {"chat.message": ("body", True)}
    assert Texts._forwards == {"chat.message": ("body", False)}
    assert callable(Declared.chat_message)
    assert "forward_json" in (Declared.chat_message.__doc__ or "")
    assert Written._forwards is None


async def test_a_declared_handler_sends_what_the_written_one_sends(
    layer: BaseChannelLayer, dispatched: list[str]
) -> None:
    written, declared = await _connected(Written), await _connected(DeclaredNoted)
    runs_before = _handler_samples("DeclaredNoted")[0]
    dispatched.clear()
    for body in BODIES:
        await layer.group_send("room", {"type": "chat.message", "body": body})
    await layer.send(channels[-1], {"type": "chat.message", "body": "direct"})
    from_written = [await written.receive_from(timeout=5) for _ in BODIES]
    from_declared = [await declared.receive_from(timeout=5) for _ in range(len(BODIES) + 1)]
    assert from_declared[:-1] == from_written  # the same text, frame for frame
    assert from_declared[-1] == '"direct"'
    # Only the written handler went through dispatch: the declared one was run without it,
    # and still counted as its handler, once per message.
    assert dispatched.count("chat.message") == len(BODIES)
    assert _handler_samples("DeclaredNoted")[0] == runs_before + len(BODIES) + 1
    await written.disconnect()
    await declared.disconnect()


async def test_a_message_without_the_key_fails_like_the_written_handler(
    layer: BaseChannelLayer,
) -> None:
    outcomes = {}
    for consumer in (Written, Declared):
        errors_before = _handler_samples(consumer.__name__)[1]
        client = await _connected(consumer)
        await layer.group_send("room", {"type": "chat.message", "text": "no body"})
        with pytest.raises(KeyError, match="body"):
            await client.wait(5)
        outcomes[consumer.__name__] = _handler_samples(consumer.__name__)[1] - errors_before
    assert outcomes == {"Written": 1.0, "Declared": 1.0}


async def test_recovery_positions_are_added_as_for_the_written_handler(
    layer: BaseChannelLayer, dispatched: list[str]
) -> None:
    written = await _connected(WrittenRecovering)
    declared = await _connected(DeclaredRecovering)
    for client in (written, declared):
        answer = await client.receive_json_from(timeout=5)
        assert answer["type"] == "fc.recovery"
    for body in BODIES:
        await layer.group_send(HISTORY_GROUP, {"type": "chat.message", "body": body})
    from_written = [await written.receive_from(timeout=5) for _ in BODIES]
    from_declared = [await declared.receive_from(timeout=5) for _ in BODIES]
    assert from_declared == from_written
    assert '"_pos"' in from_declared[0]  # a dict carries its position
    assert dispatched.count("chat.message") == len(BODIES)  # the written one's only
    await written.disconnect()
    await declared.disconnect()


async def test_forward_text_sends_text_frames(layer: BaseChannelLayer) -> None:
    client = await _connected(Texts)
    await layer.group_send("room", {"type": "chat.message", "body": "as is"})
    assert await client.receive_output(timeout=5) == {"type": "websocket.send", "text": "as is"}
    await client.disconnect()


async def test_a_subclass_method_or_dispatch_takes_over(
    layer: BaseChannelLayer, dispatched: list[str]
) -> None:
    class Shouting(Declared):
        async def chat_message(self, event: dict[str, Any]) -> None:
            await self.send_json(str(event["body"]).upper())

    class Routed(Declared):
        async def dispatch(self, message: Any) -> None:
            self.routed = getattr(self, "routed", 0) + 1
            await super().dispatch(message)

    assert Shouting._forwards is None
    assert Routed._forwards is None
    shouting, routed = await _connected(Shouting), await _connected(Routed)
    dispatched.clear()
    await layer.group_send("room", {"type": "chat.message", "body": "hey"})
    assert await shouting.receive_json_from(timeout=5) == "HEY"
    assert await routed.receive_json_from(timeout=5) == "hey"
    assert dispatched.count("chat.message") == 2  # both through dispatch
    await shouting.disconnect()
    await routed.disconnect()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"forward_json": ["chat.message"]}, "must be a mapping"),
        ({"forward_json": {"": "body"}}, "not a non-empty str"),
        ({"forward_json": {3: "body"}}, "not a non-empty str"),
        ({"forward_json": {"chat.message": 3}}, "must be a str"),
        ({"forward_json": {"_private": "body"}}, "leading underscore"),
        ({"forward_json": {".hidden": "body"}}, "leading underscore"),
        (
            {"forward_json": {"chat.message": "body"}, "chat_message": lambda self, e: None},
            "defines chat_message",
        ),
    ],
)
def test_a_bad_declaration_fails_at_class_creation(body: dict[str, Any], error: str) -> None:
    with pytest.raises(TypeError, match=error):
        type("Bad", (AsyncJsonWebsocketConsumer,), body)


def test_forward_json_needs_a_json_consumer() -> None:
    with pytest.raises(TypeError, match="needs a JSON consumer"):
        type("Bad", (AsyncWebsocketConsumer,), {"forward_json": {"chat.message": "body"}})
