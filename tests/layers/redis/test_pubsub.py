"""The pub/sub layer beyond the contract: confirmed subscriptions, capacity, reconnects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from fast_channels.layers.redis import RedisPubSubChannelLayer
from tests.layers.redis.conftest import WakeOrder, command_calls, joined, metric, raw_client
from tests.support.redis_server import RedisServer

Make = Callable[..., Any]


def make_pubsub(make_redis: Make, **options: Any) -> RedisPubSubChannelLayer:
    layer: RedisPubSubChannelLayer = make_redis(RedisPubSubChannelLayer, **options)
    return layer


class Callbacks:
    """on_disconnect/on_reconnect that record their calls, and an event set on reconnect."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.reconnected = asyncio.Event()

    async def on_reconnect(self) -> None:
        self.events.append("reconnect")
        self.reconnected.set()

    def options(self) -> dict[str, Any]:
        return {
            "on_disconnect": lambda: self.events.append("disconnect"),
            "on_reconnect": self.on_reconnect,
        }


async def receive(layer: Any, channel: str, timeout: float = 3) -> dict[str, Any]:
    return await asyncio.wait_for(layer.receive(channel), timeout)  # type: ignore[no-any-return]


async def test_group_add_returns_only_once_subscribed(make_redis: Make) -> None:
    prefix = f"ps-{time.monotonic_ns()}"
    member, sender = make_pubsub(make_redis, prefix=prefix), make_pubsub(make_redis, prefix=prefix)
    channel = await member.new_channel()
    for index in range(20):
        await member.group_add(f"room{index}", channel)
        await sender.group_send(f"room{index}", {"type": "first", "n": index})  # at once
    assert [(await receive(member, channel))["n"] for _ in range(20)] == list(range(20))


async def test_send_and_group_send_are_one_publish(
    make_redis: Make, redis_server: RedisServer
) -> None:
    layer = make_pubsub(make_redis)
    members = [await layer.new_channel() for _ in range(100)]
    for channel in members:
        await layer.group_add("big", channel)
    before = command_calls(redis_server, "publish")
    await layer.group_send("big", {"type": "m"})
    await layer.send(members[0], {"type": "direct"})
    assert command_calls(redis_server, "publish") - before == 2
    assert (await receive(layer, members[0]))["type"] == "m"
    assert (await receive(layer, members[0]))["type"] == "direct"
    for channel in members[1:]:
        assert (await receive(layer, channel))["type"] == "m"


async def test_a_group_of_1000_members_across_instances_receives_every_message(
    make_redis: Make,
) -> None:
    prefix = f"ps-{time.monotonic_ns()}"
    layers = [make_pubsub(make_redis, prefix=prefix) for _ in range(4)]
    members = [(layer, await layer.new_channel()) for layer in layers for _ in range(250)]
    for layer, channel in members:
        await layer.group_add("big", channel)
    for index in range(3):
        await layers[0].group_send("big", {"type": "tick", "n": index})
    for layer, channel in members:
        assert [(await receive(layer, channel))["n"] for _ in range(3)] == [0, 1, 2]
    assert sum(metric("layer_group_send_fanout_sum", layer=layer.alias) for layer in layers) == 3000


async def test_capacity_bounds_the_local_buffer_and_counts_overflow(make_redis: Make) -> None:
    layer = make_pubsub(make_redis, capacity=2)
    channel = await layer.new_channel()
    for index in range(5):
        await layer.send(channel, {"type": "m", "n": index})
    await asyncio.sleep(0.2)
    assert [(await receive(layer, channel))["n"] for _ in range(2)] == [0, 1]
    assert metric("layer_messages_dropped_total", layer=layer.alias, reason="channel_full") == 3


async def test_garbage_published_is_dropped_and_counted(
    make_redis: Make, redis_server: RedisServer
) -> None:
    layer = make_pubsub(make_redis, symmetric_encryption_keys=["k"])
    channel = await layer.new_channel()
    client = raw_client(redis_server)
    name = f"{layer.prefix}:p:{layer.process_id}"
    future = b"%.3f" % (time.time() + 60)
    client.publish(name, b"garbage")
    client.publish(name, future + b"\n" + channel.encode() + b"\nnot-a-fernet-token")
    client.close()
    await layer.send(channel, {"type": "fine"})
    assert (await receive(layer, channel))["type"] == "fine"
    assert metric("layer_messages_dropped_total", layer=layer.alias, reason="undecodable") == 2


