"""Adapter for this repository's fast_channels (run with the project venv)."""

from __future__ import annotations

from typing import Any

from fast_channels.layers import InMemoryChannelLayer
from fast_channels.layers import redis as redis_layers

KINDS = ["queue", "pubsub", "memory"]


def available(kind: str) -> str | None:
    """None when the kind can run here, else why not."""
    if kind == "pubsub" and not hasattr(redis_layers, "RedisPubSubChannelLayer"):
        return "fast_channels.layers.redis has no RedisPubSubChannelLayer yet"
    return None


def make_layer(kind: str, url: str, prefix: str, capacity: int) -> Any:
    if kind == "queue":
        return redis_layers.RedisChannelLayer(hosts=[url], prefix=prefix, capacity=capacity)
    if kind == "pubsub":
        # Its local buffers are bounded too: the same capacity, or it drops (counted) at 100.
        return redis_layers.RedisPubSubChannelLayer(  # type: ignore[attr-defined]
            hosts=[url], prefix=prefix, capacity=capacity
        )
    if kind == "memory":
        return InMemoryChannelLayer(capacity=capacity)
    raise ValueError(f"unknown kind {kind!r}")


async def close(layer: Any) -> None:
    await layer.close()


def room_consumer(group: str, alias: str) -> Any:
    """The end-to-end scenario's consumer: a client frame is group_sent to `group`, every
    member sends it on as JSON (also what ops.bench.consumer_path measures without sockets)."""
    from fast_channels.consumer import AsyncJsonWebsocketConsumer

    class Room(AsyncJsonWebsocketConsumer):
        groups = [group]
        channel_layer_alias = alias

        async def receive_json(self, content: Any, **kwargs: Any) -> None:
            await self.channel_layer.group_send(group, {"type": "chat.message", "body": content})

        async def chat_message(self, event: dict[str, Any]) -> None:
            await self.send_json(event["body"])

    return Room


def consumer_app(kind: str, url: str, group: str) -> Any:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    from fast_channels.layers import register_channel_layer

    register_channel_layer("bench", make_layer(kind, url, "bench", 100_000))
    return Starlette(routes=[WebSocketRoute("/ws", room_consumer(group, "bench").as_asgi())])
