from __future__ import annotations

from typing import Any

import pytest

from fast_channels.consumer import AsyncConsumer, AsyncWebsocketConsumer, get_handler_name
from fast_channels.exceptions import InvalidChannelLayerError
from fast_channels.layers import InMemoryChannelLayer
from fast_channels.testing import WebsocketCommunicator


def test_dots_become_underscores() -> None:
    assert get_handler_name({"type": "chat.message"}) == "chat_message"
    assert get_handler_name({"type": "chat_message"}) == "chat_message"


@pytest.mark.parametrize("message_type", ["_private", ".hidden", "_"])
def test_a_leading_underscore_or_dot_is_malformed(message_type: str) -> None:
    with pytest.raises(ValueError, match=r"^Malformed type in message \(leading underscore\)$"):
        get_handler_name({"type": message_type})


def test_a_message_without_type_is_refused() -> None:
    with pytest.raises(ValueError, match="no 'type'"):
        get_handler_name({"text": "hi"})


async def test_unknown_type_raises_value_error_naming_it(
    memory_layer: InMemoryChannelLayer,
) -> None:
    class Plain(AsyncWebsocketConsumer):
        channel_layer_alias = "default"

    communicator = WebsocketCommunicator(Plain.as_asgi(), "/")
    assert (await communicator.connect())[0]
    channel = next(iter(memory_layer._owned))
    await memory_layer.send(channel, {"type": "no.such.handler"})
    with pytest.raises(ValueError, match=r"'no\.such\.handler'"):
        await communicator.wait(1)
    assert memory_layer.channels == {}  # cleaned up even though it crashed


async def test_the_unknown_type_hook_keeps_the_socket(memory_layer: InMemoryChannelLayer) -> None:
    class Tolerant(AsyncWebsocketConsumer):
        channel_layer_alias = "default"

        async def handle_unknown_type(self, message: Any) -> None:
            await self.send(text_data=f"ignored {message['type']}")

        async def ping(self, message: Any) -> None:
            await self.send(text_data="pong")

    communicator = WebsocketCommunicator(Tolerant.as_asgi(), "/")
    await communicator.connect()
    channel = next(iter(memory_layer._owned))
    await memory_layer.send(channel, {"type": "mystery"})
    assert await communicator.receive_from() == "ignored mystery"
    await memory_layer.send(channel, {"type": "ping"})
    assert await communicator.receive_from() == "pong"
    await communicator.disconnect()


async def test_as_asgi_kwargs_reach_the_instance() -> None:
    class Greeter(AsyncWebsocketConsumer):
        greeting = "hello"

        async def receive(
            self, text_data: str | None = None, bytes_data: bytes | None = None
        ) -> None:
            await self.send(text_data=f"{self.greeting} {text_data}")

    communicator = WebsocketCommunicator(Greeter.as_asgi(greeting="bonjour"), "/")
    await communicator.connect()
    await communicator.send_to(text_data="monde")
    assert await communicator.receive_from() == "bonjour monde"
    await communicator.disconnect()


def test_as_asgi_refuses_unknown_kwargs_at_mount_time() -> None:
    with pytest.raises(TypeError, match="'greting'"):
        AsyncWebsocketConsumer.as_asgi(greting="typo")


async def test_an_instance_is_an_asgi_app_serving_many_connections() -> None:
    class Counter(AsyncWebsocketConsumer):
        async def connect(self) -> None:
            self.count = 0
            await self.accept()

        async def receive(
            self, text_data: str | None = None, bytes_data: bytes | None = None
        ) -> None:
            self.count += 1
            await self.send(text_data=str(self.count))

    app = Counter()
    first, second = WebsocketCommunicator(app, "/"), WebsocketCommunicator(app, "/")
    await first.connect()
    await second.connect()
    await first.send_to(text_data="a")
    await first.send_to(text_data="b")
    await second.send_to(text_data="c")
    assert [await first.receive_from(), await first.receive_from()] == ["1", "2"]
    assert await second.receive_from() == "1"  # no state shared between connections
    await first.disconnect()
    await second.disconnect()


