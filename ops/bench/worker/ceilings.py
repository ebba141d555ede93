"""Raw Redis from one Python process with redis-py asyncio: the ceilings a layer cannot beat."""

from __future__ import annotations

import time
from typing import Any

PAYLOAD = b"x" * 100
# What each layer kind's point-to-point send is measured against: one awaited command a message.
P2P_CEILINGS = {"queue": ("lpush_awaited", "LPUSH"), "pubsub": ("publish_awaited", "PUBLISH")}


async def awaited_rate(client: Any, command: str, key: str, count: int) -> float:
    """Commands per second of a loop awaiting each `command key PAYLOAD` in turn."""
    started = time.perf_counter()
    for _ in range(count):
        await client.execute_command(command, key, PAYLOAD)
    return count / (time.perf_counter() - started)


async def adjacent_ceiling(url: str, kind: str, count: int = 2000) -> dict[str, Any]:
    """The kind's point-to-point ceiling measured in this process just before a run: the
    machine's speed drifts over the minutes between the ceilings scenario and a run."""
    import redis.asyncio as aioredis

    if kind not in P2P_CEILINGS:
        return {}
    name, command = P2P_CEILINGS[kind]
    client = aioredis.Redis.from_url(url)
    try:
        await client.ping()
        rate = await awaited_rate(client, command, "bench:ceiling:adjacent", count)
        await client.delete("bench:ceiling:adjacent")
    finally:
        await client.aclose()
    return {"ceiling": name, "ceiling_rate": rate}


async def redis_loops(url: str, count: int) -> dict[str, Any]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    await client.ping()
    awaited = await awaited_rate(client, "LPUSH", "bench:ceiling:awaited", count)

    batches = count * 10 // 100
    started = time.perf_counter()
    for _ in range(batches):
        pipe = client.pipeline(transaction=False)
        for _ in range(100):
            pipe.lpush("bench:ceiling:pipelined", PAYLOAD)
        await pipe.execute()
    pipelined = batches * 100 / (time.perf_counter() - started)

    publish = await awaited_rate(client, "PUBLISH", "bench:ceiling:publish", count)
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
