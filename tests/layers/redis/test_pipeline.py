"""Automatic pipelining of concurrent commands, against a real Redis."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
from redis import asyncio as aioredis
from redis.exceptions import ResponseError

from fast_channels.layers.redis import RedisChannelLayer
from fast_channels.layers.redis.pipeline import AutoPipeline
from tests.support.redis_server import RedisServer


async def test_concurrent_commands_share_round_trips_and_one_connection(
    redis_server: RedisServer,
) -> None:
    client = aioredis.Redis.from_url(redis_server.url, max_connections=2)
    pipeline = AutoPipeline(client)
    key = f"ap-{uuid.uuid4().hex}"
    try:
        results = await asyncio.gather(
            *(pipeline.execute_command("RPUSH", key, str(n)) for n in range(500))
        )
        # Each caller got its own reply (the list length right after its push), in order.
        assert sorted(results) == list(range(1, 501))
        assert await client.llen(key) == 500
        assert len(client.connection_pool._in_use_connections) == 0
    finally:
        await client.delete(key)
        await client.aclose()


async def test_errors_reach_only_the_caller_that_caused_them(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    pipeline = AutoPipeline(client)
    key = f"ap-{uuid.uuid4().hex}"
    try:
        await client.set(key, "not a list")
        good = [pipeline.execute_command("PING") for _ in range(5)]
        bad = pipeline.execute_command("RPUSH", key, "x")
        results = await asyncio.gather(*good, bad, return_exceptions=True)
        assert results[:5] == [True] * 5
        assert isinstance(results[5], ResponseError)
    finally:
        await client.delete(key)
        await client.aclose()


async def test_cancelled_callers_never_stall_the_others(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    pipeline = AutoPipeline(client)
    key = f"ap-{uuid.uuid4().hex}"
    rng = random.Random(7)
    try:
        for _ in range(20):
            tasks = [asyncio.create_task(pipeline.execute_command("INCR", key)) for _ in range(30)]
            await asyncio.sleep(0)
            for task in rng.sample(tasks, 10):
                task.cancel()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
        # After all that, the pipeline still works and is idle.
        assert await asyncio.wait_for(pipeline.execute_command("PING"), 2) is True
        assert not pipeline._busy
    finally:
        await client.delete(key)
        await client.aclose()


async def test_a_hundred_concurrent_senders_all_deliver(redis_server: RedisServer) -> None:
    layer = RedisChannelLayer(
        hosts=[redis_server.url], prefix=f"ap-{uuid.uuid4().hex[:6]}", capacity=10_000
    )
    try:
        channel = await layer.new_channel()

        async def sender(index: int) -> None:
            for seq in range(20):
                await layer.send(channel, {"type": "m", "from": index, "seq": seq})

        await asyncio.wait_for(asyncio.gather(*(sender(i) for i in range(100))), 20)
        received = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(2000)]
        assert sorted((m["from"], m["seq"]) for m in received) == [
            (i, s) for i in range(100) for s in range(20)
        ]
        # Each sender's messages stay in its own order.
        for index in range(100):
            assert [m["seq"] for m in received if m["from"] == index] == list(range(20))
    finally:
        await layer.flush()
        await layer.close()


@pytest.mark.parametrize("count", [1, 7])
async def test_script_reload_works_through_the_pipeline(
    redis_server: RedisServer, count: int
) -> None:
    layer = RedisChannelLayer(hosts=[redis_server.url], prefix=f"ap-{uuid.uuid4().hex[:6]}")
    try:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "warm"})
        await layer.shards.client(0).script_flush()
        await asyncio.gather(
            *(layer.send(channel, {"type": "after", "n": n}) for n in range(count))
        )
        messages = [await asyncio.wait_for(layer.receive(channel), 3) for _ in range(count + 1)]
        assert [m["type"] for m in messages] == ["warm"] + ["after"] * count
    finally:
        await layer.flush()
        await layer.close()
