"""An idle consumer's handler runs in the task that delivers to it (consumer/direct.py), with
the guarantees of its own task: one handler at a time, per-consumer order, a handler that
suspends finished by the consumer's task (as that task, for asyncio.timeout and anyio), its
errors ending the consumer and never the fan-out. Every layer of ours offers it: the Redis
layers in their receive loop or subscriber, the in-memory layer in the sender's group_send
(a fan-out inside a sender's handler, where nesting could happen). The guarantees are checked
on every layer kind."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from fast_channels.consumer import AsyncJsonWebsocketConsumer, direct
from fast_channels.layers import (
    BaseChannelLayer,
    InMemoryChannelLayer,
    channel_layers,
    register_channel_layer,
)
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.testing import WebsocketCommunicator
from tests.support.redis_server import RedisServer

who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")
ALIAS = "direct-test"
consumers: dict[str, Recorder] = {}  # by path, as each connects


class Recorder(AsyncJsonWebsocketConsumer):
    """Records, per handled event, the task it ran in and whether the sender had returned."""

    channel_layer_alias = ALIAS
    groups = ["room"]
    log: list[tuple[str, Any]]

    async def connect(self) -> None:
        who.set(self.scope["path"])
        consumers[self.scope["path"]] = self
        self.log = []
        self.tasks: set[asyncio.Task[Any] | None] = set()
        self.run_in_fan_out = 0
        await self.accept()

    async def note(self, event: dict[str, Any]) -> None:
        self.tasks.add(asyncio.current_task())
        self.run_in_fan_out += _in_fan_out()
        self.log.append(("note", event["n"]))
        await self.send_json({"n": event["n"], "who": who.get()})

    async def nap(self, event: dict[str, Any]) -> None:
        """Suspends: handed over to the consumer's own task, which must finish it."""
        before = asyncio.current_task()
        self.log.append(("nap start", event["n"]))
        await asyncio.sleep(0.02)
        self.log.append(("nap end", event["n"]))
        await self.send_json({"n": event["n"], "same_task": asyncio.current_task() is before})

    async def bounded(self, event: dict[str, Any]) -> None:
        """asyncio.timeout and an anyio cancel scope, across a suspension."""
        outcome = "finished"
        try:
            async with asyncio.timeout(0.05):
                with anyio.CancelScope():
                    await asyncio.sleep(5)
        except TimeoutError:
            outcome = "timed out"
        await self.send_json({"outcome": outcome})

    async def explode(self, event: dict[str, Any]) -> None:
        if event["who"] == who.get():
            raise ValueError("handler failed")
        await self.send_json({"spared": True})


