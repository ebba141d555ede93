"""Both Redis layers behind Sentinel: URLs and dicts, and a real failover while messages flow.

Each failover test gets a fresh topology (a master, a replica, three sentinels on loopback),
kills the master and measures recovery: master killed -> first message delivered through the
new master (printed; run with -s to see it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis.exceptions import RedisError

from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.layers.redis.common import RedisLayerBase
from tests.layers.redis.conftest import metric
from tests.support.sentinel import MASTER_NAME, SentinelTopology

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def topology() -> Iterator[SentinelTopology]:
    """A topology for one test alone: the test kills its master."""
    topology = SentinelTopology()
    try:
        topology.start()
        yield topology
    finally:
        topology.cleanup()


def make(cls: type[RedisLayerBase], host: Any) -> Any:
    layer = cls(hosts=[host], prefix=f"s-{uuid.uuid4().hex[:8]}", socket_timeout=1)
    layer.bind_alias(f"sentinel-{uuid.uuid4().hex[:8]}")
    return layer


async def test_a_sentinel_url_and_a_sentinel_dict_reach_the_master(
    sentinel_topology: SentinelTopology,
) -> None:
    hosts = [
        sentinel_topology.url,
        {"sentinels": sentinel_topology.addresses, "master_name": MASTER_NAME},
    ]
    for host in hosts:
        for cls in (RedisChannelLayer, RedisPubSubChannelLayer):
            layer = make(cls, host)
            try:
                channel = await layer.new_channel()
                await layer.send(channel, {"type": "hello", "via": str(host)})
                got = await asyncio.wait_for(layer.receive(channel), 5)
                assert got == {"type": "hello", "via": str(host)}
            finally:
                await layer.flush()
                await layer.close()
    # The messages went through the master the sentinels name, not the replica.
    role = sentinel_topology.role(sentinel_topology.master_port())
    assert role == "master"


class Sender:
    """Sends numbered messages until stopped; remembers when each accepted send started."""

    def __init__(self, layer: Any, target: str, group: bool = False) -> None:
        self.layer, self.target, self.group = layer, target, group
        self.accepted: dict[int, float] = {}
        self.failed = 0
        self.stop = False

    async def run(self) -> None:
        n = 0
        while not self.stop:
            started = time.monotonic()
            try:
                if self.group:
                    await self.layer.group_send(self.target, {"type": "m", "n": n})
                else:
                    await self.layer.send(self.target, {"type": "m", "n": n})
                self.accepted[n] = started
            except RedisError:
                self.failed += 1
            n += 1
            await asyncio.sleep(0.01)

    def after(self, moment: float) -> set[int]:
        return {n for n, started in self.accepted.items() if started >= moment}


class Receiver:
    def __init__(self, layer: Any, channel: str) -> None:
        self.layer, self.channel = layer, channel
        self.got: dict[int, float] = {}

    async def run(self) -> None:
        while True:
            message = await self.layer.receive(self.channel)
            self.got.setdefault(message["n"], time.monotonic())

    async def wait_for(self, wanted: set[int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.05) + 1):
            if wanted <= self.got.keys() or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)


async def _fail_over(topology: SentinelTopology, how: str) -> tuple[float, float]:
    """Kill the master, or ask for a graceful failover (the old master lives on as a replica:
    writes to it would fail with READONLY). Returns (failover started at, new master up at)
    on the monotonic clock."""
    old = topology.master_port()
    killed_at = time.monotonic()
    if how == "kill":
        topology.server_on(old).stop()
    else:
        await asyncio.to_thread(topology.failover)
    await asyncio.to_thread(topology.wait_for_new_master, old)
    return killed_at, time.monotonic()


async def _run_failover(
    topology: SentinelTopology,
    layer: Any,
    target: str,
    channel: str,
    group: bool,
    how: str = "kill",
) -> dict[str, float]:
    """Messages flow, the master dies; every message whose send started once the layer was
    back on the new master (queue layer: the new master is up; pub/sub layer: re-subscribed,
    see `layer.resubscribed_at`) must arrive."""
    receiver, sender = Receiver(layer, channel), Sender(layer, target, group)
    receiving = asyncio.create_task(receiver.run())
    sending = asyncio.create_task(sender.run())
    try:
        await receiver.wait_for({0, 1, 2}, 5)
        assert {0, 1, 2} <= receiver.got.keys(), "nothing flows before the failover"
        killed_at, new_master_at = await _fail_over(topology, how)
        await asyncio.sleep(3)  # keep sending through the new master
        sender.stop = True
        await sending
        back_at = getattr(layer, "resubscribed_at", None) or new_master_at
        after = sender.after(back_at)
        assert len(after) > 20
        await receiver.wait_for(after, 10)
        assert after <= receiver.got.keys(), f"lost: {sorted(after - receiver.got.keys())}"
        assert not receiving.done(), "the consumer died in the failover"
        first = min(t for n, t in receiver.got.items() if sender.accepted.get(n, 0) > killed_at)
        return {
            "failover": new_master_at - killed_at,
            "recovery": first - killed_at,
            "back": back_at - killed_at,
            "failed_sends": sender.failed,
        }
    finally:
        sender.stop = True
        receiving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiving


@pytest.mark.parametrize("how", ["kill", "graceful"])
async def test_the_queue_layer_delivers_everything_sent_after_a_failover(
    topology: SentinelTopology, how: str
) -> None:
    layer = make(RedisChannelLayer, {"sentinels": topology.addresses, "master_name": MASTER_NAME})
    try:
        channel = await layer.new_channel()
        reconnects = metric("layer_reconnects_total", layer=layer.alias, op="receive")
        figures = await _run_failover(topology, layer, channel, channel, group=False, how=how)
        print(f"\nqueue layer, Sentinel failover ({how}): {figures}")
        if how == "kill":  # the receive loop saw the master go and came back
            assert metric("layer_reconnects_total", layer=layer.alias, op="receive") > reconnects
        else:  # READONLY / dropped connections during the switch are retried, not raised
            assert figures["failed_sends"] == 0
    finally:
        await layer.close()


async def test_the_pubsub_layer_resubscribes_after_a_failover(topology: SentinelTopology) -> None:
    layer = make(RedisPubSubChannelLayer, topology.url)
    layer.on_reconnect = lambda: setattr(layer, "resubscribed_at", time.monotonic())
    try:
        channel = await layer.new_channel()
        group = f"room-{uuid.uuid4().hex[:6]}"
        await layer.group_add(group, channel)
        reconnects = metric("layer_reconnects_total", layer=layer.alias, op="subscribe")
        figures = await _run_failover(topology, layer, group, channel, group=True)
        assert metric("layer_reconnects_total", layer=layer.alias, op="subscribe") > reconnects
        print(f"\npub/sub layer, Sentinel failover: {figures}")
    finally:
        await layer.close()
