"""How a consumer is fed: layer messages and client frames, one handler at a time, in order,
one shared context, and cleanup however the feeding ends."""

from __future__ import annotations

import asyncio
import contextvars
import gc
from typing import Any

import pytest

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.layers import InMemoryChannelLayer
from fast_channels.testing import WebsocketCommunicator

user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="nobody")


class Tracked(AsyncJsonWebsocketConsumer):
    """Records every handler start and end, and yields inside each, so overlap would show."""

    channel_layer_alias = "default"
    groups = ["tracked"]
    log: list[str]

    async def connect(self) -> None:
        self.log = []
        self.running = 0
        await self.accept()

    async def _step(self, what: str) -> None:
        self.running += 1
        assert self.running == 1, "two handlers ran at once"
        self.log.append(what)
        await asyncio.sleep(0)  # give the other feeder every chance to barge in
        await asyncio.sleep(0)
        self.running -= 1

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self._step(f"frame {content}")
        await self.send_json(f"frame {content}")

    async def note(self, event: dict[str, Any]) -> None:
        await self._step(f"note {event['n']}")
        await self.send_json(f"note {event['n']}")


async def test_layer_messages_arrive_in_order_interleaved_with_frames(
    memory_layer: InMemoryChannelLayer,
) -> None:
    client = WebsocketCommunicator(Tracked.as_asgi(), "/")
    assert (await client.connect())[0]
    for n in range(50):
        await memory_layer.group_send("tracked", {"type": "note", "n": n})
        if n % 10 == 0:
            await client.send_json_to(n)
    got = [await client.receive_json_from() for _ in range(55)]
    notes = [g for g in got if g.startswith("note")]
    frames = [g for g in got if g.startswith("frame")]
    assert notes == [f"note {n}" for n in range(50)]
    assert frames == [f"frame {n}" for n in range(0, 50, 10)]
    await client.disconnect()


async def test_a_context_variable_set_in_connect_reaches_every_later_handler(
    memory_layer: InMemoryChannelLayer,
) -> None:
    seen: list[str] = []

    class Contextual(AsyncJsonWebsocketConsumer):
        channel_layer_alias = "default"
        groups = ["ctx"]

        async def connect(self) -> None:
            user.set("alice")  # e.g. structlog.contextvars.bind_contextvars(user=...)
            await self.accept()

        async def receive_json(self, content: Any, **kwargs: Any) -> None:
            seen.append(f"frame {user.get()}")
            await self.send_json("ok")

        async def note(self, event: dict[str, Any]) -> None:
            seen.append(f"note {user.get()}")
            await self.send_json("ok")

        async def disconnect(self, code: int) -> None:
            seen.append(f"disconnect {user.get()}")

    client = WebsocketCommunicator(Contextual.as_asgi(), "/")
    await client.connect()
    await memory_layer.group_send("ctx", {"type": "note"})
    assert await client.receive_json_from() == "ok"
    await client.send_json_to(1)
    assert await client.receive_json_from() == "ok"
    await client.disconnect()
    assert seen == ["note alice", "frame alice", "disconnect alice"]
    assert user.get() == "nobody"  # nothing leaks out of the connection


async def test_an_error_in_a_layer_handler_ends_the_consumer_and_cleans_up(
    memory_layer: InMemoryChannelLayer,
) -> None:
    disconnected: list[int] = []

    class Failing(AsyncJsonWebsocketConsumer):
        channel_layer_alias = "default"
        groups = ["failing"]

        async def boom(self, event: dict[str, Any]) -> None:
            raise RuntimeError("handler failed")

        async def disconnect(self, code: int) -> None:
            disconnected.append(code)

    client = WebsocketCommunicator(Failing.as_asgi(), "/")
    await client.connect()
    await memory_layer.group_send("failing", {"type": "boom"})
    with pytest.raises(RuntimeError, match="handler failed"):
        await client.wait(1)
    assert disconnected == [1006]
    assert memory_layer.groups == {}
    assert memory_layer.channels == {}