def _in_fan_out() -> bool:
    """Whether the caller runs inside a buffer's put (the fan-out), not its own task's step."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_put_direct":
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


@pytest.fixture(params=["memory", "queue", "pubsub"])
async def layer(request: pytest.FixtureRequest) -> AsyncIterator[BaseChannelLayer]:
    made: BaseChannelLayer
    if request.param == "memory":
        made = InMemoryChannelLayer()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        kind = RedisChannelLayer if request.param == "queue" else RedisPubSubChannelLayer
        made = kind(hosts=[server.url], prefix=f"direct-{uuid.uuid4().hex[:6]}")
    register_channel_layer(ALIAS, made)
    yield made
    channel_layers.unregister(ALIAS)
    await made.flush()
    await made.close()


async def _connect(path: str) -> tuple[WebsocketCommunicator, Recorder]:
    client = WebsocketCommunicator(Recorder.as_asgi(), path)
    assert (await client.connect())[0]
    return client, consumers[path]


async def test_an_idle_consumers_handler_runs_in_the_fan_out_as_its_own_task(
    layer: BaseChannelLayer,
) -> None:
    assert direct.available()
    paths = [f"/c{i}" for i in range(3)]
    clients = [await _connect(path) for path in paths]
    sender = asyncio.current_task()
    for n in range(20):
        await layer.group_send("room", {"type": "note", "n": n})
    for path, (client, consumer) in zip(paths, clients, strict=True):
        got = [await client.receive_json_from() for _ in range(20)]
        # In order, in the consumer's own context (set in connect), each in one task: the
        # consumer's, never the sender's or the receive loop's.
        assert got == [{"n": n, "who": path} for n in range(20)]
        assert len(consumer.tasks) == 1
        assert sender not in consumer.tasks
        assert consumer.run_in_fan_out > 0  # not all woken: the fan-out ran handlers
        await client.disconnect()


async def test_in_memory_group_send_runs_an_idle_members_handler_before_it_returns(
    in_memory: InMemoryChannelLayer,
) -> None:
    client, consumer = await _connect("/solo")
    await in_memory.group_send("room", {"type": "note", "n": 1})
    assert consumer.log == [("note", 1)]  # 1.x: its task would run it after this one yields
    assert consumer.run_in_fan_out == 1
    # A member busy with a handler is not run: the delivery waits in its buffer, and its own
    # task handles it once the first handler is done.
    await in_memory.group_send("room", {"type": "nap", "n": 2})  # suspends: turn held
    await in_memory.group_send("room", {"type": "note", "n": 3})
    assert consumer.log == [("note", 1), ("nap start", 2)]
    got = [await client.receive_json_from(timeout=5) for _ in range(3)]
    assert [frame["n"] for frame in got] == [1, 2, 3]
    assert consumer.log[-2:] == [("nap end", 2), ("note", 3)]
    assert consumer.run_in_fan_out == 1  # note 3 ran in the consumer's task
    await client.disconnect()


async def test_a_handler_that_suspends_is_finished_in_order_by_the_consumers_task(
    layer: BaseChannelLayer,
) -> None:
    client, consumer = await _connect("/nap")
    await layer.group_send("room", {"type": "nap", "n": 1})
    await layer.group_send("room", {"type": "note", "n": 2})  # arrives while 1 is suspended
    await layer.group_send("room", {"type": "nap", "n": 3})
    got = [await client.receive_json_from(timeout=5) for _ in range(3)]
    assert got == [
        {"n": 1, "same_task": True},
        {"n": 2, "who": "/nap"},
        {"n": 3, "same_task": True},
    ]
    # One handler at a time: each nap ended before the next event's handler began.
    assert consumer.log == [
        ("nap start", 1),
        ("nap end", 1),
        ("note", 2),
        ("nap start", 3),
        ("nap end", 3),
    ]
    # Where the fan-out runs handlers, the consumer's driver, free again, runs the next one.
    await layer.group_send("room", {"type": "note", "n": 4})
    assert await client.receive_json_from(timeout=5) == {"n": 4, "who": "/nap"}
    assert consumer.run_in_fan_out == 1
    await client.disconnect()


async def test_timeouts_and_cancel_scopes_bind_to_the_consumer_not_the_fan_out(
    layer: BaseChannelLayer,
) -> None:
    client, _ = await _connect("/bounded")
    others = [await _connect(f"/o{i}") for i in range(2)]
    await layer.group_send("room", {"type": "bounded"})
    assert await client.receive_json_from(timeout=5) == {"outcome": "timed out"}
    # The fan-out (this task in memory, the receive loop on Redis) was not cancelled: later
    # messages still reach everyone.
    await asyncio.sleep(0.1)
    await layer.group_send("room", {"type": "note", "n": 7})
    for other, _ in others:
        assert await other.receive_json_from(timeout=5) == {"outcome": "timed out"}
        assert (await other.receive_json_from(timeout=5))["n"] == 7
        await other.disconnect()
    assert (await client.receive_json_from(timeout=5))["n"] == 7
    await client.disconnect()


async def test_a_failing_handler_ends_its_consumer_not_the_fan_out(
    layer: BaseChannelLayer,
) -> None:
    failing, _ = await _connect("/failing")
    healthy, _ = await _connect("/healthy")
    await layer.group_send("room", {"type": "explode", "who": "/failing"})
    with pytest.raises(ValueError, match="handler failed"):
        await failing.receive_output(timeout=5)
    assert await healthy.receive_json_from(timeout=5) == {"spared": True}
    await layer.group_send("room", {"type": "note", "n": 5})
    assert await healthy.receive_json_from(timeout=5) == {"n": 5, "who": "/healthy"}
    await healthy.disconnect()


class Relay(Recorder):
    """Handling "relay" sends to the room: its idle members are woken, not run nested."""

    groups = ["relays"]

    async def relay(self, event: dict[str, Any]) -> None:
        assert self.channel_layer is not None
        self.log.append(("relay start", 0))
        await self.channel_layer.group_send("room", {"type": "note", "n": 9})
        self.log.append(("relay end", 0))


async def test_a_handler_run_in_a_fan_out_that_sends_does_not_nest(
    in_memory: InMemoryChannelLayer,
) -> None:
    relay_client = WebsocketCommunicator(Relay.as_asgi(), "/relay")
    assert (await relay_client.connect())[0]
    member, consumer = await _connect("/member")
    await in_memory.group_send("relays", {"type": "relay"})
    # The relay ran in this task's group_send, the member's note not inside it (woken).
    assert consumers["/relay"].log == [("relay start", 0), ("relay end", 0)]
    assert consumer.log == []
    assert await member.receive_json_from(timeout=5) == {"n": 9, "who": "/member"}
    await member.disconnect()
    await relay_client.disconnect()


@pytest.fixture
async def in_memory() -> AsyncIterator[InMemoryChannelLayer]:
    made = InMemoryChannelLayer()
    register_channel_layer(ALIAS, made)
    yield made
    channel_layers.unregister(ALIAS)
