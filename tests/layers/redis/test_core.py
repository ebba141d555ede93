"""The queue layer beyond the contract: round trips, fan-out, expiry, capacity, memberships."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from fast_channels.exceptions import ChannelFull, MessageTooLarge
from fast_channels.layers.redis import RedisChannelLayer
from tests.layers.redis.conftest import WakeOrder, command_calls, joined, metric, raw_client
from tests.support.redis_server import RedisServer

Make = Callable[..., Any]


async def receive(layer: RedisChannelLayer, channel: str, timeout: float = 3) -> dict[str, Any]:
    return await asyncio.wait_for(layer.receive(channel), timeout)


async def test_send_is_one_evalsha_round_trip(make_redis: Make, redis_server: RedisServer) -> None:
    layer = make_redis()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "warm"})  # loads the script once (NOSCRIPT → LOAD)
    before = command_calls(redis_server, "evalsha")
    for index in range(10):
        await layer.send(channel, {"type": "m", "n": index})
    assert command_calls(redis_server, "evalsha") - before == 10


async def test_group_send_is_one_round_trip_whatever_the_group_size(
    make_redis: Make, redis_server: RedisServer
) -> None:
    layer = make_redis()
    for size in (1, 50, 500):
        group = f"g{size}"
        for _ in range(size):
            await layer.group_add(group, await layer.new_channel())
        await layer.group_send(group, {"type": "warm"})
        calls = {name: command_calls(redis_server, name) for name in ("evalsha", "rpush", "eval")}
        await layer.group_send(group, {"type": "m"})
        after = {name: command_calls(redis_server, name) for name in calls}
        assert after["evalsha"] - calls["evalsha"] == 1
        assert after["eval"] == calls["eval"]
        # All members live in one process: the message is written once for all of them.
        assert after["rpush"] - calls["rpush"] == 1


async def test_a_group_of_1000_members_receives_every_message(make_redis: Make) -> None:
    layer = make_redis(capacity=10)
    members = [await layer.new_channel() for _ in range(1000)]
    for channel in members:
        await layer.group_add("big", channel)
    for index in range(3):
        await layer.group_send("big", {"type": "tick", "n": index})
    for channel in members:
        got = [(await receive(layer, channel))["n"] for _ in range(3)]
        assert got == [0, 1, 2]
    assert metric("layer_group_send_fanout_sum", layer=layer.alias) == 3000


async def test_group_send_reaches_members_of_several_layer_instances(make_redis: Make) -> None:
    prefix = "shared-" + str(time.monotonic_ns())
    first, second = make_redis(prefix=prefix), make_redis(prefix=prefix)
    a, b = await first.new_channel(), await second.new_channel()
    plain = f"plain-{time.monotonic_ns()}"
    for channel in (a, b, plain):
        await first.group_add("room", channel)
    await second.group_send("room", {"type": "hello"})
    assert (await receive(first, a))["type"] == "hello"
    assert (await receive(second, b))["type"] == "hello"
    assert (await receive(first, plain))["type"] == "hello"


async def test_delivery_carries_the_envelope_and_the_message_does_not(make_redis: Make) -> None:
    layer = make_redis()
    channel = await layer.new_channel()
    before = time.time()
    await layer.group_add("g", channel)
    await layer.group_send("g", {"type": "x"})
    delivery = await asyncio.wait_for(layer.receive_delivery(channel), 3)
    assert delivery.message == {"type": "x"}
    assert delivery.op == "group_send"
    assert delivery.sent_at is not None
    assert before <= delivery.sent_at <= time.time()
    assert delivery.expires_at == pytest.approx(delivery.sent_at + layer.expiry, abs=0.01)
    # A traceparent travels only when an OpenTelemetry SDK is configured (tests/observability).
    assert delivery.traceparent is None or delivery.traceparent.startswith("00-")


async def test_the_traceparent_hook_is_carried(make_redis: Make) -> None:
    from fast_channels.layers.redis.envelope import set_traceparent_provider
    from fast_channels.observability.tracing import current_traceparent

    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    layer = make_redis()
    channel = await layer.new_channel()
    set_traceparent_provider(lambda: traceparent)
    try:
        await layer.send(channel, {"type": "traced"})
    finally:
        set_traceparent_provider(current_traceparent)
    delivery = await asyncio.wait_for(layer.receive_delivery(channel), 3)
    assert delivery.traceparent == traceparent
    assert delivery.message == {"type": "traced"}


async def test_expired_messages_are_dropped_on_read_and_counted(make_redis: Make) -> None:
    layer = make_redis(expiry=1)
    channel = await layer.new_channel()
    for index in range(3):
        await layer.send(channel, {"type": "old", "n": index})
    await asyncio.sleep(1.2)
    with pytest.raises(TimeoutError):
        await receive(layer, channel, timeout=0.5)  # the loop pops them, and drops them
    assert metric("layer_messages_dropped_total", layer=layer.alias, reason="expired") == 3


async def test_expired_messages_are_pruned_by_a_later_send_and_counted(make_redis: Make) -> None:
    layer = make_redis(expiry=1)
    channel = await layer.new_channel()
    for index in range(3):
        await layer.send(channel, {"type": "old", "n": index})
    await asyncio.sleep(1.2)
    await layer.send(channel, {"type": "new"})  # prunes the old ones in the same script
    assert metric("layer_messages_dropped_total", layer=layer.alias, reason="expired") == 3
    assert (await receive(layer, channel))["type"] == "new"


async def test_expired_messages_in_the_local_buffer_are_dropped(make_redis: Make) -> None:
    layer = make_redis(expiry=1)
    channel, other = await layer.new_channel(), await layer.new_channel()
    receiving = asyncio.create_task(layer.receive(other))  # starts the loop: it buffers locally
    await layer.send(channel, {"type": "old"})
    await asyncio.sleep(1.2)
    await layer.send(channel, {"type": "new"})
    assert (await receive(layer, channel))["type"] == "new"
    assert metric("layer_messages_dropped_total", layer=layer.alias, reason="expired") == 1
    receiving.cancel()


async def test_key_ttls_follow_expiry(make_redis: Make, redis_server: RedisServer) -> None:
    # Data keys outlive their frames by group_expiry: frames nobody read are counted by a
    # sweep before that (tests/layers/redis/test_expiry_sweep.py), not deleted unseen.
    layer = make_redis(expiry=5, group_expiry=100, process_lease=10)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "m"})
    await layer.group_add("g", channel)
    client = raw_client(redis_server)
    queue, counts = layer.process_keys(layer.process_id)
    assert 100 < client.ttl(queue) <= 106
    assert 100 < client.ttl(counts) <= 106
    assert 95 < client.ttl(f"{layer.prefix}:g:g") <= 100
    client.close()


async def test_a_full_local_buffer_drops_and_counts(make_redis: Make) -> None:
    layer = make_redis(capacity=2)
    channel, other = await layer.new_channel(), await layer.new_channel()
    receiving = asyncio.create_task(layer.receive(other))  # starts the process loop
    await layer.send(other, {"type": "start"})
    await asyncio.wait_for(receiving, 3)
    before = metric("layer_messages_dropped_total", layer=layer.alias, reason="channel_full")
    for index in range(4):  # the loop drains Redis, so only the local buffer bounds the channel
        await layer.send(channel, {"type": "m", "n": index})
        await asyncio.sleep(0.05)
    assert [(await receive(layer, channel))["n"] for _ in range(2)] == [0, 1]
    assert (
        metric("layer_messages_dropped_total", layer=layer.alias, reason="channel_full") - (before)
        == 2
    )


async def test_send_to_a_full_channel_counts_channel_full(make_redis: Make) -> None:
    layer = make_redis(capacity=1)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "m"})
    before = metric("layer_channel_full_total", layer=layer.alias, op="send")
    with pytest.raises(ChannelFull, match="capacity"):
        await layer.send(channel, {"type": "m"})
    assert metric("layer_channel_full_total", layer=layer.alias, op="send") - before == 1


async def test_group_send_counts_full_members(make_redis: Make) -> None:
    layer = make_redis(capacity=1)
    members = [await layer.new_channel() for _ in range(3)]
    for channel in members:
        await layer.group_add("g", channel)
    await layer.group_send("g", {"type": "first"})
    await layer.group_send("g", {"type": "second"})
    assert metric("layer_channel_full_total", layer=layer.alias, op="group_send") == 3
    assert metric("layer_messages_sent_total", layer=layer.alias, op="group_send") == 3


async def test_a_big_group_is_counted_per_member_in_a_hashtable(
    make_redis: Make, redis_server: RedisServer
) -> None:
    # Past 64 members in one process, the capacity counts go into a hashtable from the start
    # (a listpack hash made group_send quadratic in the group size); each member still counts.
    layer = make_redis(capacity=2)
    members = [await layer.new_channel() for _ in range(200)]  # nothing receives: counts stay
    for channel in members:
        await layer.group_add("big", channel)
    for n in range(3):
        await layer.group_send("big", {"type": "m", "n": n})
    assert metric("layer_messages_sent_total", layer=layer.alias, op="group_send") == 400
    assert metric("layer_channel_full_total", layer=layer.alias, op="group_send") == 200
    client = raw_client(redis_server)
    _, counts = layer.process_keys(layer.process_id)
    assert client.object("encoding", counts) == b"hashtable"
    assert client.hmget(counts, members) == [b"2"] * 200
    client.close()


async def test_channel_capacity_patterns_apply_to_group_members(make_redis: Make) -> None:
    layer = make_redis(capacity=5, channel_capacity={"tiny.*": 1})
    tiny, roomy = await layer.new_channel("tiny"), await layer.new_channel("roomy")
    await layer.group_add("g", tiny)
    await layer.group_add("g", roomy)
    for index in range(3):
        await layer.group_send("g", {"type": "m", "n": index})
    assert metric("layer_channel_full_total", layer=layer.alias, op="group_send") == 2
    assert [(await receive(layer, roomy))["n"] for _ in range(3)] == [0, 1, 2]
    assert (await receive(layer, tiny))["n"] == 0


async def test_release_channel_frees_the_buffer_and_memberships(
    make_redis: Make, redis_server: RedisServer
) -> None:
    layer = make_redis()
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.send(channel, {"type": "left.behind"})
    assert metric("layer_group_members", layer=layer.alias) == 1
    await layer.release_channel(channel)
    assert channel not in layer._local
    assert metric("layer_group_members", layer=layer.alias) == 0
    assert metric("layer_groups", layer=layer.alias) == 0
    client = raw_client(redis_server)
    assert client.zcard(f"{layer.prefix}:g:g") == 0
    client.close()


async def test_live_members_are_refreshed_and_leaked_ones_reaped(
    make_redis: Make, redis_server: RedisServer
) -> None:
    prefix = f"reap-{time.monotonic_ns()}"
    layer = make_redis(prefix=prefix, group_expiry=1)
    leaking = make_redis(prefix=prefix, group_expiry=1)
    live, leaked = await layer.new_channel(), await leaking.new_channel()
    await layer.group_add("g", live)
    await layer.group_add("g", leaked)
    await leaking.close()  # the process holding `leaked` is gone without discarding it
    receiving = asyncio.create_task(layer.receive(live))
    await asyncio.sleep(1.6)
    await layer.group_send("g", {"type": "still.here"})
    assert (await asyncio.wait_for(receiving, 3))["type"] == "still.here"
    client = raw_client(redis_server)
    assert client.zrange(f"{prefix}:g:g", 0, -1) == [live.encode()]
    client.close()


async def test_flush_scans_and_leaves_no_key_of_the_prefix(
    make_redis: Make, redis_server: RedisServer
) -> None:
    layer = make_redis()
    for index in range(30):
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "m"})
        await layer.send(f"plain{index}", {"type": "m"})
        await layer.group_add(f"g{index}", channel)
    client = raw_client(redis_server)
    assert client.keys(f"{layer.prefix}:*")
    keys_before = command_calls(redis_server, "keys")
    await layer.flush()
    assert command_calls(redis_server, "keys") == keys_before + 0
    assert client.keys(f"{layer.prefix}:*") == []
    client.close()


async def test_oversized_messages_raise_before_touching_redis(
    make_redis: Make, redis_server: RedisServer
) -> None:
    layer = make_redis(max_message_size=1000)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "warm"})
    before = command_calls(redis_server, "evalsha")
    with pytest.raises(MessageTooLarge, match="1000"):
        await layer.send(channel, {"type": "big", "blob": "x" * 2000})
    with pytest.raises(MessageTooLarge):
        await layer.group_send("g", {"type": "big", "blob": "x" * 2000})
    assert command_calls(redis_server, "evalsha") == before


async def test_an_unserializable_message_fails_at_send_with_a_clear_error(make_redis: Make) -> None:
    layer = make_redis()
    channel = await layer.new_channel()
    with pytest.raises(TypeError, match=r"message\['items'\] is of type set"):
        await layer.send(channel, {"type": "m", "items": {1, 2}})
    json_layer = make_redis(serializer_format="json")
    with pytest.raises(TypeError, match=r"message\['items'\] is of type set"):
        await json_layer.group_send("g", {"type": "m", "items": {1, 2}})
    # The one value of the layers' rule that JSON has no type for: its serializer says so.
    with pytest.raises(TypeError, match=r"cannot be serialized with 'json'.*bytes"):
        await json_layer.group_send("g", {"type": "m", "blob": b"\x00"})


async def test_scripts_are_reloaded_after_script_flush(
    make_redis: Make, redis_server: RedisServer
) -> None:
    layer = make_redis()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "one"})
    client = raw_client(redis_server)
    client.script_flush()
    client.close()
    await layer.send(channel, {"type": "two"})
    assert [(await receive(layer, channel))["type"] for _ in range(2)] == ["one", "two"]


async def test_plain_channels_are_shared_between_instances(make_redis: Make) -> None:
    prefix = f"plain-{time.monotonic_ns()}"
    first, second = make_redis(prefix=prefix), make_redis(prefix=prefix)
    got: list[int] = []

    async def work(layer: RedisChannelLayer) -> None:
        while True:
            got.append((await layer.receive("jobs"))["n"])

    workers = [asyncio.create_task(work(layer)) for layer in (first, second)]
    for index in range(20):
        await first.send("jobs", {"type": "job", "n": index})
    for _ in range(100):
        if len(got) == 20:
            break
        await asyncio.sleep(0.05)
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    assert sorted(got) == list(range(20))


async def test_receiving_on_another_instances_channel_is_refused(make_redis: Make) -> None:
    first, second = make_redis(), make_redis()
    with pytest.raises(ValueError, match="another layer instance"):
        await second.receive(await first.new_channel())


def test_unknown_options_are_rejected() -> None:
    with pytest.raises(TypeError, match="capacityy"):
        RedisChannelLayer(capacityy=10)  # type: ignore[call-arg]


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="list of Redis hosts"):
        RedisChannelLayer(hosts="redis://localhost")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="prefix"):
        RedisChannelLayer(prefix="has space")
    with pytest.raises(KeyError, match="yaml"):
        RedisChannelLayer(serializer_format="yaml")
    with pytest.raises(ValueError, match="max_message_size"):
        RedisChannelLayer(max_message_size=0)


async def test_members_keep_their_join_order_through_a_refresh(
    make_redis: Make, redis_server: RedisServer
) -> None:
    # A fan-out wakes receivers in the order GROUP_SEND lists them: join order, the order
    # their objects were allocated in. A refresh gave every live member the same score, and
    # Redis sorts equal scores by name.
    prefix = f"order-{time.monotonic_ns()}"
    layer = make_redis(prefix=prefix)
    channels = await joined(layer, "ordered", 50)
    wakes = WakeOrder(layer, channels)
    await asyncio.sleep(0.05)  # all of them waiting: live, so refreshed
    await layer.refresh_memberships()
    client = raw_client(redis_server)
    try:
        assert client.zrange(f"{prefix}:g:ordered", 0, -1) == [c.encode() for c in channels]
    finally:
        client.close()
    await layer.group_send("ordered", {"type": "hello"})
    assert await wakes.order() == channels