async def test_a_cancelled_error_out_of_a_handler_ends_the_consumer_without_hanging(
    memory_layer: InMemoryChannelLayer,
) -> None:
    disconnected: list[int] = []

    class Cancelling(AsyncJsonWebsocketConsumer):
        channel_layer_alias = "default"
        groups = ["cancelling"]

        async def stop(self, event: dict[str, Any]) -> None:
            raise asyncio.CancelledError()

        async def disconnect(self, code: int) -> None:
            disconnected.append(code)

    client = WebsocketCommunicator(Cancelling.as_asgi(), "/")
    await client.connect()
    await memory_layer.group_send("cancelling", {"type": "stop"})
    await asyncio.wait({client.future}, timeout=5)
    assert client.future.cancelled()  # the error propagates, as from any handler
    assert disconnected == [1006]
    assert memory_layer.channels == {}


async def test_cancelling_the_connection_mid_handler_cleans_up_once(
    memory_layer: InMemoryChannelLayer,
) -> None:
    started = asyncio.Event()
    disconnected: list[int] = []

    class Slow(AsyncJsonWebsocketConsumer):
        channel_layer_alias = "default"
        groups = ["slow"]

        async def note(self, event: dict[str, Any]) -> None:
            started.set()
            await asyncio.sleep(60)

        async def disconnect(self, code: int) -> None:
            disconnected.append(code)

    client = WebsocketCommunicator(Slow.as_asgi(), "/")
    await client.connect()
    await memory_layer.group_send("slow", {"type": "note"})
    await memory_layer.group_send("slow", {"type": "note"})  # waits its turn in the buffer
    await asyncio.wait_for(started.wait(), 5)
    await client.send_json_to("waits for the turn")  # the frame feeder waits for the turn
    client.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await client.future
    assert disconnected == [1006]
    assert memory_layer.groups == {}
    assert memory_layer.channels == {}


def _held(token: str) -> bool:
    """Whether any list [token] (what a receiver got of the payload) is still alive."""
    return any(type(o) is list and len(o) == 1 and o[0] is token for o in gc.get_objects())


async def test_a_handled_delivery_is_not_held_while_the_consumer_waits(
    memory_layer: InMemoryChannelLayer,
) -> None:
    # With thousands of connections, deliveries held between messages were much of what the
    # garbage collector walked and promoted; nothing else needs them once handled. The payload
    # is a list (a message carries no objects of ours to take a weakref to): tracked by gc.
    token = f"held-{id(memory_layer)}"
    handled = asyncio.Event()

    class Holder(AsyncJsonWebsocketConsumer):
        channel_layer_alias = "default"
        groups = ["held"]

        async def note(self, event: dict[str, Any]) -> None:
            assert event["payload"][0] is token
            handled.set()

    client = WebsocketCommunicator(Holder.as_asgi(), "/")
    assert (await client.connect())[0]
    await memory_layer.group_send("held", {"type": "note", "payload": [token]})
    await asyncio.wait_for(handled.wait(), 2)
    for _ in range(10):  # the feeder goes back to waiting for the next delivery
        await asyncio.sleep(0)
    gc.collect()  # a reference cycle would be freed here; a live reference would not
    assert not _held(token)
    await client.disconnect()


class _WithoutPolling(InMemoryChannelLayer):
    """A layer with no poll_delivery() fast path, as a third-party BaseChannelLayer may be."""

    def poll_delivery(self, channel: str) -> None:
        return None


async def test_a_layer_without_the_polling_fast_path_still_feeds_the_consumer() -> None:
    from fast_channels.layers import channel_layers, register_channel_layer

    layer = _WithoutPolling()
    register_channel_layer("default", layer)
    try:
        client = WebsocketCommunicator(Tracked.as_asgi(), "/")
        assert (await client.connect())[0]
        for n in range(3):
            await layer.group_send("tracked", {"type": "note", "n": n})
        assert [await client.receive_json_from() for _ in range(3)] == [
            "note 0",
            "note 1",
            "note 2",
        ]
        await client.disconnect()
    finally:
        channel_layers.unregister("default")