async def test_plain_channels_receive_what_is_sent_while_subscribed(make_redis: Make) -> None:
    layer = make_pubsub(make_redis)
    receiving = asyncio.create_task(layer.receive("announcements"))
    await asyncio.sleep(0.1)
    await layer.send("announcements", {"type": "hello"})
    assert (await asyncio.wait_for(receiving, 3))["type"] == "hello"


async def test_an_unused_membership_lapses_after_group_expiry(make_redis: Make) -> None:
    layer = make_pubsub(make_redis, group_expiry=0.6)
    idle, live = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", idle)
    await layer.group_add("g", live)
    receiving = asyncio.create_task(layer.receive(live))
    await asyncio.sleep(1.2)
    assert set(layer._groups["g"]) == {live}
    await layer.group_send("g", {"type": "m"})
    assert (await asyncio.wait_for(receiving, 3))["type"] == "m"


async def test_flush_unsubscribes_groups(make_redis: Make) -> None:
    layer = make_pubsub(make_redis)
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.flush()
    assert layer._groups == {}
    assert [kind for kind, _ in layer._routes.values()] == ["p"]


async def test_resubscribes_after_a_redis_restart_and_calls_the_callbacks(
    own_redis_server: RedisServer,
) -> None:
    calls = Callbacks()
    events, reconnected = calls.events, calls.reconnected
    layer = RedisPubSubChannelLayer(
        hosts=[own_redis_server.url], prefix="psr", socket_timeout=1, **calls.options()
    )
    sender = RedisPubSubChannelLayer(hosts=[own_redis_server.url], prefix="psr")
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        receiving = asyncio.create_task(layer.receive(channel))
        own_redis_server.stop()
        await asyncio.sleep(0.3)
        own_redis_server.start()
        await asyncio.wait_for(reconnected.wait(), 10)
        assert events == ["disconnect", "reconnect"]
        assert metric("layer_reconnects_total", layer=layer.alias, op="subscribe") == 1
        assert metric("layer_redis_errors_total", layer=layer.alias, op="subscribe") >= 1
        await sender.group_send("room", {"type": "after.restart"})
        await sender.send(channel, {"type": "direct"})
        assert (await asyncio.wait_for(receiving, 3))["type"] == "after.restart"
        assert (await receive(layer, channel))["type"] == "direct"
    finally:
        await layer.close()
        await sender.close()


def test_options_are_checked() -> None:
    with pytest.raises(TypeError, match="on_reconnect"):
        RedisPubSubChannelLayer(on_reconnect="not callable")
    with pytest.raises(TypeError, match="unknown_option"):
        RedisPubSubChannelLayer(unknown_option=1)


async def test_a_silently_stalled_subscription_is_found_by_ping_and_restored(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No FIN, no RST: Redis just stops answering (a TCP proxy stops forwarding). The idle
    PING goes unanswered, the connection is given up and everything is re-subscribed."""
    from fast_channels.layers.redis import subscriber
    from tests.support.tcp_proxy import TcpProxy

    monkeypatch.setattr(subscriber, "PING_AFTER_IDLE", 0.3)
    proxy = TcpProxy(redis_server.port)
    await proxy.start()
    calls = Callbacks()
    events, reconnected = calls.events, calls.reconnected
    layer = RedisPubSubChannelLayer(
        hosts=[proxy.url], prefix=f"psp{time.monotonic_ns()}", socket_timeout=0.4, **calls.options()
    )
    sender = RedisPubSubChannelLayer(hosts=[redis_server.url], prefix=layer.prefix)
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        await asyncio.sleep(1.2)  # idle, healthy: PINGs are answered, nothing reconnects
        assert events == []
        proxy.pause()
        await asyncio.sleep(1.5)  # idle 0.3 s + no answer for 0.4 s, checked every 0.2 s
        assert events == ["disconnect"]
        proxy.resume()
        await asyncio.wait_for(reconnected.wait(), 10)
        await sender.group_send("room", {"type": "after.stall"})
        assert (await receive(layer, channel))["type"] == "after.stall"
    finally:
        proxy.resume()
        await layer.close()
        await sender.close()
        await proxy.close()


async def test_a_group_message_wakes_local_members_in_the_order_they_joined(
    make_redis: Make,
) -> None:
    # Join order is the order the members' consumers (and their objects) were made in; waking
    # them in that order rather than in hash order is what keeps a big fan-out cache-friendly.
    layer = make_pubsub(make_redis)
    channels = await joined(layer, "ordered", 50)
    wakes = WakeOrder(layer, channels)
    await asyncio.sleep(0.05)  # all of them waiting
    await layer.group_send("ordered", {"type": "hello"})
    assert await wakes.order() == channels