async def test_an_unregistered_alias_connects_without_a_layer() -> None:
    # As in 1.x: channel_layer is None (a warning names the alias, see tests/compat).
    class Lost(AsyncWebsocketConsumer):
        channel_layer_alias = "nowhere"

        async def connect(self) -> None:
            assert self.channel_layer is None
            await self.accept()

    communicator = WebsocketCommunicator(Lost.as_asgi(), "/")
    assert await communicator.connect() == (True, None)
    await communicator.disconnect()


async def test_groups_without_a_layer_are_a_clear_error() -> None:
    class Grouped(AsyncWebsocketConsumer):
        groups = ["room"]

    communicator = WebsocketCommunicator(Grouped.as_asgi(), "/")
    with pytest.raises(InvalidChannelLayerError, match="no channel_layer_alias"):
        await communicator.connect()


async def test_plain_async_consumer_dispatches_asgi_events() -> None:
    seen: list[str] = []

    class Raw(AsyncConsumer):
        async def websocket_connect(self, message: Any) -> None:
            seen.append(message["type"])
            await self.send({"type": "websocket.accept"})

        async def websocket_receive(self, message: Any) -> None:
            await self.send({"type": "websocket.send", "text": message["text"].upper()})

        async def websocket_disconnect(self, message: Any) -> None:
            from fast_channels.exceptions import StopConsumer

            raise StopConsumer()

    communicator = WebsocketCommunicator(Raw.as_asgi(), "/")
    assert (await communicator.connect())[0]
    await communicator.send_to(text_data="shout")
    assert await communicator.receive_from() == "SHOUT"
    await communicator.disconnect()
    assert seen == ["websocket.connect"]


def test_handler_names_are_checked_every_time_not_only_the_first() -> None:
    # Valid names are remembered; malformed ones must keep failing on every call.
    for _ in range(3):
        assert get_handler_name({"type": "chat.message"}) == "chat_message"
        with pytest.raises(ValueError, match="leading underscore"):
            get_handler_name({"type": "_chat.message"})
        with pytest.raises(ValueError, match="must be a str"):
            get_handler_name({"type": ["chat.message"]})
        with pytest.raises(ValueError, match="no 'type'"):
            get_handler_name(["chat.message"])


async def test_a_subclass_dispatches_to_its_own_handler_whichever_class_ran_first(
    memory_layer: InMemoryChannelLayer,
) -> None:
    # Each class remembers its own message types: a parent that dispatched "greet" first must
    # not make its subclass use the parent's resolution, nor the other way round.
    class Parent(AsyncWebsocketConsumer):
        channel_layer_alias = "default"

        async def greet(self, message: Any) -> None:
            await self.send(text_data="parent")

    class Child(Parent):
        async def greet(self, message: Any) -> None:
            await self.send(text_data="child")

    class Quiet(Parent):
        greet = None  # type: ignore[assignment]

        async def handle_unknown_type(self, message: Any) -> None:
            await self.send(text_data="no greet here")

    for consumer, expected in [(Parent, "parent"), (Child, "child"), (Quiet, "no greet here")] * 2:
        communicator = WebsocketCommunicator(consumer.as_asgi(), "/")
        await communicator.connect()
        channel = next(iter(memory_layer._owned))
        await memory_layer.send(channel, {"type": "greet"})
        assert await communicator.receive_from() == expected
        await communicator.disconnect()


async def test_unknown_message_types_are_not_remembered(memory_layer: InMemoryChannelLayer) -> None:
    # Types come from senders: only those with a handler are kept per class (bounded).
    class Tolerant(AsyncWebsocketConsumer):
        channel_layer_alias = "default"

        async def handle_unknown_type(self, message: Any) -> None:
            await self.send(text_data="?")

        async def ping(self, message: Any) -> None:
            await self.send(text_data="pong")

    communicator = WebsocketCommunicator(Tolerant.as_asgi(), "/")
    await communicator.connect()
    channel = next(iter(memory_layer._owned))
    for n in range(20):
        await memory_layer.send(channel, {"type": f"mystery.{n}"})
        assert await communicator.receive_from() == "?"
    await memory_layer.send(channel, {"type": "ping"})
    assert await communicator.receive_from() == "pong"
    assert "ping" in Tolerant._dispatch_table
    assert not [name for name in Tolerant._dispatch_table if name.startswith("mystery")]
    await communicator.disconnect()
