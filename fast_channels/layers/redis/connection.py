"""Connections to the Redis shards: pools with timeouts, lazy clients per event loop, backoff."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError

from fast_channels.layers.redis.utils import close_redis, consistent_hash


def create_pool(host: dict[str, Any], **defaults: Any) -> aioredis.ConnectionPool:
    """A connection pool for one decoded host; `defaults` (timeouts) yield to the host's own."""
    host = {**defaults, **host}
    if "address" in host:
        address = host.pop("address")
        return aioredis.ConnectionPool.from_url(address, **host)
    if "master_name" in host:
        master_name = host.pop("master_name")
        sentinels = host.pop("sentinels")
        sentinel_kwargs = host.pop("sentinel_kwargs", None) or {}
        sentinel_kwargs.setdefault("socket_timeout", host.get("socket_timeout"))
        manager = Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
        return SentinelConnectionPool(master_name, manager, **host)  # type: ignore[no-untyped-call]
    return aioredis.ConnectionPool(**host)


class Shards:
    """One Redis client per host, created lazily and re-created when the event loop changes."""

    def __init__(
        self, hosts: list[dict[str, Any]], *, socket_timeout: float, socket_connect_timeout: float
    ) -> None:
        self.hosts = hosts
        self.size = len(hosts)
        self._defaults = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_connect_timeout,
            # After a Redis restart every pooled connection is dead: retry a command once on a
            # fresh connection rather than fail it. Timeouts are not retried (no duplicates).
            "retry": Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
        }
        self._clients: list[aioredis.Redis | None] = [None] * self.size
        self._loop: asyncio.AbstractEventLoop | None = None

    def index(self, value: str) -> int:
        return consistent_hash(value, self.size)

    def client(self, index: int) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Clients of a finished loop cannot be closed from here; they are dropped.
            self._clients = [None] * self.size
            self._loop = loop
        client = self._clients[index]
        if client is None:
            client = aioredis.Redis(connection_pool=self.make_pool(index))
            self._clients[index] = client
        return client

    def clients(self) -> list[aioredis.Redis]:
        return [self.client(index) for index in range(self.size)]

    def make_pool(self, index: int) -> aioredis.ConnectionPool:
        return create_pool(self.hosts[index], **self._defaults)

    async def close(self) -> None:
        clients, self._clients = self._clients, [None] * self.size
        same_loop = self._loop is asyncio.get_running_loop()
        for client in clients:
            if client is not None and same_loop:
                await close_redis(client)


class Backoff:
    """Capped exponential backoff with jitter, for reconnect loops."""

    def __init__(self, base: float = 0.05, cap: float = 2.0) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0

    def next_delay(self) -> float:
        delay: float = min(self.cap, self.base * 2**self.attempt)
        self.attempt = min(self.attempt + 1, 30)
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0
