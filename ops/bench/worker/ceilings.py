"""Raw Redis from one Python process with redis-py asyncio: the ceilings a layer cannot beat."""

from __future__ import annotations

import time
from typing import Any

PAYLOAD = b"x" * 100


async def redis_loops(url: str, count: int) -> dict[str, Any]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    await client.ping()
    started = time.perf_counter()
    for _ in range(count):
        await client.lpush("bench:ceiling:awaited", PAYLOAD)
    awaited = count / (time.perf_counter() - started)

    batches = count * 10 // 100
    started = time.perf_counter()
    for _ in range(batches):
        pipe = client.pipeline(transaction=False)
        for _ in range(100):
            pipe.lpush("bench:ceiling:pipelined", PAYLOAD)
        await pipe.execute()
    pipelined = batches * 100 / (time.perf_counter() - started)

    started = time.perf_counter()
    for _ in range(count):
        await client.publish("bench:ceiling:publish", PAYLOAD)
    publish = count / (time.perf_counter() - started)
    await client.delete("bench:ceiling:awaited", "bench:ceiling:pipelined")
    await client.aclose()
    return {
        "lpush_awaited": awaited,
        "lpush_pipelined_100": pipelined,
        "publish_awaited": publish,
        "expected": 0,
        "delivered": 0,
        "lost": 0,
    }
