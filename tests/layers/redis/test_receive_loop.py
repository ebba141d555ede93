"""The queue layer's receive loop: one round trip per burst, and Redis 6 (no BLMPOP) still works."""

from __future__ import annotations

import asyncio
import uuid

from redis import asyncio as aioredis

from fast_channels.layers.redis import RedisChannelLayer
from tests.support.redis_server import RedisServer


async def commandstats(url: str) -> dict[str, int]:
    client = aioredis.Redis.from_url(url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


async def test_a_burst_is_received_in_a_handful_of_round_trips(
    own_redis_server: RedisServer,
) -> None:
    layer = RedisChannelLayer(hosts=[own_redis_server.url], prefix="burst", capacity=1000)
    try:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "warm"})
        await asyncio.wait_for(layer.receive(channel), 3)
        before = await commandstats(own_redis_server.url)
        await asyncio.gather(*(layer.send(channel, {"type": "m", "n": n}) for n in range(500)))
        got = [await asyncio.wait_for(layer.receive(channel), 3) for _ in range(500)]
        after = await commandstats(own_redis_server.url)
        assert [m["n"] for m in got] == list(range(500))
        pops = after.get("blmpop", 0) - before.get("blmpop", 0)
        # 500 messages, popped in bursts: far fewer blocking pops than messages.
        assert 1 <= pops <= 20
        # The capacity counts were settled: nothing waits, so the counts key is gone.
        client = aioredis.Redis.from_url(own_redis_server.url)
        try:
            assert await client.exists(layer.process_keys(layer.process_id)[1]) == 0
        finally:
            await client.aclose()
    finally:
        await layer.flush()
        await layer.close()


async def test_without_blmpop_the_loop_falls_back_and_loses_nothing(
    own_redis_server: RedisServer,
) -> None:
    # Redis 6 has no BLMPOP: renaming it away gives the same "unknown command" answer.
    own_redis_server.stop()
    own_redis_server.extra_args = ["--rename-command", "BLMPOP", ""]
    own_redis_server.start()
    layer = RedisChannelLayer(hosts=[own_redis_server.url], prefix=f"old-{uuid.uuid4().hex[:6]}")
    try:
        channel = await layer.new_channel()
        for n in range(50):
            await layer.send(channel, {"type": "m", "n": n})
        got = [await asyncio.wait_for(layer.receive(channel), 3) for _ in range(50)]
        assert [m["n"] for m in got] == list(range(50))
        await layer.group_add("room", channel)
        await layer.group_send("room", {"type": "late"})
        assert (await asyncio.wait_for(layer.receive(channel), 3))["type"] == "late"
        assert layer._receiver._blmpop is False
    finally:
        await layer.flush()
        await layer.close()


async def test_members_changing_between_frames_change_who_gets_them(
    redis_server: RedisServer,
) -> None:
    # The loop reuses the previous frame's channel names while the target list repeats:
    # a join or a leave between two group_sends must still reach exactly the members then.
    layer = RedisChannelLayer(hosts=[redis_server.url], prefix=f"names-{uuid.uuid4().hex[:6]}")
    try:
        a, b, c = [await layer.new_channel() for _ in range(3)]
        for channel in (a, b):
            await layer.group_add("room", channel)
        await layer.group_send("room", {"type": "m", "n": 1})
        await layer.group_send("room", {"type": "m", "n": 2})  # the same target list again
        await layer.group_add("room", c)
        await layer.group_send("room", {"type": "m", "n": 3})
        await layer.group_discard("room", a)
        await layer.group_send("room", {"type": "m", "n": 4})

        async def received(channel: str, count: int) -> list[int]:
            return [(await asyncio.wait_for(layer.receive(channel), 3))["n"] for _ in range(count)]

        assert await received(a, 3) == [1, 2, 3]
        assert await received(b, 4) == [1, 2, 3, 4]
        assert await received(c, 2) == [3, 4]
        await asyncio.sleep(0.1)
        for channel in (a, b, c):  # nothing more came
            assert len(layer.local.channels[channel].buffer) == 0
    finally:
        await layer.flush()
        await layer.close()


async def test_a_burst_too_big_for_hiredis_packing_is_acknowledged(
    own_redis_server: RedisServer,
) -> None:
    # 400 members x ~40-byte names x 20 frames: an ACK of ~330 KB, packed by LargeCommand.
    layer = RedisChannelLayer(
        hosts=[own_redis_server.url], prefix=f"bigack-{uuid.uuid4().hex[:6]}", capacity=100
    )
    try:
        channels = [await layer.new_channel() for _ in range(400)]
        for channel in channels:
            await layer.group_add("room", channel)
        await layer.send(channels[0], {"type": "warm"})  # the loop runs and blocks
        await asyncio.wait_for(layer.receive(channels[0]), 3)
        await asyncio.gather(*(layer.group_send("room", {"type": "m", "n": n}) for n in range(20)))
        for channel in channels:
            got = [(await asyncio.wait_for(layer.receive(channel), 3))["n"] for _ in range(20)]
            assert got == list(range(20))
        # The counts were settled by the big ACK: nothing waits, so the counts key goes.
        client = aioredis.Redis.from_url(own_redis_server.url)
        try:
            counts_key = layer.process_keys(layer.process_id)[1]
            for _ in range(50):
                if not await client.exists(counts_key):
                    break
                await layer.send(channels[0], {"type": "nudge"})  # one more round trip
                await asyncio.wait_for(layer.receive(channels[0]), 3)
            assert await client.exists(counts_key) == 0
        finally:
            await client.aclose()
    finally:
        await layer.flush()
        await layer.close()
