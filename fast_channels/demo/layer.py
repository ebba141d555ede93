"""The demo's channel layer: in-memory by default, Redis when a URL is given."""

from __future__ import annotations

import asyncio
import importlib

from fast_channels.config import group_history_from_env
from fast_channels.layers import BaseChannelLayer, InMemoryChannelLayer
from fast_channels.layers.history import GroupHistoryOption, HistoryPolicy

# Every demo process (servers and workers) must agree on the prefix to share channels.
REDIS_PREFIX = "fast-channels-demo"
# Room groups keep their last 100 messages for 10 minutes: enough for a page to recover across
# a rolling restart or a phone's dropped connection, and to show a newcomer the recent talk.
# FAST_CHANNELS_GROUP_HISTORY, when set, replaces it (fast_channels/config.py; the chart's
# `redis.groupHistory`).
ROOM_HISTORY: GroupHistoryOption = {"chat.*": HistoryPolicy(size=100, ttl=600.0)}


class LayerUnavailableError(RuntimeError):
    """The layer asked for on the command line cannot be built in this installation."""


def unavailable_errors() -> tuple[type[Exception], ...]:
    """What a layer call raises while its backend cannot be reached or refuses to work: every
    Redis error where the Redis extra is installed; socket errors always."""
    try:
        from redis.exceptions import RedisError
    except ImportError:
        return (OSError,)
    return (RedisError, OSError)


def make_layer(redis_url: str | None = None) -> BaseChannelLayer:
    history = group_history_from_env(default=ROOM_HISTORY)
    if redis_url is None:
        return InMemoryChannelLayer(group_history=history)
    # Imported lazily: the in-memory demo must run even where the Redis layer is absent.
    try:
        module = importlib.import_module("fast_channels.layers.redis")
        layer_class = module.RedisChannelLayer
    except (ImportError, AttributeError) as error:
        raise LayerUnavailableError(
            "--redis-url needs fast_channels.layers.redis.RedisChannelLayer, which cannot be "
            f"imported here ({error}); run the demo without --redis-url to use the in-memory layer"
        ) from error
    try:
        # Jobs at least once: a worker killed mid-job leaves its jobs to the next one (only
        # the workers' named channel changes; sockets' channels stay at most once).
        options: dict[str, object] = {"group_history": history} if history else {}
        layer = layer_class(
            hosts=[redis_url], prefix=REDIS_PREFIX, delivery="at_least_once", **options
        )
    except (TypeError, ValueError) as error:
        raise LayerUnavailableError(f"--redis-url {redis_url!r}: {error}") from error
    if not isinstance(layer, BaseChannelLayer):
        raise LayerUnavailableError(f"RedisChannelLayer is not a BaseChannelLayer: {layer!r}")
    return layer


def require_reachable(redis_url: str, timeout: float = 3.0) -> None:
    """Ping Redis once before serving, so that a Redis that is not running is one clear line
    at start-up, not a server that answers errors. A throw-away layer does it: the one the
    server uses must make its connections on the server's own event loop."""

    from redis.exceptions import RedisError  # only with --redis-url, as make_layer's import

    async def ping() -> None:
        layer = make_layer(redis_url)
        try:
            await asyncio.wait_for(layer.ping(), timeout)
        finally:
            await layer.close()

    try:
        asyncio.run(ping())
    except (OSError, TimeoutError, RedisError) as error:
        raise LayerUnavailableError(
            f"cannot reach Redis at {redis_url} ({error or type(error).__name__}): start "
            "redis-server or fix --redis-url; without --redis-url the demo needs no Redis"
        ) from error
