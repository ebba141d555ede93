"""Group history in Redis (layers/redis/history.py): what only a real Redis can show.

Redis restarted empty, Redis refusing the append at maxmemory, the frame format, the keys'
expiry and the history_messages gauge. The rules every layer shares are in
tests/layers/contract/test_history.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.exceptions import OutOfMemoryError, RedisError

from fast_channels.layers.history import POSITION_KEY, Position
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.layers.redis.common import RedisLayerBase
from tests.layers.redis.conftest import metric
from tests.support.redis_server import RedisServer

KINDS = [RedisChannelLayer, RedisPubSubChannelLayer]


def make(cls: type[RedisLayerBase], server: RedisServer, **options: Any) -> Any:
    layer = cls(
        hosts=[server.url],
        prefix=f"h-{uuid.uuid4().hex[:8]}",
        group_history={"room.*": (100, 60)},
        **options,
    )
    layer.bind_alias(f"h-{uuid.uuid4().hex[:8]}")
    return layer


@pytest.fixture
def raw(own_redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(own_redis_server.url)
    client.config_set("maxmemory-policy", "noeviction")
    yield client
    client.close()


async def send_until_accepted(layer: RedisLayerBase, group: str, message: dict[str, Any]) -> int:
    """group_send, again while Redis is coming back (refusals and connection errors are the
    layer's honest answers then); returns the attempts it took."""
    for attempt in range(1, 100):
        try:
            await layer.group_send(group, message)
            return attempt
        except (RedisError, OSError, RuntimeError):
            await asyncio.sleep(0.1)
    raise AssertionError("group_send never succeeded after the restart")


@pytest.mark.parametrize("cls", KINDS, ids=["queue", "pubsub"])
@pytest.mark.timeout(60)
async def test_redis_restarted_empty_is_a_new_epoch_never_a_complete_recovery(
    cls: type[RedisLayerBase], own_redis_server: RedisServer
) -> None:
    layer = make(cls, own_redis_server)
    try:
        channel = await layer.new_channel()
        await layer.group_add("room.1", channel)
        for n in range(1, 4):
            await layer.group_send("room.1", {"type": "m", "n": n})
        got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(3)]
        before = Position(got[-1][POSITION_KEY]["epoch"], 3)
        assert (await layer.read_history("room.1", before)).complete

        own_redis_server.restart()  # kill -9, same port, no persistence: everything lost
        await send_until_accepted(layer, "room.1", {"type": "m", "n": 4})
        after = await layer.read_history("room.1", before)
        assert not after.complete
        assert after.position.epoch not in ("", before.epoch)
        assert after.position.offset == 1
        assert [m["n"] for m in after.messages] == [4]
        assert after.messages[0][POSITION_KEY]["epoch"] == after.position.epoch
        # A reader from before the loss, at any offset of the old epoch: never complete.
        for offset in range(5):
            assert not (await layer.read_history("room.1", Position(before.epoch, offset))).complete
    finally:
        await layer.close()


@pytest.mark.parametrize("cls", KINDS, ids=["queue", "pubsub"])
@pytest.mark.timeout(60)
async def test_maxmemory_refusing_the_append_refuses_the_whole_group_send(
    cls: type[RedisLayerBase], own_redis_server: RedisServer, raw: redis.Redis
) -> None:
    layer = make(cls, own_redis_server)
    try:
        channel = await layer.new_channel()
        await layer.group_add("room.1", channel)
        await layer.group_send("room.1", {"type": "m", "n": 1})
        assert (await asyncio.wait_for(layer.receive(channel), 5))["n"] == 1
        before = (await layer.read_history("room.1", None)).position
        errors = metric("layer_redis_errors_total", layer=layer.alias, op="group_send")
        stream, _ = layer.history_keys("room.1")

        raw.config_set("maxmemory", 1)
        with pytest.raises(OutOfMemoryError):
            await layer.group_send("room.1", {"type": "m", "n": 2})
        assert metric("layer_redis_errors_total", layer=layer.alias, op="group_send") == errors + 1
        raw.config_set("maxmemory", 0)

        # Nothing half-written: no offset taken, no entry kept, no frame delivered.
        assert (await layer.read_history("room.1", None)).position == before
        assert raw.xlen(stream) == 1
        await layer.group_send("room.1", {"type": "m", "n": 3})
        received = await asyncio.wait_for(layer.receive(channel), 5)
        assert received["n"] == 3
        assert received[POSITION_KEY]["offset"] == before.offset + 1
    finally:
        raw.config_set("maxmemory", 0)
        await layer.close()


