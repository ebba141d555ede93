"""Both Redis layers on a real 3-master Redis Cluster: hash-tagged keys, group_send across
processes on different nodes, sharded pub/sub, and slots moving under live traffic."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from redis.crc import key_slot
from redis.exceptions import RedisError

from fast_channels.config import layer_from_env
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.layers.redis.cluster import (
    RedisClusterChannelLayer,
    RedisClusterPubSubChannelLayer,
)
from fast_channels.layers.redis.common import RedisLayerBase
from tests.support.redis_cluster import RedisCluster

pytestmark = pytest.mark.timeout(60)

Make = Callable[..., Any]


def keyslot(key: str) -> int:
    return key_slot(key.encode())


def command_calls(cluster: RedisCluster, command: str) -> int:
    total = 0
    for node in cluster.nodes:
        stats: Any = cluster.call(node.port, "INFO", "commandstats")
        total += int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))
    return total


def all_keys(cluster: RedisCluster, prefix: str) -> list[str]:
    keys: list[str] = []
    for node in cluster.nodes:
        found = cluster.call(node.port, "KEYS", f"{prefix}:*")
        keys += [key.decode() for key in found]  # type: ignore[union-attr]
    return keys


@pytest.fixture
async def make(redis_cluster: RedisCluster) -> AsyncIterator[Make]:
    made: list[RedisLayerBase] = []

    def build(cls: type[RedisLayerBase] = RedisChannelLayer, **options: Any) -> Any:
        options.setdefault("hosts", [{"cluster": True, "address": redis_cluster.url}])
        options.setdefault("prefix", f"c-{uuid.uuid4().hex[:8]}")
        layer = cls(**options)
        layer.bind_alias(f"cluster-{uuid.uuid4().hex[:8]}")
        made.append(layer)
        return layer

    yield build
    for layer in made:
        await layer.flush()
        await layer.close()


async def test_cluster_hosts_build_the_cluster_variants(redis_cluster: RedisCluster) -> None:
    for host in ({"cluster": True, "address": redis_cluster.url}, redis_cluster.cluster_url):
        queue = RedisChannelLayer(hosts=[host])
        pubsub = RedisPubSubChannelLayer(hosts=[host])
        assert type(queue) is RedisClusterChannelLayer
        assert type(pubsub) is RedisClusterPubSubChannelLayer
        await queue.ping()
        await queue.close()
        await pubsub.close()
    assert type(RedisChannelLayer(hosts=[redis_cluster.url])) is RedisChannelLayer


async def test_every_key_has_a_hash_tag_and_one_slot_per_script(
    make: Make, redis_cluster: RedisCluster
) -> None:
    layer = make()
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    await layer.send(channel, {"type": "direct"})
    await layer.send("plain-channel", {"type": "plain"})
    await layer.group_send("room", {"type": "group"})
    keys = all_keys(redis_cluster, layer.prefix)
    p = layer.prefix
    process = layer.process_id
    expected = [
        f"{p}:{{{process}}}:q",
        f"{p}:{{{process}}}:n",
        f"{p}:{{ch:plain-channel}}",
        f"{p}:{{g:room}}:m",
    ]
    assert sorted(keys) == sorted(expected)
    queue, counts = layer.process_keys(process)
    assert keyslot(queue) == keyslot(counts)
    assert [(await layer.receive(channel))["type"] for _ in range(2)] == ["direct", "group"]


async def test_group_send_reaches_processes_on_every_node_in_one_step_per_node(
    make: Make, redis_cluster: RedisCluster
) -> None:
    prefix = f"c-{uuid.uuid4().hex[:8]}"
    layers = [make(prefix=prefix) for _ in range(6)]
    owners = {
        redis_cluster.owner(keyslot(layer.process_keys(layer.process_id)[0])) for layer in layers
    }
    assert len(owners) >= 2, "the processes should live on several nodes"
    members = [(layer, await layer.new_channel()) for layer in layers for _ in range(2)]
    for layer, channel in members:
        await layer.group_add("everyone", channel)
    await layers[0].group_send("everyone", {"type": "warm-up"})  # loads the scripts on every node
    evalsha_before = command_calls(redis_cluster, "evalsha")
    await layers[0].group_send("everyone", {"type": "hello"})
    # GROUP_MEMBERS once, then one DELIVER per process (12 members, 6 processes).
    assert command_calls(redis_cluster, "evalsha") - evalsha_before == 1 + len(layers)
    for layer, channel in members:
        for expected in ("warm-up", "hello"):
            assert (await asyncio.wait_for(layer.receive(channel), 3))["type"] == expected


async def test_group_send_respects_capacity_and_plain_channel_members(make: Make) -> None:
    layer = make(capacity=1, channel_capacity={"big*": 5})
    full, free = await layer.new_channel(), await layer.new_channel()
    await layer.send(full, {"type": "filler"})
    for member in (full, free, "big-plain", "small-plain"):
        await layer.group_add("room", member)
    for _ in range(2):
        await layer.group_send("room", {"type": "broadcast"})
    assert (await layer.receive(free))["type"] == "broadcast"
    assert (await layer.receive(full))["type"] == "filler"
    assert [(await layer.receive("big-plain"))["type"] for _ in range(2)] == ["broadcast"] * 2
    assert (await layer.receive("small-plain"))["type"] == "broadcast"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive("small-plain"), 0.3)


async def test_pubsub_on_a_cluster_is_sharded(make: Make, redis_cluster: RedisCluster) -> None:
    before = {c: command_calls(redis_cluster, c) for c in ("spublish", "ssubscribe", "publish")}
    layer = make(RedisPubSubChannelLayer)
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    await layer.group_send("room", {"type": "g"})
    await layer.send(channel, {"type": "d"})
    assert {(await layer.receive(channel))["type"] for _ in range(2)} == {"g", "d"}
    assert command_calls(redis_cluster, "spublish") - before["spublish"] == 2
    assert command_calls(redis_cluster, "ssubscribe") - before["ssubscribe"] >= 2
    assert command_calls(redis_cluster, "publish") == before["publish"]


async def test_flush_removes_the_prefix_from_every_node(
    make: Make, redis_cluster: RedisCluster
) -> None:
    layer = make()
    for index in range(30):
        await layer.send(f"plain-{index}", {"type": "m"})
    assert (
        len({redis_cluster.owner(keyslot(k)) for k in all_keys(redis_cluster, layer.prefix)}) == 3
    )
    await layer.flush()
    assert all_keys(redis_cluster, layer.prefix) == []


async def test_layer_from_env_builds_a_cluster_layer(redis_cluster: RedisCluster) -> None:
    layer = layer_from_env(
        {"FAST_CHANNELS_REDIS_URL": redis_cluster.url, "FAST_CHANNELS_REDIS_CLUSTER": "true"}
    )
    assert isinstance(layer, RedisClusterChannelLayer)
    try:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "hello"})
        assert (await asyncio.wait_for(layer.receive(channel), 3))["type"] == "hello"
    finally:
        await layer.flush()
        await layer.close()


# -- resharding: slots move while the layers run -------------------------------------------


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[RedisCluster]:
    """A cluster whose slots these tests move around."""
    cluster = RedisCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


def other_node(cluster: RedisCluster, slot: int) -> int:
    return next(n.port for n in cluster.nodes if n.port != cluster.owner(slot))


async def test_the_queue_layer_follows_moved_slots(own_cluster: RedisCluster) -> None:
    layer = RedisChannelLayer(hosts=[own_cluster.cluster_url], prefix="moving")
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        await layer.group_send("room", {"type": "before"})
        assert (await asyncio.wait_for(layer.receive(channel), 3))["type"] == "before"
        # Move the group's slot and the process queue's slot (the receive loop is blocked on
        # it) to other nodes; the membership and the waiting BLPOP must follow.
        for key in (layer.group_keys("room")[0], layer.process_keys(layer.process_id)[0]):
            slot = keyslot(key)
            target = other_node(own_cluster, slot)
            await asyncio.to_thread(own_cluster.migrate_slot, slot, target)
            assert own_cluster.owner(slot) == target
        for n in range(20):
            await layer.group_send("room", {"type": "after", "n": n})
        got = [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(20)]
        assert got == list(range(20))
    finally:
        await layer.flush()
        await layer.close()


async def test_the_pubsub_layer_resubscribes_where_a_slot_moved(own_cluster: RedisCluster) -> None:
    layer = RedisPubSubChannelLayer(hosts=[own_cluster.cluster_url], prefix="moving-ps")
    layer.bind_alias(f"cluster-{uuid.uuid4().hex[:8]}")
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        name = "moving-ps:g:room"
        slot = keyslot(name)
        target = other_node(own_cluster, slot)
        await asyncio.to_thread(own_cluster.migrate_slot, slot, target)
        # Messages published while the subscription moves may be lost (at most once); once
        # it has moved, delivery resumes.
        for attempt in range(50):
            await layer.group_send("room", {"type": "after", "n": attempt})
            try:
                message = await asyncio.wait_for(layer.receive(channel), 0.2)
                break
            except TimeoutError:
                continue
        else:
            pytest.fail("no delivery after the slot moved")
        assert message["type"] == "after"
        placed = layer._placement[name.encode()]
        assert placed.node.endswith(f":{target}")
    finally:
        await layer.close()


# -- a master fails and its replica takes over ----------------------------------------------


@pytest.fixture(scope="module")
def replicated_cluster() -> Iterator[RedisCluster]:
    """Three masters with a replica each; the test kills a master."""
    cluster = RedisCluster(replicas=1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


def name_on(cluster: RedisCluster, port: int, make_key: Callable[[str], str]) -> str:
    """A group name whose key (built by make_key) lives on the master at `port`."""
    return next(
        name
        for name in (f"room-{index}" for index in range(10_000))
        if cluster.owner(keyslot(make_key(name))) == port
    )


async def _flow(layer: Any, group: str, channel: str, stop: asyncio.Event) -> dict[int, float]:
    """group_send numbered messages until stopped; returns n -> when its send started."""
    accepted: dict[int, float] = {}
    n = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            await layer.group_send(group, {"type": "m", "n": n})
            accepted[n] = started
        except RedisError:
            pass
        n += 1
        await asyncio.sleep(0.01)
    return accepted


async def _collect(layer: Any, channel: str, got: dict[int, float]) -> None:
    while True:
        got.setdefault((await layer.receive(channel))["n"], time.monotonic())


async def test_both_layers_survive_a_master_failing_over_to_its_replica(
    replicated_cluster: RedisCluster,
) -> None:
    cluster = replicated_cluster
    options: dict[str, Any] = {"hosts": [cluster.cluster_url], "socket_timeout": 1}
    queue = RedisChannelLayer(prefix="fo", **options)
    pubsub = RedisPubSubChannelLayer(prefix="fo-ps", **options)
    for layer in (queue, pubsub):
        layer.bind_alias(f"cluster-{uuid.uuid4().hex[:8]}")
    victim = cluster.owner(keyslot(queue.process_keys(queue.process_id)[0]))
    queue_group = name_on(cluster, victim, lambda name: queue.group_keys(name)[0])
    pubsub_group = name_on(cluster, victim, lambda name: f"fo-ps:g:{name}")
    got: dict[str, dict[int, float]] = {"queue": {}, "pubsub": {}}
    stop = asyncio.Event()
    tasks = []
    try:
        for kind, layer, group in (("queue", queue, queue_group), ("pubsub", pubsub, pubsub_group)):
            channel = await layer.new_channel()
            await layer.group_add(group, channel)
            tasks.append(asyncio.create_task(_collect(layer, channel, got[kind])))
        flows = [
            asyncio.create_task(_flow(queue, queue_group, "", stop)),
            asyncio.create_task(_flow(pubsub, pubsub_group, "", stop)),
        ]
        await asyncio.sleep(0.5)
        assert got["queue"], "nothing flows before the failover"
        assert got["pubsub"], "nothing flows before the failover"
        killed_at = time.monotonic()
        slot = keyslot(queue.process_keys(queue.process_id)[0])
        cluster.kill_owner(slot)
        await asyncio.to_thread(cluster.wait_for_new_owner, slot, victim)
        promoted_at = time.monotonic()
        await asyncio.sleep(4)
        stop.set()
        accepted_queue, accepted_pubsub = [await flow for flow in flows]
        # Queue layer: everything sent once the replica was promoted arrives.
        after = {n for n, t in accepted_queue.items() if t >= promoted_at}
        assert len(after) > 20
        for _ in range(100):
            if after <= got["queue"].keys():
                break
            await asyncio.sleep(0.05)
        assert after <= got["queue"].keys(), f"lost {sorted(after - got['queue'].keys())}"
        # Pub/sub layer: delivery resumed on the promoted replica, up to the last message.
        resumed = [n for n in got["pubsub"] if accepted_pubsub.get(n, 0) > promoted_at]
        assert resumed
        assert max(accepted_pubsub) - max(resumed) < 5
        assert not any(task.done() for task in tasks), "a consumer died in the failover"
        first = {
            kind: min(t for n, t in got[kind].items() if accepted.get(n, 0) > killed_at)
            for kind, accepted in (("queue", accepted_queue), ("pubsub", accepted_pubsub))
        }
        print(
            f"\ncluster failover: promoted after {promoted_at - killed_at:.2f}s, first delivery "
            f"after kill: queue {first['queue'] - killed_at:.2f}s, "
            f"pub/sub {first['pubsub'] - killed_at:.2f}s"
        )
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await queue.close()
        await pubsub.close()


@pytest.mark.parametrize(
    "cls", [RedisChannelLayer, RedisPubSubChannelLayer], ids=["queue", "pubsub"]
)
async def test_history_keys_in_the_group_slot_and_the_gauge_over_nodes(
    make: Make, redis_cluster: RedisCluster, cls: type[RedisLayerBase]
) -> None:
    """A history group's keys share its slot (the queue layer's group keys, or the pub/sub
    layer's channel `P:g:<group>`); the history gauge sums XLEN over groups on any node."""
    groups = [f"room.{n}" for n in range(12)]
    layer = make(cls, group_history={"room.*": (3, 60)})
    for group in groups:
        for n in range(4):
            await layer.group_send(group, {"type": "m", "n": n})
        slot = keyslot(
            layer.group_keys(group)[0] if cls is RedisChannelLayer else f"{layer.prefix}:g:{group}"
        )
        assert {keyslot(key) for key in layer.history_keys(group)} == {slot}
    assert len({redis_cluster.owner(keyslot(layer.history_keys(g)[0])) for g in groups}) > 1
    await layer.refresh_backlog()
    assert layer.history_size() == 3 * len(groups)
    read = await layer.read_history("room.0", None)
    assert read.position.offset == 4
