"""The pub/sub layer's subscriptions on a Redis Cluster: sharded pub/sub.

SPUBLISH goes to the node owning the name's slot; the layer keeps one SSUBSCRIBE connection
per node it needs (`NodeSubscriber`). When a slot moves, Redis ends those subscriptions (a
`sunsubscribe` push, or MOVED in reply to SSUBSCRIBE): the subscription is re-homed, that is
the slot map refreshed and the name subscribed on the new owner. A node unreachable for longer
than socket_timeout may have failed over to a replica at another address: a watchdog moves its
subscriptions to whichever node serves their slots.

The layer takes this from its shards (RedisPubSubChannelLayer.__init__), in place of one
subscriber per shard (subscriptions.py); both offer the same five calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterable
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import MovedError, RedisError

from fast_channels.layers.redis._types import PubSubLayer
from fast_channels.layers.redis.connection import Backoff
from fast_channels.layers.redis.subscriber import ShardSubscriber
from fast_channels.layers.redis.tasks import stopping


class NodeSubscriber(ShardSubscriber):
    """Sharded subscriptions on one cluster node (SSUBSCRIBE takes one slot per command)."""

    SUBSCRIBE, UNSUBSCRIBE = "SSUBSCRIBE", "SUNSUBSCRIBE"
    take_over_transport = False  # MOVED replies come through redis-py as MovedError

    def __init__(self, subscriptions: NodeSubscriptions, host: str, port: int) -> None:
        layer = subscriptions.layer
        super().__init__(layer, 0, lambda: layer.shards.node_pool(host, port))
        self.subscriptions = subscriptions
        self.node = f"{host}:{port}"

    @property
    def wanted(self) -> set[bytes]:
        return self._wanted

    @property
    def connected(self) -> bool:
        return self._conn is not None

    async def stop(self) -> None:
        """End the supervisor (it would otherwise keep dialling a node that is gone)."""
        if self._task is not None and not self._task.done():  # done: it ran on an ended loop
            self._task.cancel()
            await asyncio.wait([self._task], timeout=self.layer.socket_timeout)
        await self.close()

    async def _subscribe_all(self, conn: AbstractConnection) -> None:
        for name in list(self._wanted):
            await conn.send_command(self.SUBSCRIBE, name, check_health=False)

    async def _read(self, conn: AbstractConnection) -> None:
        while not stopping():
            try:
                await super()._read(conn)
                return
            except MovedError as exc:  # an SSUBSCRIBE reached a node that lost the slot
                client = self.layer.shards.cluster_client()
                for name in [name for name in self._wanted if client.keyslot(name) == exc.slot_id]:
                    self.lost(name)

    def handle(self, response: Any) -> None:
        kind = response[0]
        if kind == b"smessage":
            self.layer.on_message(response[1], response[2])
        elif kind == b"ssubscribe":
            self._confirm(response[1])
        elif kind == b"sunsubscribe" and response[1] in self._wanted:
            self.lost(response[1])  # not ours: Redis dropped it because the slot moved

    def lost(self, name: bytes, moved: bool = True) -> None:
        """Redis ended the subscription to `name` here (its slot `moved`, or this node is
        gone): subscribe again on whichever node serves it now."""
        self._wanted.discard(name)
        self._confirmed.discard(name)
        if self._resubscribing is not None:
            self._resubscribing.discard(name)
            self._reconnected_when_confirmed()
        self.subscriptions.rehome(name, self.node if moved else None)


class NodeSubscriptions:
    """Subscribers per cluster node, and which of them serves each subscribed name."""

    def __init__(self, layer: PubSubLayer) -> None:
        self.layer = layer
        self.nodes: dict[str, NodeSubscriber] = {}
        self.placement: dict[bytes, NodeSubscriber] = {}  # subscribed name -> its node
        self._watchdog: asyncio.Task[None] | None = None

    def publish(self, index: int, name: str, frame: bytes) -> Awaitable[Any]:
        # Shard 0 is the whole cluster: redis-py routes SPUBLISH to the slot's node.
        return self.layer.shards.batched(0).execute_command("SPUBLISH", name, frame)

    def readers(self) -> Iterable[ShardSubscriber]:
        return self.nodes.values()

    async def _node_for(self, name: bytes) -> NodeSubscriber:
        client = self.layer.shards.cluster_client()
        await client.initialize()  # a no-op once the slot map is known
        node = client.get_node_from_key(name.decode())
        if node is None:
            raise RedisError(f"No cluster node serves the slot of {name!r}")
        subscriber = self.nodes.get(node.name)
        if subscriber is None:
            subscriber = NodeSubscriber(self, node.host, int(node.port))
            self.nodes[node.name] = subscriber
        return subscriber

    async def subscribe(self, index: int, name: bytes) -> None:
        placed = self.placement.get(name)
        if placed is not None and placed.is_subscribed(name):
            return
        subscriber = await self._node_for(name)
        self.placement[name] = subscriber
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = self.layer.spawn(self._watch_nodes())
        await self.layer.subscribe_on(subscriber, name)

    async def unsubscribe(self, index: int, name: bytes) -> None:
        subscriber = self.placement.pop(name, None)
        if subscriber is not None:
            await subscriber.unsubscribe(name)

    def rehome(self, name: bytes, moved_from: str | None) -> None:
        """Subscribe to `name` on the node serving its slot now: its slot moved away from
        `moved_from`, or (None) its node stayed unreachable and may have failed over."""
        self.layer.spawn(self._rehome(name, moved_from))

    async def _rehome(self, name: bytes, moved_from: str | None) -> None:
        layer = self.layer
        backoff, client = Backoff(), layer.shards.cluster_client()
        while (route := layer.route(name)) is not None and not stopping():
            try:
                await client.nodes_manager.initialize()  # the new slot map
                if (await self._node_for(name)).node == moved_from:
                    raise RedisError(f"the slot of {name!r} has not moved away from {moved_from}")
                await layer.subscribe_to(*route)
                layer.metrics.reconnect("subscribe")
                return
            except RedisError as exc:  # a retry loop: counted, then back off and try again
                layer.count_error("subscribe", exc)
                await asyncio.sleep(backoff.next_delay())

    async def _watch_nodes(self) -> None:
        """Move the subscriptions of a node unreachable for longer than socket_timeout."""
        layer = self.layer
        down_since: dict[str, float] = {}
        while not stopping():
            await asyncio.sleep(layer.block_timeout)
            now = time.monotonic()
            for node, subscriber in list(self.nodes.items()):
                if subscriber.connected or not subscriber.wanted:
                    down_since.pop(node, None)
                    continue
                if now - down_since.setdefault(node, now) < layer.socket_timeout:
                    continue
                del down_since[node], self.nodes[node]
                for name in list(subscriber.wanted):
                    subscriber.lost(name, moved=False)
                await subscriber.stop()

    async def close(self) -> None:
        for subscriber in self.nodes.values():
            await subscriber.stop()
        self.nodes.clear()
        self.placement.clear()
