"""send_json's encoder: exactly json.dumps's output and errors, call after call."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.consumer._json import dumps
from fast_channels.testing import WebsocketCommunicator

CASES: list[Any] = [
    {"type": "chat.message", "seq": 1, "t": 1764064000.123456, "pad": "x" * 56},
    [1, 2.5, None, True, False, [], {}],
    'héllo ✓ \u2028 " \\',
    {"n": float("nan"), "i": float("inf"), "m": -float("inf")},
    {3: "int key", 2.5: "float key", True: "bool key", None: "none key"},
    [{"deep": [{"er": [10**30, -0.0]}]}],
    0,
    None,
]


@pytest.mark.parametrize("value", CASES)
def test_the_same_text_as_json_dumps(value: Any) -> None:
    assert dumps(value) == json.dumps(value)


def test_errors_are_json_dumps_errors_and_leave_no_trace() -> None:
    circular: list[Any] = []
    circular.append(circular)
    for _ in range(2):  # an error must not leave the reused encoder in a bad state
        with pytest.raises(ValueError, match="Circular reference detected"):
            dumps({"a": circular})
        with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
            dumps({"x": [object()]})
        with pytest.raises(TypeError, match="keys must be"):
            dumps({(1, 2): 1})
        shared = [1]
        assert dumps({"a": shared, "b": shared}) == '{"a": [1], "b": [1]}'


async def test_an_overridden_encode_json_is_still_used() -> None:
    class Custom(AsyncJsonWebsocketConsumer):
        async def receive_json(self, content: Any, **kwargs: Any) -> None:
            await self.send_json(content)

        @classmethod
        async def encode_json(cls, content: Any) -> str:
            return json.dumps(content, separators=(",", ":"))

    communicator = WebsocketCommunicator(Custom.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_to(text_data='{"a": [1, 2]}')
    assert await communicator.receive_from() == '{"a":[1,2]}'
    await communicator.disconnect()


async def test_an_overridden_send_still_sees_every_json_frame() -> None:
    # send_json skips send() only when it is not overridden.
    sent: list[str] = []

    class Logged(AsyncJsonWebsocketConsumer):
        async def receive_json(self, content: Any, **kwargs: Any) -> None:
            await self.send_json(content)

        async def send(
            self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
        ) -> None:
            sent.append(text_data or "")
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    communicator = WebsocketCommunicator(Logged.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_to(text_data='{"a": 1}')
    assert await communicator.receive_from() == '{"a": 1}'
    assert sent == ['{"a": 1}']
    await communicator.disconnect()


async def test_send_json_with_close_sends_then_closes() -> None:
    class Bye(AsyncJsonWebsocketConsumer):
        async def receive_json(self, content: Any, **kwargs: Any) -> None:
            await self.send_json({"bye": True}, close=True)

    communicator = WebsocketCommunicator(Bye.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_to(text_data="{}")
    assert await communicator.receive_from() == '{"bye": true}'
    assert (await communicator.receive_output())["type"] == "websocket.close"
    await communicator.disconnect()


class _Echo(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_json(content)


async def _echoed(consumer: type[AsyncJsonWebsocketConsumer]) -> str:
    communicator = WebsocketCommunicator(consumer.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_to(text_data='{"a": [1, 2]}')
    text = await communicator.receive_from()
    await communicator.disconnect()
    return text


async def test_encode_json_overridden_as_a_plain_method_is_used() -> None:
    # Channels declares encode_json a classmethod, but an override need not be one; send_json
    # once failed here with AttributeError ('function' object has no attribute '__func__').
    class Plain(_Echo):
        async def encode_json(self, content: Any) -> str:  # type: ignore[override]
            return json.dumps(content, separators=(",", ":"))

    assert await _echoed(Plain) == '{"a":[1,2]}'


async def test_overrides_are_seen_through_mixins_and_subclasses() -> None:
    # send_json's fast paths are settled per class: each class must see what its MRO resolves.
    class Compact:
        @classmethod
        async def encode_json(cls, content: Any) -> str:
            return json.dumps(content, separators=(",", ":"))

    class Mixed(Compact, _Echo):
        pass

    class Grandchild(Mixed):
        pass

    class Restored(Mixed):
        encode_json = AsyncJsonWebsocketConsumer.encode_json

    assert await _echoed(Mixed) == '{"a":[1,2]}'
    assert await _echoed(Grandchild) == '{"a":[1,2]}'
    assert await _echoed(Restored) == '{"a": [1, 2]}'
    assert await _echoed(_Echo) == '{"a": [1, 2]}'