async def test_a_positioned_frame_and_an_unpositioned_one_in_redis(
    make_redis: Any, redis_server: RedisServer
) -> None:
    layer = make_redis(group_history={"room.*": (5, 60)})
    channel = await layer.new_channel()  # never received on: its frames stay in Redis
    await layer.group_add("room.1", channel)
    await layer.group_add("lobby", channel)
    await layer.group_send("room.1", {"type": "m"})
    await layer.group_send("lobby", {"type": "m"})
    client = redis.Redis.from_url(redis_server.url)
    try:
        queue, _ = layer.process_keys(layer.process_id)
        positioned, plain = client.lrange(queue, 0, -1)
        epoch = (await layer.read_history("room.1", None)).position.epoch
        head, targets, _ = positioned.split(b"\n", 2)
        expires, rest = head.split(b" ", 1)
        assert float(expires) > 0
        assert rest == f"{epoch} 1 room.1".encode()
        assert targets == channel.encode()
        plain_head, plain_targets, _ = plain.split(b"\n", 2)
        assert float(plain_head) > 0  # the 1.x head: the expires-at alone
        assert plain_targets == channel.encode()
        # Both history keys expire by themselves (an idle group's history goes).
        for key in layer.history_keys("room.1"):
            assert 0 < client.pttl(key) <= 60_000
        assert not client.exists(*layer.history_keys("lobby"))
    finally:
        client.close()


async def test_history_messages_gauge_counts_the_entries_of_groups_sent_to(
    make_redis: Any,
) -> None:
    layer = make_redis(group_history={"room.*": (3, 60)})
    await layer.refresh_backlog()
    assert layer.history_size() == 0
    for n in range(5):
        await layer.group_send("room.1", {"type": "m", "n": n})
    await layer.group_send("room.2", {"type": "m"})
    await layer.group_send("lobby", {"type": "m"})  # no history: not counted
    await layer.refresh_backlog()
    assert layer.history_size() == 3 + 1  # room.1 trimmed to its size
    assert metric("layer_history_messages", layer=layer.alias) == 4


async def test_positioned_frames_expire_in_redis_like_plain_ones(
    make_redis: Any, redis_server: RedisServer
) -> None:
    """The Lua scripts read a positioned head's expires-at (its first word): an expired
    positioned frame is pruned and counted, not kept forever."""
    layer = make_redis(expiry=1, group_history={"room.*": (5, 60)})
    member = await layer.new_channel()  # never received on: its frames stay in Redis
    await layer.group_add("room.1", member)
    await layer.group_add("room.1", "named.member")  # a plain channel's list too
    await layer.group_send("room.1", {"type": "m", "n": 1})
    await asyncio.sleep(1.2)
    expired = metric("layer_messages_dropped_total", layer=layer.alias, reason="expired")
    await layer.group_send("room.1", {"type": "m", "n": 2})
    after = metric("layer_messages_dropped_total", layer=layer.alias, reason="expired")
    assert after - expired == 2  # the member's frame and the named channel's
    client = redis.Redis.from_url(redis_server.url)
    try:
        queue, _ = layer.process_keys(layer.process_id)
        assert client.llen(queue) == 1
        assert client.llen(layer.list_key("named.member")) == 1
    finally:
        client.close()
