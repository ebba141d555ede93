"""Redis at `maxmemory` with `noeviction`: it refuses the receive loop's ACK (a script that
writes) but still serves BLMPOP. Frames BLMPOP popped are delivered all the same, and the
ACK is sent again once Redis takes writes, without subtracting any capacity count twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis

from fast_channels.layers.redis import RedisChannelLayer
from fast_channels.layers.redis.receiver import ProcessReceiver
from tests.layers.redis.conftest import metric
from tests.support.redis_server import RedisServer

DROP_REASONS = ("expired", "undecodable", "unknown_channel", "channel_full", "released")


@pytest.fixture
def raw(own_redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(own_redis_server.url)
    client.config_set("maxmemory-policy", "noeviction")
    yield client
    client.close()


def out_of_memory(client: redis.Redis, full: bool) -> None:
    # 1 byte: every write that could grow memory is refused; reads and pops still run.
    client.config_set("maxmemory", 1 if full else 0)


def make_layer(server: RedisServer) -> RedisChannelLayer:
    layer = RedisChannelLayer(
        hosts=[server.url], prefix=f"oom-{uuid.uuid4().hex[:6]}", capacity=10_000
    )
    layer.bind_alias(f"oom-{uuid.uuid4().hex[:8]}")
    return layer


def drops(layer: RedisChannelLayer) -> float:
    return sum(
        metric("layer_messages_dropped_total", layer=layer.alias, reason=r) for r in DROP_REASONS
    )


async def receive_n(layer: RedisChannelLayer, channel: str, n: int, into: list[int]) -> None:
    while len(into) < n:
        into.append((await layer.receive(channel))["n"])


@pytest.mark.timeout(60)
async def test_a_refused_ack_loses_no_popped_frame(
    own_redis_server: RedisServer, raw: redis.Redis
) -> None:
    layer = make_layer(own_redis_server)
    a, b, c = [await layer.new_channel() for _ in range(3)]
    for channel in (a, b, c):
        await layer.group_add("room", channel)
    # 5,000 messages: 2,500 to `a` alone, 2,500 to the group (frames with three targets).
    for n in range(2_500):
        await layer.send(a, {"type": "m", "n": n})
        await layer.group_send("room", {"type": "m", "n": 10_000 + n})
    out_of_memory(raw, True)
    received: dict[str, list[int]] = {a: [], b: [], c: []}
    try:
        receivers = [
            asyncio.create_task(receive_n(layer, a, 5_000, received[a])),
            asyncio.create_task(receive_n(layer, b, 2_500, received[b])),
            asyncio.create_task(receive_n(layer, c, 2_500, received[c])),
        ]
        _, pending = await asyncio.wait(receivers, timeout=15)
        for task in pending:
            task.cancel()
        assert {ch: len(got) for ch, got in received.items()} == {a: 5_000, b: 2_500, c: 2_500}
        assert sorted(received[a]) == [*range(2_500), *range(10_000, 12_500)]
        assert drops(layer) == 0
        # The refusals happened (and are counted as Redis errors, not as losses).
        assert metric("layer_redis_errors_total", layer=layer.alias, op="receive") >= 1
        out_of_memory(raw, False)
        # The counts converge: the queue drained, so no capacity count is left behind, and
        # the channel takes `capacity` more messages again.
        queue, counts = layer.process_keys(layer.process_id)
        assert raw.llen(queue) == 0
        assert not raw.exists(counts)
        more: list[int] = []
        receiver = asyncio.create_task(receive_n(layer, a, 100, more))
        for n in range(100):
            await layer.send(a, {"type": "m", "n": n})
        await asyncio.wait_for(receiver, 10)
        assert more == list(range(100))
    finally:
        out_of_memory(raw, False)
        await layer.flush()
        await layer.close()


class Gate:
    """Holds the receive loop before each round trip until the test lets it go. Not a mock:
    every command still runs on the real redis-server; the test only chooses when."""

    def __init__(self) -> None:
        self.permits = asyncio.Semaphore(0)
        self.opened = False
        self.calls = 0
        self._called = asyncio.Condition()

    def wrap(self, round_trip: Callable[[list[Any]], Awaitable[list[Any]]]) -> Any:
        async def gated(commands: list[Any]) -> list[Any]:
            async with self._called:
                self.calls += 1
                self._called.notify_all()
            if not self.opened:
                await self.permits.acquire()
            return await round_trip(commands)

        return gated

    async def let_through(self, count: int) -> None:
        """Let `count` more round trips run and wait until the loop has handled their replies
        (it is then waiting before its next round trip)."""
        target = self.calls + count
        for _ in range(count):
            self.permits.release()
        await self.called(target)

    async def called(self, times: int) -> None:
        async with self._called:
            await self._called.wait_for(lambda: self.calls >= times)

    def open(self) -> None:
        self.opened = True
        self.permits.release()


@pytest.mark.timeout(60)
async def test_a_refused_ack_is_sent_again_and_subtracts_once(
    own_redis_server: RedisServer, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate()
    carrier = ProcessReceiver._carrier

    def gated_carrier(self: ProcessReceiver, client: Any) -> Any:
        round_trip, scripts_client, connection = carrier(self, client)
        return gate.wrap(round_trip), scripts_client, connection

    monkeypatch.setattr(ProcessReceiver, "_carrier", gated_carrier)
    layer = make_layer(own_redis_server)
    channel = await layer.new_channel()
    queue, counts = layer.process_keys(layer.process_id)
    for n in range(3_000):
        await layer.send(channel, {"type": "m", "n": n})
    client = layer.shards.client(0)
    await layer.scripts.load(client, layer.scripts.ack_sha())  # a refusal, not NOSCRIPT
    out_of_memory(raw, True)
    received: list[int] = []
    receiver = asyncio.create_task(receive_n(layer, channel, 3_500, received))
    try:
        await gate.called(1)
        # 1: BLMPOP takes 1,000. 2: ACK refused (OOM), BLMPOP takes 1,000 more.
        await gate.let_through(2)
        assert metric("layer_redis_errors_total", layer=layer.alias, op="receive") == 1
        assert int(raw.hget(counts, channel) or 0) == 3_000  # nothing subtracted yet
        assert raw.llen(queue) == 1_000
        out_of_memory(raw, False)
        for n in range(3_000, 3_500):
            await layer.send(channel, {"type": "m", "n": n})
        # 3: the ACK of both batches runs once; BLMPOP takes 1,000 of the 1,500 left.
        await gate.let_through(1)
        assert raw.llen(queue) == 500
        # What waits in Redis plus what was popped but not yet acknowledged: exactly.
        assert int(raw.hget(counts, channel) or 0) == 500 + 1_000
        gate.open()
        await asyncio.wait_for(receiver, 15)
        assert received == list(range(3_500))
        assert drops(layer) == 0
    finally:
        gate.open()
        out_of_memory(raw, False)
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
        await layer.flush()
        await layer.close()
