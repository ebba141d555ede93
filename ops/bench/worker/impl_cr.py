"""Adapter for channels-redis 4.3.0 from PyPI (run with ops/bench/.venvs/peer-cr).

Only the layers are compared: a consumer would need Django's channels stack under uvicorn,
so the end-to-end and memory scenarios skip this implementation.
"""

from __future__ import annotations

from typing import Any

KINDS = ["queue", "pubsub"]


def available(kind: str) -> str | None:
    return None


def make_layer(kind: str, url: str, prefix: str, capacity: int) -> Any:
    if kind == "queue":
        from channels_redis.core import RedisChannelLayer

        return RedisChannelLayer(hosts=[url], prefix=prefix, capacity=capacity)
    if kind == "pubsub":
        from channels_redis.pubsub import RedisPubSubChannelLayer

        return RedisPubSubChannelLayer(hosts=[url], prefix=prefix)
    raise ValueError(f"unknown kind {kind!r}")


async def close(layer: Any) -> None:
    if hasattr(layer, "close_pools"):
        await layer.close_pools()
    else:
        await layer.flush()


def consumer_app(kind: str, url: str, group: str) -> Any:
    return None
