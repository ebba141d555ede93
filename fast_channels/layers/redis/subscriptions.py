"""The pub/sub layer's subscriptions on Redis servers: one subscriber (one connection) per
shard, SUBSCRIBE for every name whose target hashes to it, PUBLISH on that shard.

The layer takes this or, on a Redis Cluster, sharded pub/sub (sharded.py) from its shards
(RedisPubSubChannelLayer.__init__); both offer the same five calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any

from fast_channels.layers.redis._types import PubSubLayer
from fast_channels.layers.redis.subscriber import ShardSubscriber


class ShardSubscriptions:
    """Subscribers per shard index, made on first use."""

    def __init__(self, layer: PubSubLayer) -> None:
        self.layer = layer
        self.subscribers: dict[int, ShardSubscriber] = {}

    def publish(self, index: int, name: str, frame: bytes) -> Awaitable[Any]:
        # The command's own awaitable, not a coroutine of ours: a send awaits one frame less.
        return self.layer.shards.batched(index).execute_command("PUBLISH", name, frame)

    def readers(self) -> Iterable[ShardSubscriber]:
        return self.subscribers.values()

    def subscriber(self, index: int) -> ShardSubscriber:
        subscriber = self.subscribers.get(index)
        if subscriber is None:
            subscriber = self.subscribers[index] = ShardSubscriber(self.layer, index)
        return subscriber

    async def subscribe(self, index: int, name: bytes) -> None:
        subscriber = self.subscriber(index)
        if not subscriber.is_subscribed(name):
            await self.layer.subscribe_on(subscriber, name)

    async def unsubscribe(self, index: int, name: bytes) -> None:
        await self.subscriber(index).unsubscribe(name)

    async def close(self) -> None:
        for subscriber in self.subscribers.values():
            await subscriber.close()
        self.subscribers.clear()
