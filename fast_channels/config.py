"""A channel layer built from environment variables (the Helm chart sets them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from fast_channels.layers import BaseChannelLayer, InMemoryChannelLayer
from fast_channels.layers.history import GroupHistoryOption, HistoryPolicy
from fast_channels.layers.patterns import NamePattern

ENV_LAYER = "FAST_CHANNELS_LAYER"
ENV_URL = "FAST_CHANNELS_REDIS_URL"
ENV_PASSWORD = "FAST_CHANNELS_REDIS_PASSWORD"
ENV_SENTINELS = "FAST_CHANNELS_REDIS_SENTINELS"
ENV_MASTER_NAME = "FAST_CHANNELS_REDIS_MASTER_NAME"
ENV_CLUSTER = "FAST_CHANNELS_REDIS_CLUSTER"
ENV_TLS_CA_FILE = "FAST_CHANNELS_REDIS_TLS_CA_FILE"
ENV_PREFIX = "FAST_CHANNELS_REDIS_PREFIX"
ENV_GROUP_HISTORY = "FAST_CHANNELS_GROUP_HISTORY"
# FAST_CHANNELS_GROUP_HISTORY's format, quoted in its errors.
GROUP_HISTORY_FORMAT = (
    "comma-separated PATTERN=SIZE:TTL entries (glob PATTERN, SIZE messages >= 1, TTL seconds "
    '> 0), e.g. "chat.*=100:600,orders.*=50:60", or "none"'
)

LAYER_KINDS = ("memory", "redis", "redis_pubsub")


def _redis_host(env: Mapping[str, str]) -> dict[str, Any]:
    """One `hosts` entry: a URL or Sentinel addresses, plus password and CA from their own
    variables so the secret never has to sit inside a URL."""
    extra: dict[str, Any] = {}
    if env.get(ENV_PASSWORD):
        extra["password"] = env[ENV_PASSWORD]
    if env.get(ENV_TLS_CA_FILE):
        extra["ssl_ca_certs"] = env[ENV_TLS_CA_FILE]
    if env.get(ENV_SENTINELS):
        if not env.get(ENV_MASTER_NAME):
            raise ValueError(f"{ENV_SENTINELS} is set, so {ENV_MASTER_NAME} must be too")
        sentinels = [address.strip() for address in env[ENV_SENTINELS].split(",") if address]
        sentinel_kwargs = {"password": extra["password"]} if "password" in extra else {}
        return {
            "sentinels": sentinels,
            "master_name": env[ENV_MASTER_NAME],
            "sentinel_kwargs": sentinel_kwargs,
            **extra,
        }
    if not env.get(ENV_URL):
        raise ValueError(f"A Redis layer needs {ENV_URL} (or {ENV_SENTINELS})")
    return {"address": env[ENV_URL], **extra}


def parse_group_history(value: str) -> dict[NamePattern, HistoryPolicy]:
    """FAST_CHANNELS_GROUP_HISTORY's value as a `group_history` option ({} for "none");
    ValueError naming the variable, the entry and the format for anything else."""
    if value.strip().lower() == "none":
        return {}
    policies: dict[NamePattern, HistoryPolicy] = {}
    for entry in value.split(","):
        pattern, _, limits = entry.strip().rpartition("=")
        size, _, ttl = limits.partition(":")
        try:
            policy = HistoryPolicy(int(size), float(ttl))
        except ValueError:
            policy = HistoryPolicy(0, 0.0)
        if not pattern.strip() or policy.size < 1 or not 0 < policy.ttl < float("inf"):
            raise ValueError(f"{ENV_GROUP_HISTORY}: bad entry {entry!r}: {GROUP_HISTORY_FORMAT}")
        if pattern.strip() in policies:
            raise ValueError(f"{ENV_GROUP_HISTORY}: pattern {pattern.strip()!r} given twice")
        policies[pattern.strip()] = policy
    return policies


def group_history_from_env(
    env: Mapping[str, str] | None = None, default: GroupHistoryOption | None = None
) -> GroupHistoryOption | None:
    """The layer's `group_history`: FAST_CHANNELS_GROUP_HISTORY when set (so a deployment can
    change or turn off what the app chose), else the app's `default`."""
    env = os.environ if env is None else env
    value = env.get(ENV_GROUP_HISTORY, "").strip()
    return parse_group_history(value) if value else default


def redis_configured(env: Mapping[str, str] | None = None) -> bool:
    """True when the environment names a Redis (URL or Sentinel) for the layer."""
    env = os.environ if env is None else env
    return bool(env.get(ENV_URL) or env.get(ENV_SENTINELS))


def layer_from_env(
    env: Mapping[str, str] | None = None, *, group_history: GroupHistoryOption | None = None
) -> BaseChannelLayer:
    """`FAST_CHANNELS_LAYER` = memory | redis | redis_pubsub; memory when unset and no Redis URL
    or Sentinel is given, redis when one is. Group history: `FAST_CHANNELS_GROUP_HISTORY`, else
    the `group_history` given here (the app's default)."""
    env = os.environ if env is None else env
    kind = env.get(ENV_LAYER) or ("redis" if redis_configured(env) else "memory")
    if kind not in LAYER_KINDS:
        raise ValueError(f"{ENV_LAYER} must be one of {', '.join(LAYER_KINDS)}, got {kind!r}")
    history = group_history_from_env(env, group_history)
    if kind == "memory":
        return InMemoryChannelLayer(group_history=history)
    from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer

    host = _redis_host(env)
    if env.get(ENV_CLUSTER, "").lower() in ("1", "true", "yes"):
        if "sentinels" in host:
            raise ValueError(f"{ENV_CLUSTER}=true needs {ENV_URL}, not {ENV_SENTINELS}")
        host["cluster"] = True  # the URL is one node: the client discovers the others
    options: dict[str, Any] = {"hosts": [host]}
    if env.get(ENV_PREFIX):
        options["prefix"] = env[ENV_PREFIX]
    if history:  # not passed at all otherwise: the layer stays exactly as without the option
        options["group_history"] = history
    if kind == "redis":
        return RedisChannelLayer(**options)
    return RedisPubSubChannelLayer(**options)
