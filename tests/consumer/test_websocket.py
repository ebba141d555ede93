from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from prometheus_client import REGISTRY

from fast_channels.consumer import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from fast_channels.exceptions import AcceptConnection, DenyConnection
from fast_channels.layers import InMemoryChannelLayer
from fast_channels.testing import WebsocketCommunicator


def closed_total(consumer: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "fast_channels_websocket_connections_closed_total",
        {"consumer": consumer, "reason": reason},
    )
    return value or 0.0


async def test_accept_with_subprotocol_and_headers() -> None:
    class Negotiating(AsyncWebsocketConsumer):
        async def connect(self) -> None:
            await self.accept(subprotocol="chat.v2", headers=[(b"x-server", b"fast")])

    communicator = WebsocketCommunicator(Negotiating.as_asgi(), "/", subprotocols=["chat.v2"])
    assert await communicator.connect() == (True, "chat.v2")
    await communicator.disconnect()


async def test_deny_connection_closes_before_accept() -> None:
    class Bouncer(AsyncWebsocketConsumer):
        async def connect(self) -> None:
            raise DenyConnection

    before = closed_total("Bouncer", "denied")
    communicator = WebsocketCommunicator(Bouncer.as_asgi(), "/")
    connected, code = await communicator.connect()
    assert not connected
    assert code in (403, 1000)
    await communicator.disconnect()
    assert closed_total("Bouncer", "denied") == before + 1


async def test_accept_connection_exception_accepts() -> None:
    class Doorman(AsyncWebsocketConsumer):
        async def connect(self) -> None:
            raise AcceptConnection

    communicator = WebsocketCommunicator(Doorman.as_asgi(), "/")
    assert (await communicator.connect())[0]
    await communicator.disconnect()


