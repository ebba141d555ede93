"""Both Redis layers on a Redis Cluster (`{"cluster": True, "address": url}` or
`redis+cluster://` hosts; `RedisChannelLayer(...)` and `RedisPubSubChannelLayer(...)` return
these classes for such hosts).

Queue layer: every key carries a hash tag so each script touches one slot (scripts.py lists
them). A group's members span processes living in other slots, so `group_send` is two steps:
GROUP_MEMBERS in the group's slot (prunes lapsed members, returns members and capacities),
then one DELIVER per member process and one SEND_LIST per plain channel, in one cluster
pipeline: redis-py sends each node its share at once, so that is one round trip per node
involved. redis-py's RedisCluster follows MOVED/ASK and refreshes its slot map.

Pub/sub layer: sharded pub/sub. SPUBLISH goes to the node owning the name's slot; each layer
keeps one SSUBSCRIBE connection per node it needs. When a slot moves, Redis ends those
subscriptions (a `sunsubscribe` push, or MOVED in reply to SSUBSCRIBE): the layer refreshes
the slot map and subscribes on the new owner.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import MovedError, NoScriptError, RedisError

from fast_channels.layers.redis.connection import Backoff
from fast_channels.layers.redis.core import RedisChannelLayer
from fast_channels.layers.redis.envelope import make_frame
from fast_channels.layers.redis.pubsub import RedisPubSubChannelLayer
from fast_channels.layers.redis.subscriber import ShardSubscriber
from fast_channels.layers.redis.tasks import stopping

Call = tuple[str, list[str], list[Any]]  # EVALSHA sha, keys, args


class RedisClusterChannelLayer(RedisChannelLayer, cluster_variant_of=RedisChannelLayer):
    # No memberships marker, expiry index or leases: keys expire by TTL (see RedisChannelLayer).
    prefix_wide_keys = False

    # -- keys: one hash tag per process, plain channel and group ---------------------------

    def process_keys(self, process: str) -> tuple[str, str]:
        return f"{self.prefix}:{{{process}}}:q", f"{self.prefix}:{{{process}}}:n"

    def list_key(self, channel: str) -> str:
        return f"{self.prefix}:{{ch:{channel}}}"

    def group_keys(self, group: str) -> list[str]:
        return [f"{self.prefix}:{{g:{group}}}:m", f"{self.prefix}:{{g:{group}}}:c"]

    # -- group_send ------------------------------------------------------------------------

    async def _group_send(self, group: str, message: dict[str, Any]) -> None:
        payload, sent_at = self.codec.encode(message, "group_send", group)
        client = self.shards.cluster_client()
        try:
            members, flat_caps = await self.scripts.group_members(
                client, self.group_keys(group), [sent_at, self.group_expiry]
            )
            calls = self._deliveries(client, members, flat_caps, payload, sent_at)
            replies = await self._evalsha_pipelined(client, calls) if calls else []
        except RedisError as exc:
            self._count_error("group_send", exc)
            raise
        results: list[Any] = []
        for (sha, _, _), reply in zip(calls, replies, strict=True):
            if isinstance(reply, RedisError):
                self._count_error("group_send", reply)
                results.append(reply)
            elif sha == self.scripts.send_list_sha():  # {accepted, pruned}
                results.append([reply[0], 1 - reply[0], reply[1]])
            else:
                results.append(reply)
        self._count_group_send(results or [[0, 0, 0]])

    def _deliveries(
        self,
        client: RedisCluster,
        members: Iterable[bytes],
        flat_caps: list[bytes],
        payload: bytes,
        sent_at: float,
    ) -> list[Call]:
        """One DELIVER per member process, one SEND_LIST per plain channel."""
        caps = dict(zip(flat_caps[::2], flat_caps[1::2], strict=True))
        expires_at = sent_at + self.expiry
        by_process: dict[str, list[Any]] = {}
        calls: list[Call] = []
        for raw in members:
            channel = raw.decode()
            process = self.process_of(channel)
            if process is None:
                capacity = int(caps.get(raw, self.capacity))
                frame = make_frame(expires_at, "", payload)
                args = [capacity, frame, sent_at, self._ttl]
                calls.append((self.scripts.send_list_sha(), [self.list_key(channel)], args))
            else:
                by_process.setdefault(process, []).extend((channel, int(caps.get(raw, 0))))
        head = b"%.3f" % expires_at
        deliver = self.scripts.deliver_sha()
        for process, pairs in by_process.items():
            args = [sent_at, head, self.capacity, payload, self._ttl, *pairs]
            calls.append((deliver, list(self.process_keys(process)), args))
        return calls

    async def _evalsha_pipelined(self, client: RedisCluster, calls: list[Call]) -> list[Any]:
        """Run the calls in one cluster pipeline; load scripts a node lacks and rerun those."""
        replies: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for attempt in range(2):
            pipe = client.pipeline(transaction=False)
            for index in pending:
                sha, keys, args = calls[index]
                pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)
            for index, reply in zip(pending, await pipe.execute(raise_on_error=False), strict=True):
                replies[index] = reply
            pending = [index for index in pending if isinstance(replies[index], NoScriptError)]
            if not pending or attempt:
                break
            for sha in {calls[index][0] for index in pending}:
                await self.scripts.load(client, sha)  # on every primary
        return replies


class NodeSubscriber(ShardSubscriber):
    """Sharded subscriptions on one cluster node (SSUBSCRIBE takes one slot per command)."""

    SUBSCRIBE, UNSUBSCRIBE = "SSUBSCRIBE", "SUNSUBSCRIBE"
    take_over_transport = False  # MOVED replies come through redis-py as MovedError

    def __init__(self, layer: RedisClusterPubSubChannelLayer, host: str, port: int) -> None:
        super().__init__(layer, 0, lambda: layer.shards.node_pool(host, port))
        self.cluster_layer = layer
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
                client = self.cluster_layer.shards.cluster_client()
                for name in [name for name in self._wanted if client.keyslot(name) == exc.slot_id]:
                    self._lost(name)

    def _handle(self, response: Any) -> None:
        kind = response[0]
        if kind == b"smessage":
            self.layer._on_message(response[1], response[2])
        elif kind == b"ssubscribe":
            self._confirm(response[1])
        elif kind == b"sunsubscribe" and response[1] in self._wanted:
            self._lost(response[1])  # not ours: Redis dropped it because the slot moved

    def _lost(self, name: bytes, moved: bool = True) -> None:
        self._wanted.discard(name)
        self._confirmed.discard(name)
        if self._resubscribing is not None:
            self._resubscribing.discard(name)
            self._reconnected_when_confirmed()
        self.cluster_layer.rehome(name, self.node if moved else None)


class RedisClusterPubSubChannelLayer(
    RedisPubSubChannelLayer, cluster_variant_of=RedisPubSubChannelLayer
):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._nodes: dict[str, NodeSubscriber] = {}
        self._placement: dict[bytes, NodeSubscriber] = {}  # subscribed name -> its node
        self._watchdog: asyncio.Task[None] | None = None

    async def _publish(self, op: str, index: int, name: str, frame: bytes) -> None:
        try:
            await self.shards.batched(0).execute_command("SPUBLISH", name, frame)
        except RedisError as exc:
            self._count_error(op, exc)
            raise
        self.metrics.sent(op)

    async def _node_for(self, name: bytes) -> NodeSubscriber:
        client = self.shards.cluster_client()
        await client.initialize()  # a no-op once the slot map is known
        node = client.get_node_from_key(name.decode())
        if node is None:
            raise RedisError(f"No cluster node serves the slot of {name!r}")
        subscriber = self._nodes.get(node.name)
        if subscriber is None:
            subscriber = NodeSubscriber(self, node.host, int(node.port))
            self._nodes[node.name] = subscriber
        return subscriber

    def _readers(self) -> Iterable[ShardSubscriber]:
        return self._nodes.values()

    async def _subscribe(self, kind: str, target: str) -> None:
        _, name = self._subscription(kind, target)
        placed = self._placement.get(name)
        if placed is not None and placed.is_subscribed(name):
            return
        subscriber = await self._node_for(name)
        self._placement[name] = subscriber
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = self._spawn(self._watch_nodes())
        await self._subscribe_on(subscriber, name)

    async def _unsubscribe(self, kind: str, target: str) -> None:
        _, name = self._subscription(kind, target)
        del self._routes[name]
        subscriber = self._placement.pop(name, None)
        if subscriber is not None:
            await subscriber.unsubscribe(name)

    def rehome(self, name: bytes, moved_from: str | None) -> None:
        """Subscribe to `name` on the node serving its slot now: its slot moved away from
        `moved_from`, or (None) its node stayed unreachable and may have failed over."""
        self._spawn(self._rehome(name, moved_from))

    async def _rehome(self, name: bytes, moved_from: str | None) -> None:
        backoff, client = Backoff(), self.shards.cluster_client()
        while name in self._routes and not stopping():
            try:
                await client.nodes_manager.initialize()  # the new slot map
                if (await self._node_for(name)).node == moved_from:
                    raise RedisError(f"the slot of {name!r} has not moved away from {moved_from}")
                await self._subscribe(*self._routes[name])
                self.metrics.reconnect("subscribe")
                return
            except RedisError as exc:
                self._count_error("subscribe", exc)
                await asyncio.sleep(backoff.next_delay())

    async def _watch_nodes(self) -> None:
        """A node unreachable for longer than socket_timeout may have failed over to a replica
        at another address: move its subscriptions to whichever node serves their slots."""
        down_since: dict[str, float] = {}
        while not stopping():
            await asyncio.sleep(self.block_timeout)
            now = time.monotonic()
            for node, subscriber in list(self._nodes.items()):
                if subscriber.connected or not subscriber.wanted:
                    down_since.pop(node, None)
                    continue
                if now - down_since.setdefault(node, now) < self.socket_timeout:
                    continue
                del down_since[node], self._nodes[node]
                for name in list(subscriber.wanted):
                    subscriber._lost(name, moved=False)
                await subscriber.stop()

    async def close(self) -> None:
        await super().close()
        for subscriber in self._nodes.values():
            await subscriber.stop()
        self._nodes.clear()
        self._placement.clear()
