"""Small helpers shared by the Redis layers: sharding, host decoding, closing clients."""

from __future__ import annotations

import binascii
from collections.abc import Iterable, Mapping
from typing import Any

from redis import asyncio as aioredis

DEFAULT_HOST = "redis://localhost:6379"

HostSpec = str | tuple[str, int] | list[Any] | Mapping[str, Any]


def consistent_hash(value: str | bytes, ring_size: int) -> int:
    """Map a value to one of `ring_size` shards (CRC32 onto a 4096-slot ring, as channels_redis)."""
    if ring_size == 1:
        return 0
    if isinstance(value, str):
        value = value.encode("utf8")
    slot = binascii.crc32(value) & 0xFFF
    return int(slot / (4096 / ring_size))


def decode_hosts(hosts: Iterable[HostSpec] | None) -> list[dict[str, Any]]:
    """Turn the `hosts` option into one dict of connection arguments per shard.

    Accepted entries: a URL (`redis://`, `rediss://`, `unix://`, with ACL `user:password@`),
    a `(host, port)` pair, a dict of redis-py connection arguments (optionally with `address`
    holding a URL), or a Sentinel dict `{"sentinels": [(host, port), ...], "master_name": ...,
    "sentinel_kwargs": {...}}`.
    """
    if not hosts:
        return [{"address": DEFAULT_HOST}]
    if isinstance(hosts, str | bytes):
        raise ValueError(
            f"hosts must be a list of Redis hosts, even if there is only one; got {hosts!r}"
        )
    decoded = []
    for entry in hosts:
        if isinstance(entry, Mapping):
            decoded.append(_decode_mapping(entry))
        elif isinstance(entry, tuple | list) and len(entry) == 2:
            decoded.append({"host": entry[0], "port": int(entry[1])})
        elif isinstance(entry, str):
            decoded.append({"address": entry})
        else:
            raise TypeError(
                f"Each Redis host must be a URL, a (host, port) pair or a dict, got {entry!r}"
            )
    return decoded


def _decode_mapping(entry: Mapping[str, Any]) -> dict[str, Any]:
    host = dict(entry)
    if "sentinels" in host or "master_name" in host:
        if not host.get("sentinels") or not host.get("master_name"):
            raise ValueError(
                f"A Sentinel host needs both 'sentinels' and 'master_name', got {entry!r}"
            )
        host["sentinels"] = [_sentinel_address(address) for address in host["sentinels"]]
    return host


def _sentinel_address(address: Any) -> tuple[str, int]:
    if isinstance(address, str):
        hostname, _, port = address.rpartition(":")
        if not hostname or not port.isdigit():
            raise ValueError(
                f"A sentinel address must be 'host:port' or (host, port), got {address!r}"
            )
        return hostname, int(port)
    if isinstance(address, tuple | list) and len(address) == 2:
        return str(address[0]), int(address[1])
    raise ValueError(f"A sentinel address must be 'host:port' or (host, port), got {address!r}")


async def close_redis(connection: aioredis.Redis) -> None:
    """Close a client and the connection pool it owns."""
    await connection.aclose(close_connection_pool=True)
