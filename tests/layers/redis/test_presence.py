"""Presence on the Redis layers across instances (issue 20): each instance is a process here.

A closed instance stops renewing its lease, as a SIGKILLed process does (the real SIGKILL is in
tests/faults/test_presence_processes.py): another instance's read after the lease removes its
entries and sends their process_dead leaves. An instance that stalled past its lease writes its
entries again. Reading 10,000 members is one script call.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis

from fast_channels.layers.presence import events_group
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.layers.redis.common import RedisLayerBase
from tests.layers.redis.conftest import command_calls, metric
from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer
from tests.support.sentinel import SentinelTopology
from tests.support.tcp_proxy import TcpProxy

LEASE = 1.0
Maker = Callable[[], RedisLayerBase]


def hosts_of(request: pytest.FixtureRequest, topology: str) -> list[Any]:
    if topology == "single":
        server: RedisServer = request.getfixturevalue("redis_server")
        return [server.url]
    if topology == "sentinel":
        sentinel: SentinelTopology = request.getfixturevalue("sentinel_topology")
        return [sentinel.url]
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    return [{"cluster": True, "address": cluster.url}]


@pytest.fixture(
    params=[
        (kind, topology)
        for kind in ("queue", "pubsub")
        for topology in ("single", "sentinel", "cluster")
    ],
    ids=lambda param: "-".join(param),
)
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Maker]:
    """Instances of one layer kind sharing a prefix: processes of one deployment."""
    kind, topology = request.param
    cls = RedisChannelLayer if kind == "queue" else RedisPubSubChannelLayer
    hosts, prefix = hosts_of(request, topology), f"presence-{uuid.uuid4().hex[:8]}"
    made: list[RedisLayerBase] = []

    def maker() -> RedisLayerBase:
        layer = cls(hosts=hosts, prefix=prefix, process_lease=LEASE)
        layer.bind_alias(f"presence-{uuid.uuid4().hex[:8]}")
        made.append(layer)
        return layer

    yield maker
    for layer in made:
        await layer.close()


async def until_read(layer: RedisLayerBase, group: str, expected: set[str]) -> None:
    deadline = time.monotonic() + 10 * LEASE
    while set(await layer.read_presence(group)) != expected:
        assert time.monotonic() < deadline, "presence never became what was expected"
        await asyncio.sleep(LEASE / 10)


async def test_a_dead_instances_entries_are_reaped_with_leave_events(make: Maker) -> None:
    alive, dead = make(), make()
    watcher, ann = await alive.new_channel(), await alive.new_channel()
    await alive.group_add(events_group("room"), watcher)
    await alive.presence_join("room", ann, {"name": "ann"})
    ghosts = [await dead.new_channel() for _ in range(3)]
    for ghost in ghosts:
        await dead.presence_join("room", ghost, {"name": "ghost"})
    assert set(await alive.read_presence("room")) == {ann, *ghosts}
    await dead.close()  # its keeper stops: no more renewals, no leaves
    await until_read(alive, "room", {ann})
    # Four joins (ann and the ghosts), then the three ghosts' leaves.
    events = [await asyncio.wait_for(alive.receive(watcher), 5) for _ in range(7)]
    leaves = {e["channel"] for e in events if e.get("reason") == "process_dead"}
    assert leaves == set(ghosts)
    assert metric("layer_presence_reaped_total", layer=alive.alias) == 3
    await alive.presence_leave("room", ann)


async def test_an_instance_reaped_after_a_stall_writes_its_entries_again(make: Maker) -> None:
    watching, stalled = make(), make()
    watcher, bob = await watching.new_channel(), await watching.new_channel()
    await watching.group_add(events_group("room"), watcher)
    await watching.presence_join("room", bob, {"name": "bob"})
    ann = await stalled.new_channel()
    await stalled.presence_join("room", ann, {"name": "ann"})
    keeper = stalled.presence._keeper  # type: ignore[attr-defined]
    keeper.cancel()  # a stall: no renewal, though the process lives on
    await until_read(watching, "room", {bob})
    stalled.presence._joined("room")  # the stall ends: its keeper runs again
    await until_read(watching, "room", {bob, ann})
    seen: list[tuple[str, str, Any]] = []
    while len(seen) < 4:  # joins of bob and ann, ann's process_dead leave, ann's join again
        event = await asyncio.wait_for(watching.receive(watcher), 5)
        seen.append((event["type"], event["channel"], event.get("reason")))
    assert seen[2:] == [("presence.leave", ann, "process_dead"), ("presence.join", ann, None)]
    for layer, channel in ((watching, bob), (stalled, ann)):
        await layer.presence_leave("room", channel)


async def test_reading_ten_thousand_members_is_one_call(make_redis: Any, redis_server: Any) -> None:
    # A long lease: no renewal of its own between the two counts.
    layer: RedisChannelLayer = make_redis(process_lease=600)
    channels = [f"member.{i}!x" for i in range(10_000)]
    for start in range(0, len(channels), 500):
        part = channels[start : start + 500]
        await asyncio.gather(*(layer.presence_join("big", c, {"n": i}) for i, c in enumerate(part)))
    await layer.read_presence("other")  # the script loaded (a first EVALSHA gets NOSCRIPT)
    before = command_calls(redis_server, "evalsha")
    members = await layer.read_presence("big")
    assert command_calls(redis_server, "evalsha") == before + 1
    assert len(members) == 10_000
    assert members["member.1!x"] == {"n": 1}
    await layer.flush()
    assert layer.presence.held == {}


async def test_a_leave_that_failed_is_made_once_redis_answers(redis_server: RedisServer) -> None:
    """Redis unreachable during a leave (the consumer's cleanup logs it and goes on): the
    keeper leaves again once it answers, with the leave event, rather than leave the entry
    to its lease (or to the keys' TTL, which sends no event)."""
    proxy = TcpProxy(int(redis_server.url.rsplit(":", 1)[1].split("/")[0]))
    await proxy.start()
    prefix = f"unleft-{uuid.uuid4().hex[:8]}"
    layers = [
        RedisChannelLayer(hosts=[url], prefix=prefix, process_lease=LEASE)
        for url in (proxy.url, redis_server.url)
    ]
    for layer in layers:
        layer.bind_alias(f"unleft-{uuid.uuid4().hex[:8]}")
    cut, direct = layers
    try:
        watcher, ann = await direct.new_channel(), await cut.new_channel()
        await direct.group_add(events_group("room"), watcher)
        await cut.presence_join("room", ann, {"name": "ann"})
        assert (await asyncio.wait_for(direct.receive(watcher), 5))["type"] == "presence.join"
        await proxy.close()
        with pytest.raises(redis.RedisError):
            await cut.presence_leave("room", ann)
        assert set(await direct.read_presence("room")) == {ann}  # still there
        await proxy.start()
        left = await asyncio.wait_for(direct.receive(watcher), 10)
        assert (left["type"], left["channel"], left["reason"]) == ("presence.leave", ann, "left")
        assert await direct.read_presence("room") == {}
        assert metric("layer_redis_errors_total", layer=cut.alias, op="presence") >= 1
    finally:
        for layer in layers:
            await layer.close()
        await proxy.close()
