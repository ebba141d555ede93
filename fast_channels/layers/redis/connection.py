"""Connections to the Redis shards: pools with timeouts, lazy clients per event loop, backoff.

A shard is one Redis, a Sentinel-managed master, or a whole Redis Cluster (then the only shard).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis import asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection, parse_url
from redis.backoff import EqualJitterBackoff

from fast_channels._loop import running_loop
from fast_channels.layers.redis._types import Client
from fast_channels.layers.redis.multiplex import MultiplexedConnection
from fast_channels.layers.redis.pipeline import AutoPipeline
from fast_channels.layers.redis.pools import (
    CLUSTER_ONLY_OPTIONS,
    create_cluster,
    create_pool,
    is_cluster,
    single_retry,
)
from fast_channels.layers.redis.utils import close_redis, consistent_hash

Batched = AutoPipeline | MultiplexedConnection


class _LoopClients:
    """The clients of one event loop, and the hot command path over each (batched())."""

    __slots__ = ("batched", "clients", "closer", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.loop = loop
        self.clients: list[Client | None] = [None] * size
        self.batched: list[Batched | None] = [None] * size
        # Closes them while the loop can still run it: asyncio.run() and async_to_sync cancel
        # what is left before they close a loop. A connection of a closed loop can no longer
        # be closed (its transport warns when it is collected).
        self.closer = loop.create_task(self._close_at_loop_end(), name="fast_channels-redis-close")

    async def _close_at_loop_end(self) -> None:
        try:
            await self.loop.create_future()  # never done: ends when cancelled
        except asyncio.CancelledError:
            await self.close()
            raise

    async def close(self) -> None:
        batched, self.batched = self.batched, [None] * len(self.batched)
        clients, self.clients = self.clients, [None] * len(self.clients)
        for pipeline in batched:
            if isinstance(pipeline, MultiplexedConnection):
                await pipeline.aclose()
        for client in clients:
            if client is not None:
                await close_redis(client)


class Shards:
    """One Redis client per host and event loop, created lazily.

    A layer may be used from several event loops: one after another (fast-channels 1.x code
    calling it through async_to_sync, each call on a loop of its own), or at once (the app's
    loop, and sync code in a worker thread sending through async_to_sync). A connection
    belongs to the loop it was opened on, so each loop gets clients of its own, closed as the
    loop ends (_LoopClients.closer) and forgotten when the next loop arrives.
    """

    def __init__(
        self, hosts: list[dict[str, Any]], *, socket_timeout: float, socket_connect_timeout: float
    ) -> None:
        self.hosts = hosts
        self.size = len(hosts)
        self.cluster = any(is_cluster(host) for host in hosts)  # then the only host
        self._defaults = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_connect_timeout,
            "retry": single_retry(),
        }
        self._loops: dict[asyncio.AbstractEventLoop, _LoopClients] = {}
        self._last: _LoopClients | None = None  # the loop that used the layer last

    def index(self, value: str) -> int:
        return consistent_hash(value, self.size)

    def _current(self) -> _LoopClients:
        loop = running_loop()  # once per send: see fast_channels/_loop.py
        last = self._last
        if last is not None and last.loop is loop:
            return last
        current = self._loops.get(loop)
        if current is None:
            # Clients of a closed loop cannot be closed any more; they are dropped.
            for closed in [other for other in list(self._loops) if other.is_closed()]:
                del self._loops[closed]
            current = self._loops[loop] = _LoopClients(loop, self.size)
        self._last = current
        return current

    def client(self, index: int) -> Client:
        return self._client(self._current(), index)

    def _client(self, current: _LoopClients, index: int) -> Client:
        client = current.clients[index]
        if client is None:
            if self.cluster:
                client = create_cluster(self.hosts[index], **self._defaults)
            else:
                client = aioredis.Redis(connection_pool=self.make_pool(index))
            current.clients[index] = client
        return client

    def batched(self, index: int) -> Batched:
        """Shard `index`'s hot command path on the running loop: one connection that
        concurrent sends share (pipelined, never a connection each). A Redis Cluster routes
        per slot: there redis-py's client is kept, behind automatic pipelining."""
        current = self._current()
        batched = current.batched[index]
        if batched is None:
            client = self._client(current, index)
            if isinstance(client, aioredis.Redis):
                batched = MultiplexedConnection(client)
            else:
                batched = AutoPipeline(client)
            current.batched[index] = batched
        return batched

    def clients(self) -> list[Client]:
        return [self.client(index) for index in range(self.size)]

    def cluster_client(self) -> RedisCluster:
        client = self.client(0)
        if not isinstance(client, RedisCluster):
            raise TypeError("This layer's hosts are not a Redis Cluster")
        return client

    def make_pool(self, index: int) -> aioredis.ConnectionPool:
        return create_pool(self.hosts[index], **self._defaults)

    def node_pool(self, host: str, port: int) -> aioredis.ConnectionPool:
        """A pool to one cluster node, with the cluster host's credentials, TLS and timeouts."""
        options = {**self._defaults, **self.hosts[0]}
        for key in ("cluster", "startup_nodes", "address", "retry", *CLUSTER_ONLY_OPTIONS):
            options.pop(key, None)
        if "address" in self.hosts[0]:
            options = {**parse_url(self.hosts[0]["address"]), **options}
        if options.pop("ssl", False):
            options["connection_class"] = SSLConnection
        return aioredis.ConnectionPool(
            **{**options, "host": host, "port": port, "retry": single_retry()}
        )

    async def close(self) -> None:
        """Close the running loop's connections; forget every other loop's (each closes its
        own when it ends, and opens new ones if it goes on using the layer)."""
        current = self._loops.pop(asyncio.get_running_loop(), None)
        self._loops.clear()
        self._last = None
        if current is not None:
            current.closer.cancel()
            await current.close()


class Backoff:
    """A reconnect loop's backoff: redis-py's EqualJitterBackoff (the capped exponential delay
    base * 2**failures, then a uniform draw from its upper half), plus the failure count those
    stateless strategies leave to the caller."""

    def __init__(self, base: float = 0.05, cap: float = 2.0) -> None:
        self.cap = cap  # memberships.RESTORE_GRACE relies on no delay exceeding it
        self._strategy = EqualJitterBackoff(cap=cap, base=base)
        self.attempt = 0

    def next_delay(self) -> float:
        delay = self._strategy.compute(self.attempt)
        self.attempt += 1  # redis-py caps an overflowing 2**failures at `cap`
        return delay

    def reset(self) -> None:
        self.attempt = 0
