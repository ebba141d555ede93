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


class AdjacentCeiling:
    """The kind's point-to-point ceiling measured in this process around a run: 5,000 awaited
    commands just before it (after 1,000 untimed ones) and 5,000 just after, rated together.
    The machine's speed drifts over the minutes between the ceilings scenario and a run, and
    the first ~2,000 round trips after an idle moment run faster than the rest."""

    WARM_UP, EACH_SIDE = 1000, 5000

    def __init__(self, url: str, kind: str) -> None:
        self.url, self.kind = url, kind
        self.count, self.seconds = 0, 0.0

    async def measure(self, warm_up: int = 0) -> None:
        import redis.asyncio as aioredis

        if self.kind not in P2P_CEILINGS:
            return
        command = P2P_CEILINGS[self.kind][1]
        client = aioredis.Redis.from_url(self.url)
        try:
            await client.ping()
            if warm_up:
                await awaited_rate(client, command, "bench:ceiling:adjacent", warm_up)
            rate = await awaited_rate(client, command, "bench:ceiling:adjacent", self.EACH_SIDE)
            await client.delete("bench:ceiling:adjacent")
        finally:
            await client.aclose()
        self.count += self.EACH_SIDE
        self.seconds += self.EACH_SIDE / rate

    def result(self, rate: float) -> dict[str, Any]:
        """The ceiling, and `rate` (the run's) as a fraction of it."""
        if not self.count:
            return {}
        ceiling = self.count / self.seconds
        return {
            "ceiling": P2P_CEILINGS[self.kind][0],
            "ceiling_rate": ceiling,
            "ceiling_ratio": rate / ceiling,
        }


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
