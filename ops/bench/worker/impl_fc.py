"""Adapter for fast-channels 1.1.0 from PyPI (run with ops/bench/.venvs/peer-fc)."""

from __future__ import annotations

from typing import Any

KINDS = ["queue", "pubsub", "memory"]


def available(kind: str) -> str | None:
    return None


def make_layer(kind: str, url: str, prefix: str, capacity: int) -> Any:
    if kind == "queue":
        from fast_channels.layers.redis import RedisChannelLayer

        return RedisChannelLayer(hosts=[url], prefix=prefix, capacity=capacity)
    if kind == "pubsub":
        from fast_channels.layers.redis import RedisPubSubChannelLayer

        return RedisPubSubChannelLayer(hosts=[url], prefix=prefix)
    if kind == "memory":
        from fast_channels.layers import InMemoryChannelLayer

        return InMemoryChannelLayer(capacity=capacity)
    raise ValueError(f"unknown kind {kind!r}")


async def close(layer: Any) -> None:
    # 1.1.0 has no close(): the queue layer closes its pools, pub/sub unsubscribes in flush().
    if hasattr(layer, "close_pools"):
        await layer.close_pools()
    elif hasattr(layer, "flush"):
        await layer.flush()


def consumer_app(kind: str, url: str, group: str) -> Any:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    from fast_channels.consumer import AsyncJsonWebsocketConsumer
    from fast_channels.layers import register_channel_layer

    register_channel_layer("bench", make_layer(kind, url, "bench", 100_000))

    class Room(AsyncJsonWebsocketConsumer):
        groups = [group]
        channel_layer_alias = "bench"

        async def receive_json(self, content: Any, **kwargs: Any) -> None:
            await self.channel_layer.group_send(group, {"type": "chat.message", "body": content})

        async def chat_message(self, event: dict[str, Any]) -> None:
            await self.send_json(event["body"])

    return Starlette(routes=[WebSocketRoute("/ws", Room.as_asgi())])
