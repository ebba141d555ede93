"""The layer contract suite's fixture: every test in tests/layers/contract runs on every layer.

A layer implementation joins the suite by adding a `LayerKind` to `LAYER_KINDS` below.
`capabilities` names the parts of the contract a layer promises; a test that needs one it does
not promise is skipped with the reason, never silently passed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from fast_channels.layers import BaseChannelLayer, InMemoryChannelLayer
from tests.support.redis_cluster import RedisCluster
from tests.support.sentinel import SentinelTopology

LayerFactory = Callable[[pytest.FixtureRequest, dict[str, Any]], Awaitable[BaseChannelLayer]]

# Capabilities:
#   send_to_unreceived: a message sent to a channel nobody receives on yet is kept for later
#   channel_full: send() to a channel at capacity raises ChannelFull
#   history: accepts group_history= and keeps group history (README "Recovery")
CAPABILITIES = {"send_to_unreceived", "channel_full", "history"}


@dataclass
class LayerKind:
    name: str
    factory: LayerFactory
    capabilities: set[str] = field(default_factory=set)


async def _in_memory(request: pytest.FixtureRequest, options: dict[str, Any]) -> BaseChannelLayer:
    return InMemoryChannelLayer(**options)


async def _redis(request: pytest.FixtureRequest, options: dict[str, Any]) -> BaseChannelLayer:
    from fast_channels.layers.redis import RedisChannelLayer

    server = request.getfixturevalue("redis_server")
    options.setdefault("prefix", f"test-{uuid.uuid4().hex[:10]}")
    return RedisChannelLayer(hosts=[server.url], **options)


async def _redis_at_least_once(
    request: pytest.FixtureRequest, options: dict[str, Any]
) -> BaseChannelLayer:
    options.setdefault("delivery", "at_least_once")
    if options.get("expiry", 60) <= 1:
        options.setdefault("visibility_timeout", options["expiry"] / 2)
    return await _redis(request, options)


async def _redis_pubsub(
    request: pytest.FixtureRequest, options: dict[str, Any]
) -> BaseChannelLayer:
    from fast_channels.layers.redis import RedisPubSubChannelLayer

    server = request.getfixturevalue("redis_server")
    options.setdefault("prefix", f"test-{uuid.uuid4().hex[:10]}")
    return RedisPubSubChannelLayer(hosts=[server.url], **options)


async def _redis_sentinel(
    request: pytest.FixtureRequest, options: dict[str, Any]
) -> BaseChannelLayer:
    from fast_channels.layers.redis import RedisChannelLayer

    topology = request.getfixturevalue("sentinel_topology")
    options.setdefault("prefix", f"test-{uuid.uuid4().hex[:10]}")
    return RedisChannelLayer(hosts=[topology.url], **options)


async def _redis_pubsub_sentinel(
    request: pytest.FixtureRequest, options: dict[str, Any]
) -> BaseChannelLayer:
    from fast_channels.layers.redis import RedisPubSubChannelLayer

    topology = request.getfixturevalue("sentinel_topology")
    options.setdefault("prefix", f"test-{uuid.uuid4().hex[:10]}")
    return RedisPubSubChannelLayer(hosts=[topology.url], **options)


async def _redis_cluster(
    request: pytest.FixtureRequest, options: dict[str, Any]
) -> BaseChannelLayer:
    from fast_channels.layers.redis import RedisChannelLayer

    cluster = request.getfixturevalue("redis_cluster")
    options.setdefault("prefix", f"test-{uuid.uuid4().hex[:10]}")
    return RedisChannelLayer(hosts=[{"cluster": True, "address": cluster.url}], **options)


async def _redis_pubsub_cluster(
    request: pytest.FixtureRequest, options: dict[str, Any]
) -> BaseChannelLayer:
    from fast_channels.layers.redis import RedisPubSubChannelLayer

    cluster = request.getfixturevalue("redis_cluster")
    options.setdefault("prefix", f"test-{uuid.uuid4().hex[:10]}")
    return RedisPubSubChannelLayer(hosts=[cluster.cluster_url], **options)


LAYER_KINDS: list[LayerKind] = [
    LayerKind("inmemory", _in_memory, {"send_to_unreceived", "channel_full", "history"}),
    LayerKind("redis", _redis, {"send_to_unreceived", "channel_full", "history"}),
    LayerKind(
        "redis_at_least_once",
        _redis_at_least_once,
        {"send_to_unreceived", "channel_full", "history"},
    ),
    LayerKind("redis_pubsub", _redis_pubsub, {"history"}),
    LayerKind("redis_sentinel", _redis_sentinel, {"send_to_unreceived", "channel_full", "history"}),
    LayerKind("redis_pubsub_sentinel", _redis_pubsub_sentinel, {"history"}),
    LayerKind("redis_cluster", _redis_cluster, {"send_to_unreceived", "channel_full", "history"}),
    LayerKind("redis_pubsub_cluster", _redis_pubsub_cluster, {"history"}),
]


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster for the session."""
    cluster = RedisCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture(scope="session")
def sentinel_topology() -> Iterator[SentinelTopology]:
    """A master, a replica and three sentinels for the session; never failed over (the
    failover tests start their own)."""
    topology = SentinelTopology()
    try:
        topology.start()
        yield topology
    finally:
        topology.cleanup()


@dataclass
class LayerMaker:
    kind: LayerKind
    request: pytest.FixtureRequest
    made: list[BaseChannelLayer] = field(default_factory=list)

    async def __call__(self, **options: Any) -> BaseChannelLayer:
        layer = await self.kind.factory(self.request, options)
        self.made.append(layer)
        return layer

    def require(self, capability: str) -> None:
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}")
        if capability not in self.kind.capabilities:
            pytest.skip(f"{self.kind.name} does not promise {capability}")


@pytest.fixture(params=LAYER_KINDS, ids=lambda kind: kind.name)
async def make_layer(request: pytest.FixtureRequest) -> AsyncIterator[LayerMaker]:
    maker = LayerMaker(request.param, request)
    yield maker
    for layer in maker.made:
        await layer.flush()
        await layer.close()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names unique to one test, so layers sharing a Redis never see each other's data."""
    token = uuid.uuid4().hex[:8]
    return lambda name: f"{name}-{token}"