async def test_send_text_bytes_and_close_with_code_and_reason() -> None:
    class Talker(AsyncWebsocketConsumer):
        async def receive(
            self, text_data: str | None = None, bytes_data: bytes | None = None
        ) -> None:
            await self.send(text_data="text")
            await self.send(bytes_data=b"\x00bin")
            await self.close(code=4001, reason="bye")

    communicator = WebsocketCommunicator(Talker.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_to(text_data="go")
    assert await communicator.receive_from() == "text"
    assert await communicator.receive_from() == b"\x00bin"
    assert await communicator.receive_output() == {
        "type": "websocket.close",
        "code": 4001,
        "reason": "bye",
    }
    await communicator.disconnect(code=4001)


async def test_send_with_nothing_is_a_value_error() -> None:
    class Empty(AsyncWebsocketConsumer):
        async def receive(
            self, text_data: str | None = None, bytes_data: bytes | None = None
        ) -> None:
            await self.send()

    communicator = WebsocketCommunicator(Empty.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_to(text_data="x")
    with pytest.raises(ValueError, match="one of bytes_data or text_data"):
        await communicator.wait(1)


async def test_send_close_true_sends_then_closes_normally() -> None:
    class Goodbye(AsyncWebsocketConsumer):
        async def receive(
            self, text_data: str | None = None, bytes_data: bytes | None = None
        ) -> None:
            await self.send("last words", close=True)

    communicator = WebsocketCommunicator(Goodbye.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_to(text_data="x")
    assert await communicator.receive_from() == "last words"
    assert (await communicator.receive_output())["code"] == 1000


async def test_json_round_trip() -> None:
    class Echo(AsyncJsonWebsocketConsumer):
        async def receive_json(self, content: Any, **kwargs: Any) -> None:
            await self.send_json({"echo": content})

    communicator = WebsocketCommunicator(Echo.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_json_to({"a": [1, 2]})
    assert await communicator.receive_json_from() == {"echo": {"a": [1, 2]}}
    await communicator.disconnect()


async def test_encode_and_decode_json_are_overridable_classmethods() -> None:
    class Sorted(AsyncJsonWebsocketConsumer):
        @classmethod
        async def encode_json(cls, content: Any) -> str:
            return json.dumps(content, sort_keys=True)

        async def receive_json(self, content: Any, **kwargs: Any) -> None:
            await self.send_json({"b": 1, "a": 2})

    communicator = WebsocketCommunicator(Sorted.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_json_to({})
    assert await communicator.receive_from() == '{"a": 2, "b": 1}'
    assert await Sorted.decode_json('{"x": 1}') == {"x": 1}
    await communicator.disconnect()


@pytest.mark.parametrize("frame", ["{not json", "", "[1,"])
async def test_malformed_json_closes_with_1007_and_is_counted(frame: str) -> None:
    class Strict(AsyncJsonWebsocketConsumer):
        pass

    before = closed_total("Strict", "invalid_payload")
    communicator = WebsocketCommunicator(Strict.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_to(text_data=frame)
    assert (await communicator.receive_output())["code"] == 1007
    await communicator.disconnect(code=1007)
    assert closed_total("Strict", "invalid_payload") == before + 1


async def test_binary_frame_on_a_json_socket_closes_with_1003() -> None:
    class TextOnly(AsyncJsonWebsocketConsumer):
        pass

    communicator = WebsocketCommunicator(TextOnly.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_to(bytes_data=b"\x01\x02")
    assert (await communicator.receive_output())["code"] == 1003
    await communicator.disconnect(code=1003)


async def test_oversized_frame_closes_with_1009_and_is_not_handled() -> None:
    handled: list[str] = []

    class Small(AsyncWebsocketConsumer):
        max_frame_size = 10

        async def receive(
            self, text_data: str | None = None, bytes_data: bytes | None = None
        ) -> None:
            handled.append(text_data or "")

    before = closed_total("Small", "message_too_big")
    communicator = WebsocketCommunicator(Small.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_to(text_data="tiny")
    await communicator.send_to(text_data="é" * 6)  # 6 characters, 12 bytes: too big
    assert (await communicator.receive_output())["code"] == 1009
    await communicator.send_to(text_data="late")  # raced the close: ignored
    await communicator.disconnect(code=1009)
    assert handled == ["tiny"]
    assert closed_total("Small", "message_too_big") == before + 1


async def test_cookies_are_parsed_into_the_scope() -> None:
    class Crumbs(AsyncWebsocketConsumer):
        async def connect(self) -> None:
            await self.accept()
            await self.send(text_data=json.dumps(self.scope["cookies"]))

    communicator = WebsocketCommunicator(
        Crumbs.as_asgi(), "/", headers=[(b"cookie", b"session=abc; theme=dark")]
    )
    await communicator.connect()
    assert json.loads(await communicator.receive_from()) == {"session": "abc", "theme": "dark"}
    await communicator.disconnect()


async def test_a_handler_error_counts_and_still_cleans_up(
    memory_layer: InMemoryChannelLayer,
) -> None:
    disconnects: list[int] = []

    class Fragile(AsyncWebsocketConsumer):
        channel_layer_alias = "default"
        groups = ["fragile"]

        async def receive(
            self, text_data: str | None = None, bytes_data: bytes | None = None
        ) -> None:
            raise RuntimeError("boom")

        async def disconnect(self, code: int) -> None:
            disconnects.append(code)

    errors = "fast_channels_consumer_errors_total"
    labels = {"consumer": "Fragile", "handler": "websocket_receive"}
    before = REGISTRY.get_sample_value(errors, labels) or 0.0
    communicator = WebsocketCommunicator(Fragile.as_asgi(), "/")
    await communicator.connect()
    assert memory_layer.groups["fragile"]
    await communicator.send_to(text_data="x")
    with pytest.raises(RuntimeError, match="boom"):
        await communicator.wait(1)
    assert memory_layer.groups == {}
    assert memory_layer.channels == {}
    assert disconnects == [1006]
    assert REGISTRY.get_sample_value(errors, labels) == before + 1


async def test_send_on_a_closed_socket_still_cleans_up(memory_layer: InMemoryChannelLayer) -> None:
    disconnects: list[int] = []

    class Late(AsyncWebsocketConsumer):
        channel_layer_alias = "default"
        groups = ["late"]

        async def announce(self, event: Any) -> None:
            await self.send(text_data=event["text"])

        async def disconnect(self, code: int) -> None:
            disconnects.append(code)

    async def closed_send(message: Any) -> None:
        if message["type"] == "websocket.send":
            raise OSError("the socket is gone")
        await sent.put(message)

    sent: asyncio.Queue[Any] = asyncio.Queue()
    received: asyncio.Queue[Any] = asyncio.Queue()
    await received.put({"type": "websocket.connect"})
    task = asyncio.create_task(
        Late.as_asgi()({"type": "websocket", "path": "/", "headers": []}, received.get, closed_send)
    )
    assert (await asyncio.wait_for(sent.get(), 1))["type"] == "websocket.accept"
    await memory_layer.group_send("late", {"type": "announce", "text": "hello"})
    # The client left: not a handler error, the consumer ends as if it had disconnected.
    await asyncio.wait_for(task, 1)
    assert memory_layer.groups == {}
    assert memory_layer.channels == {}
    assert disconnects == [1006]


async def test_a_cancelled_connection_still_cleans_up(memory_layer: InMemoryChannelLayer) -> None:
    class Idle(AsyncWebsocketConsumer):
        channel_layer_alias = "default"
        groups = ["idle"]

    communicator = WebsocketCommunicator(Idle.as_asgi(), "/")
    await communicator.connect()
    assert memory_layer.groups
    communicator.stop(exceptions=False)
    await asyncio.sleep(0.05)
    assert memory_layer.groups == {}
    assert memory_layer.channels == {}


async def test_a_hanging_disconnect_is_bounded(memory_layer: InMemoryChannelLayer) -> None:
    class Stuck(AsyncWebsocketConsumer):
        channel_layer_alias = "default"
        groups = ["stuck"]
        cleanup_timeout = 0.2

        async def disconnect(self, code: int) -> None:
            await asyncio.sleep(3600)

    communicator = WebsocketCommunicator(Stuck.as_asgi(), "/")
    await communicator.connect()
    await communicator.disconnect(timeout=2)
    assert memory_layer.groups == {}
    assert memory_layer.channels == {}


async def test_a_thousand_connections_leave_nothing_behind(
    memory_layer: InMemoryChannelLayer,
) -> None:
    class Member(AsyncJsonWebsocketConsumer):
        channel_layer_alias = "default"
        groups = ["lobby", "everyone"]

    app = Member.as_asgi()
    for _ in range(1000):
        communicator = WebsocketCommunicator(app, "/")
        await communicator.connect()
        await communicator.disconnect()
    assert memory_layer.channels == {}
    assert memory_layer.groups == {}
    assert memory_layer._memberships == {}
    gauge = REGISTRY.get_sample_value("fast_channels_websocket_connections", {"consumer": "Member"})
    assert gauge == 0


async def test_frame_bytes_are_counted_utf8_encoded() -> None:
    class Echo(AsyncWebsocketConsumer):
        async def receive(
            self, text_data: str | None = None, bytes_data: bytes | None = None
        ) -> None:
            await self.send(text_data=text_data)

    def observed(direction: str) -> float:
        labels = {"consumer": "Echo", "direction": direction}
        return REGISTRY.get_sample_value("fast_channels_websocket_message_bytes_sum", labels) or 0.0

    before_in, before_out = observed("in"), observed("out")
    communicator = WebsocketCommunicator(Echo.as_asgi(), "/")
    await communicator.connect()
    for text in ("plain", "héllo ✓"):  # 5 bytes; 10 bytes for 7 characters
        await communicator.send_to(text_data=text)
        assert await communicator.receive_from() == text
    assert observed("in") == before_in + 15
    assert observed("out") == before_out + 15
    await communicator.disconnect()
