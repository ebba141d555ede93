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
