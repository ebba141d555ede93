"""Connection pools and cluster clients for decoded hosts (utils.decode_hosts), with the retry
policies each kind of host gets. Imports nothing of the layers: utils.create_pool (1.x's public
helper) and connection.Shards both build on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis import asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError, ReadOnlyError


def is_cluster(host: Mapping[str, Any]) -> bool:
    return bool(host.get("cluster"))


def single_retry() -> Retry:
    """After a Redis restart every pooled connection is dead: retry a command once on a fresh
    connection rather than fail it. Timeouts are not retried (no duplicates)."""
    return Retry(NoBackoff(), 1, supported_errors=(ConnectionError,))


def failover_retry() -> Retry:
    """Ride over the moment a Sentinel switches masters: retry with backoff for ~0.6 s.

    A ConnectionError makes the connection ask the sentinels for the master again; a
    ReadOnlyError (the old master is now a replica) drops the connection the same way. The
    seconds before the sentinels agree on a new master are longer than this on purpose: then
    the command fails, the receive loops reconnect with their own backoff and count it.
    """
    return Retry(
        ExponentialBackoff(cap=0.25, base=0.05),
        4,
        supported_errors=(ConnectionError, ReadOnlyError),
    )


def cluster_retry() -> Retry:
    """Cluster-level retries (node down, slots moving) with short backoff; MOVED/ASK are
    followed by redis-py without sleeping."""
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), 3)


# RedisCluster options that are no connection arguments (kept off per-node pub/sub pools).
CLUSTER_ONLY_OPTIONS = (
    "require_full_coverage",
    "read_from_replicas",
    "load_balancing_strategy",
    "dynamic_startup_nodes",
    "reinitialize_steps",
    "cluster_error_retry_attempts",
    "address_remap",
    "retry_on_error",
)


def create_pool(host: dict[str, Any], **defaults: Any) -> aioredis.ConnectionPool:
    """A connection pool for one decoded host; `defaults` (timeouts) yield to the host's own."""
    host = {**defaults, **host}
    if is_cluster(host):
        raise ValueError("A Redis Cluster has no single connection pool: use create_cluster()")
    if "address" in host:
        address = host.pop("address")
        return aioredis.ConnectionPool.from_url(address, **host)
    if "master_name" in host:
        master_name = host.pop("master_name")
        sentinels = host.pop("sentinels")
        sentinel_kwargs = dict(host.pop("sentinel_kwargs", None) or {})
        sentinel_kwargs.setdefault("socket_timeout", host.get("socket_timeout"))
        sentinel_kwargs.setdefault("socket_connect_timeout", host.get("socket_connect_timeout"))
        if "retry" not in defaults or host["retry"] is defaults["retry"]:
            host["retry"] = failover_retry()
        # Typed in redis-py 8, untyped before: called through Any so both type-check.
        sentinel: Any = Sentinel
        manager = sentinel(sentinels, sentinel_kwargs=sentinel_kwargs)
        return SentinelPool(master_name, manager, **host)
    return aioredis.ConnectionPool(**host)


class SentinelPool(SentinelConnectionPool):
    """A SentinelConnectionPool that also closes its connections to the sentinels."""

    def __init__(self, master_name: str, manager: Sentinel, **kwargs: Any) -> None:
        super().__init__(master_name, manager, **kwargs)  # type: ignore[no-untyped-call]

    async def aclose(self) -> None:
        await super().aclose()
        for sentinel in self.sentinel_manager.sentinels:
            await sentinel.aclose()


def create_cluster(host: dict[str, Any], **defaults: Any) -> RedisCluster:
    """A RedisCluster client (slot map, MOVED/ASK, a pool per node) for one decoded host."""
    host = {**defaults, **host}
    del host["cluster"]
    if "retry" not in defaults or host["retry"] is defaults["retry"]:
        host["retry"] = cluster_retry()
    if "startup_nodes" in host:
        nodes = [ClusterNode(name, port) for name, port in host.pop("startup_nodes")]
        return RedisCluster(startup_nodes=nodes, **host)
    if "address" in host:
        return RedisCluster.from_url(host.pop("address"), **host)
    return RedisCluster(**host)
