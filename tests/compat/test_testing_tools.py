"""Users' own 1.x test suites: the communicators behave as 1.x's (asgiref-based) ones."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from fast_channels.consumer.websocket import AsyncWebsocketConsumer
from fast_channels.testing import ApplicationCommunicator, WebsocketCommunicator
from fast_channels.types import Receive, Scope, Send


class Closer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.close(code=4000)


async def silent_app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await asyncio.sleep(60)


async def test_an_unexpected_message_is_an_assertion_error_worded_as_1x() -> None:
    communicator = WebsocketCommunicator(Closer.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_to(text_data="bye")
    with pytest.raises(AssertionError, match=r"Expected type 'websocket.send', but was"):
        await communicator.receive_from()
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({}, "exactly one of text_data or bytes_data"),
        ({"text_data": "a", "bytes_data": b"b"}, "exactly one of text_data or bytes_data"),
        ({"text_data": b"a"}, "text_data argument must be a str"),
        ({"bytes_data": "b"}, "bytes_data argument must be bytes"),
    ],
)
async def test_send_to_misuse_is_an_assertion_error(kwargs: dict[str, Any], words: str) -> None:
    communicator = WebsocketCommunicator(Closer.as_asgi(), "/")
    with pytest.raises(AssertionError, match=words):
        await communicator.send_to(**kwargs)
    await communicator.aclose()


async def test_receive_json_from_a_binary_frame_is_an_assertion_error() -> None:
    class BinaryEcho(AsyncWebsocketConsumer):
        async def receive(
            self, text_data: str | None = None, bytes_data: bytes | None = None
        ) -> None:
            await self.send(bytes_data=b"{}")

    communicator = WebsocketCommunicator(BinaryEcho.as_asgi(), "/")
    await communicator.connect()
    await communicator.send_to(text_data="x")
    with pytest.raises(AssertionError, match="JSON data is not a text frame"):
        await communicator.receive_json_from()
    await communicator.disconnect()


async def test_connect_to_an_app_answering_otherwise_is_an_assertion_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.send", "text": "too early"})

    communicator = WebsocketCommunicator(app, "/")
    with pytest.raises(AssertionError, match="Expected type"):
        await communicator.connect()
    await communicator.aclose()


async def test_a_receive_output_timeout_cancels_the_application() -> None:
    communicator = ApplicationCommunicator(silent_app, {"type": "test"})
    await communicator.send_input({"type": "go"})
    with pytest.raises(TimeoutError):
        await communicator.receive_output(timeout=0.05)
    assert communicator.future.cancelled()
    with pytest.raises(asyncio.CancelledError):
        await communicator.send_input({"type": "more"})


async def test_a_later_disconnect_raises_cancelled_error() -> None:
    communicator = WebsocketCommunicator(Closer.as_asgi(), "/")
    await communicator.connect()
    with pytest.raises(TimeoutError):
        await communicator.receive_from(timeout=0.05)
    with pytest.raises(asyncio.CancelledError):
        await communicator.disconnect()


async def test_a_dropped_communicator_cancels_its_application() -> None:
    cancelled = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def forget() -> asyncio.Task[None]:
        communicator = ApplicationCommunicator(app, {"type": "test"})
        await asyncio.sleep(0)
        return communicator.future

    task = await forget()
    gc.collect()
    await asyncio.wait_for(cancelled.wait(), 1)
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()


async def test_input_and_output_queues_are_public() -> None:
    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        await send(await receive())

    communicator = ApplicationCommunicator(echo, {"type": "test"})
    await communicator.input_queue.put({"type": "hello"})
    assert await asyncio.wait_for(communicator.output_queue.get(), 1) == {"type": "hello"}
    await communicator.wait()


async def test_an_asgi2_application_is_adapted() -> None:
    class Asgi2:
        def __init__(self, scope: Scope) -> None:
            self.scope = scope

        async def __call__(self, receive: Receive, send: Send) -> None:
            message = await receive()
            await send({"type": "seen", "scope": self.scope["type"], "got": message["type"]})

    communicator = ApplicationCommunicator(Asgi2, {"type": "test"})
    await communicator.send_input({"type": "ping"})
    assert await communicator.receive_output() == {"type": "seen", "scope": "test", "got": "ping"}
    await communicator.wait()
