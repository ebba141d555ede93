"""Adapter for this repository's fast_channels (run with the project venv)."""

from __future__ import annotations

import os
from typing import Any

from fast_channels.layers import InMemoryChannelLayer
from fast_channels.layers import redis as redis_layers

KINDS = ["queue", "pubsub", "memory"]
# "size:ttl" (plan.with_history): the bench group keeps that much history (README "Recovery")
# and the consumers join it with join_group(), so every frame they send carries "_pos".
HISTORY_ENV = "BENCH_GROUP_HISTORY"


def group_history(group: str, value: str | None = None) -> dict[str, tuple[int, float]] | None:
    """The layer's `group_history` for `group` from `value` (default: $BENCH_GROUP_HISTORY),
    None when unset: no history, the consumers join by `groups`."""
    value = os.environ.get(HISTORY_ENV) if value is None else value
    if not value:
        return None
    size, _, ttl = value.partition(":")
    return {group: (int(size), float(ttl or 600))}


def available(kind: str) -> str | None:
    """None when the kind can run here, else why not."""
    if kind == "pubsub" and not hasattr(redis_layers, "RedisPubSubChannelLayer"):
        return "fast_channels.layers.redis has no RedisPubSubChannelLayer yet"
    return None


def make_layer(
    kind: str, url: str, prefix: str, capacity: int, history: dict[str, Any] | None = None
) -> Any:
    # `history` is passed only when set: a tree without group_history (ops.bench.compare runs
    # old commits) still makes its layers.
    options: dict[str, Any] = {"capacity": capacity}
    if history:
        options["group_history"] = history
    if kind == "queue":
        return redis_layers.RedisChannelLayer(hosts=[url], prefix=prefix, **options)
    if kind == "pubsub":
        # Its local buffers are bounded too: the same capacity, or it drops (counted) at 100.
        return redis_layers.RedisPubSubChannelLayer(  # type: ignore[attr-defined]
            hosts=[url], prefix=prefix, **options
        )
    if kind == "memory":
        return InMemoryChannelLayer(**options)
    raise ValueError(f"unknown kind {kind!r}")


async def close(layer: Any) -> None:
    await layer.close()


def room_consumer(group: str, alias: str, recover: bool = False) -> Any:
    """The end-to-end scenario's consumer: a client frame is group_sent to `group`, every
    member sends it on as JSON (also what ops.bench.consumer_path measures without sockets).
    `recover`: it joins with join_group() instead (answered by an fc.recovery frame; then the
    frame it sends for each group message carries that message's "_pos")."""
    from fast_channels.consumer import AsyncJsonWebsocketConsumer

    class Room(AsyncJsonWebsocketConsumer):
        groups = [group]
        channel_layer_alias = alias

        async def receive_json(self, content: Any, **kwargs: Any) -> None:
            await self.channel_layer.group_send(group, {"type": "chat.message", "body": content})

        async def chat_message(self, event: dict[str, Any]) -> None:
            await self.send_json(event["body"])

    class RecoveringRoom(Room):
        groups = []

        async def connect(self) -> None:
            await self.accept()
            await self.join_group(group)

    return RecoveringRoom if recover else Room


def consumer_app(kind: str, url: str, group: str) -> Any:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    from fast_channels.layers import register_channel_layer

    history = group_history(group)
    register_channel_layer("bench", make_layer(kind, url, "bench", 100_000, history))
    consumer = room_consumer(group, "bench", recover=history is not None)
    return Starlette(routes=[WebSocketRoute("/ws", consumer.as_asgi())])
