"""Redis killed and restarted (empty: no persistence) while messages flow.

Sequence numbers show what each layer lost. The queue layer must deliver every message whose
send() returned after the restart; the pub/sub layer every message published once it has
re-subscribed. What was lost before and during the outage is printed (run with -s) for the
README's figures.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.exceptions import RedisError

from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from tests.support.redis_server import RedisServer

SEND_INTERVAL = 0.002


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"fast_channels_{name}", labels) or 0.0


@dataclass
class Traffic:
    """Sequence-numbered sends: when each started and whether send() returned or raised."""

    accepted: dict[int, tuple[float, float]] = field(default_factory=dict)  # n -> (start, end)
    failed: list[int] = field(default_factory=list)
    received: list[int] = field(default_factory=list)
    received_at: dict[int, float] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def accepted_since(self, moment: float) -> list[int]:
        return [n for n, (start, _) in self.accepted.items() if start >= moment]


async def send_forever(traffic: Traffic, send: Any) -> None:
    n = 0
    while not traffic.stop.is_set():
        started = time.monotonic()
        try:
            await send({"type": "m", "n": n})
            traffic.accepted[n] = (started, time.monotonic())
        except RedisError:
            traffic.failed.append(n)
        n += 1
        await asyncio.sleep(SEND_INTERVAL)


async def receive_forever(traffic: Traffic, layer: Any, channel: str) -> None:
    while True:
        n = (await layer.receive(channel))["n"]
        traffic.received.append(n)
        traffic.received_at.setdefault(n, time.monotonic())


async def stop(traffic: Traffic, layer: Any, *tasks: asyncio.Task[Any]) -> None:
    """End the traffic and its tasks, then close the layer (a test's teardown)."""
    traffic.stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await layer.close()


async def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return bool(condition())


@pytest.mark.timeout(60)
async def test_the_queue_layer_delivers_every_send_accepted_after_a_restart(
    own_redis_server: RedisServer,
) -> None:
    layer = RedisChannelLayer(
        hosts=[own_redis_server.url], prefix="restart", capacity=100_000, socket_timeout=1
    )
    layer.bind_alias(f"restart-{uuid.uuid4().hex[:8]}")
    channel = await layer.new_channel()
    traffic = Traffic()
    receiver = asyncio.create_task(receive_forever(traffic, layer, channel))
    sender = asyncio.create_task(send_forever(traffic, lambda m: layer.send(channel, m)))
    try:
        await asyncio.sleep(0.5)
        killed = time.monotonic()
        own_redis_server.stop()
        await asyncio.sleep(0.5)
        own_redis_server.start()
        restarted = time.monotonic()
        assert await wait_for(lambda: len(traffic.accepted_since(restarted)) >= 300, 20)
        traffic.stop.set()
        await sender
        after = traffic.accepted_since(restarted)
        assert await wait_for(lambda: set(after) <= set(traffic.received), 10), (
            f"accepted after the restart but never received: "
            f"{sorted(set(after) - set(traffic.received))[:20]}"
        )
        # No duplicates and no reordering, across the restart too.
        assert traffic.received == sorted(set(traffic.received))
        assert not receiver.done()
        assert metric("layer_reconnects_total", layer=layer.alias, op="receive") >= 1

        before = [n for n, (start, _) in traffic.accepted.items() if start < killed]
        during = [n for n, (s, _) in traffic.accepted.items() if killed <= s < restarted]
        lost_before = sorted(set(before) - set(traffic.received))
        lost_during = sorted(set(during) - set(traffic.received))
        first_ok = min(traffic.accepted[n][1] for n in after)
        first_delivered = min(traffic.received_at[n] for n in after)
        print(
            f"\nqueue layer restart: accepted before kill {len(before)} (lost {len(lost_before)}:"
            f" {lost_before[:10]}), accepted during outage {len(during)} (lost"
            f" {len(lost_during)}), refused during outage {len(traffic.failed)}, accepted"
            f" after restart {len(after)} (lost 0); first accepted send"
            f" {first_ok - restarted:.3f}s and first delivery {first_delivered - restarted:.3f}s"
            " after redis-server was up"
        )
    finally:
        await stop(traffic, layer, receiver, sender)


@pytest.mark.timeout(60)
async def test_queue_group_send_never_returns_without_reaching_members_after_a_restart(
    own_redis_server: RedisServer,
) -> None:
    """The restart empties Redis, memberships too. A group_send that returns after it has
    reached the member: until the memberships are back, group_send raises GroupsRestoring
    (a RedisError) instead of sending to a group that lost its members."""
    layer = RedisChannelLayer(
        hosts=[own_redis_server.url], prefix="restart-g", capacity=100_000, socket_timeout=1
    )
    layer.bind_alias(f"restart-{uuid.uuid4().hex[:8]}")
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    traffic = Traffic()
    receiver = asyncio.create_task(receive_forever(traffic, layer, channel))
    sender = asyncio.create_task(send_forever(traffic, lambda m: layer.group_send("room", m)))
    try:
        await asyncio.sleep(0.3)
        own_redis_server.stop()
        await asyncio.sleep(0.5)
        own_redis_server.start()
        restarted = time.monotonic()
        assert await wait_for(lambda: len(traffic.accepted_since(restarted)) >= 100, 15)
        traffic.stop.set()
        await sender
        after = traffic.accepted_since(restarted)
        assert await wait_for(lambda: set(after) <= set(traffic.received), 10), sorted(
            set(after) - set(traffic.received)
        )[:20]
        first_ok = min(traffic.accepted[n][1] for n in after)
        print(
            f"\nqueue group_send restart: first accepted group_send {first_ok - restarted:.3f}s"
            f" after redis-server was up; refused {len(traffic.failed)} in all; accepted after the"
            f" restart {len(after)}, lost 0"
        )
    finally:
        await stop(traffic, layer, receiver, sender)


@pytest.mark.timeout(60)
async def test_the_pubsub_layer_resubscribes_and_delivers_after_a_restart(
    own_redis_server: RedisServer,
) -> None:
    resubscribed = asyncio.Event()
    layer = RedisPubSubChannelLayer(
        hosts=[own_redis_server.url],
        prefix="restart-p",
        capacity=100_000,
        socket_timeout=1,
        on_reconnect=resubscribed.set,
    )
    layer.bind_alias(f"restart-{uuid.uuid4().hex[:8]}")
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    traffic = Traffic()
    receiver = asyncio.create_task(receive_forever(traffic, layer, channel))
    sender = asyncio.create_task(send_forever(traffic, lambda m: layer.group_send("room", m)))
    try:
        await asyncio.sleep(0.3)
        killed = time.monotonic()
        own_redis_server.stop()
        await asyncio.sleep(0.5)
        own_redis_server.start()
        restarted = time.monotonic()
        await asyncio.wait_for(resubscribed.wait(), 15)
        back = time.monotonic()
        await asyncio.sleep(0.5)
        traffic.stop.set()
        await sender
        after = traffic.accepted_since(back)
        assert len(after) > 50
        assert await wait_for(lambda: set(after) <= set(traffic.received), 10)
        assert traffic.received == sorted(set(traffic.received))
        assert metric("layer_reconnects_total", layer=layer.alias, op="subscribe") >= 1
        before = [n for n, (start, _) in traffic.accepted.items() if start < killed]
        lost = sorted(set(traffic.accepted) - set(traffic.received))
        print(
            f"\npub/sub restart: re-subscribed {back - restarted:.3f}s after redis-server was"
            f" up; accepted {len(traffic.accepted)} (before kill {len(before)}), lost"
            f" {len(lost)} (all published before the re-subscription), refused"
            f" {len(traffic.failed)}; after re-subscription lost 0"
        )
    finally:
        await stop(traffic, layer, receiver, sender)
