"""Small helpers shared by the Redis layers: sharding, host decoding, closing clients."""

from __future__ import annotations

import asyncio
import binascii
import types
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from redis import asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from fast_channels.layers.redis.pools import create_pool as create_layer_pool
from fast_channels.layers.redis.pools import is_cluster

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
    holding a URL), a Sentinel dict `{"sentinels": [(host, port), ...], "master_name": ...,
    "sentinel_kwargs": {...}}` or URL `redis+sentinel://[user:pass@]h1:p1,h2:p2/master[/db]`,
    or a Redis Cluster as `{"cluster": True, "address": url}` or `redis+cluster://h1:p1,h2:p2`
    (a cluster shards by itself, so it must be the only host).
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
            decoded.append(_decode_url(entry))
        else:
            raise TypeError(
                f"Each Redis host must be a URL, a (host, port) pair or a dict, got {entry!r}"
            )
    if len(decoded) > 1 and any(is_cluster(host) for host in decoded):
        raise ValueError(
            "A Redis Cluster shards keys by itself: give it as the only host, got "
            f"{len(decoded)} hosts"
        )
    return decoded


def wants_cluster(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    """Whether a layer constructor's `hosts` argument (first positional or keyword) names a
    Redis Cluster: then the layer classes construct their cluster variant."""
    hosts = args[0] if args else kwargs.get("hosts")
    return any(is_cluster(host) for host in decode_hosts(hosts))


def _decode_url(url: str) -> dict[str, Any]:
    scheme = url.partition("://")[0].lower()
    if scheme in ("redis+sentinel", "rediss+sentinel"):
        host = _multi_host_url(url, "redis+sentinel://[user:pass@]host:port,.../master_name[/db]")
        path = [part for part in urlsplit(url).path.split("/") if part]
        if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
            raise ValueError(f"A Sentinel URL needs /<master_name>[/<db>] after the hosts: {url!r}")
        host["sentinels"] = host.pop("nodes")
        host["master_name"] = unquote(path[0])
        if len(path) == 2:
            host["db"] = int(path[1])
        return host
    if scheme in ("redis+cluster", "rediss+cluster"):
        host = _multi_host_url(url, "redis+cluster://[user:pass@]host:port,...")
        host["startup_nodes"] = host.pop("nodes")
        host["cluster"] = True
        return host
    return {"address": _checked_url(url)}


# What redis-py's from_url accepts; anything else would fail only at the first command.
_URL_SCHEMES = ("redis", "rediss", "unix")
_ALL_SCHEMES = "redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://"


def _checked_url(url: str) -> str:
    scheme, separator, _ = url.partition("://")
    if not separator or scheme.lower() not in _URL_SCHEMES:
        raise ValueError(f"A Redis URL starts with {_ALL_SCHEMES}; got {url!r}")
    return url


def _multi_host_url(url: str, shape: str) -> dict[str, Any]:
    """Credentials, TLS and `host:port,...` of a `redis+sentinel://` or `redis+cluster://` URL."""
    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    if not hosts:
        raise ValueError(f"The URL names no host; expected {shape}, got {url!r}")
    if parts.query:
        raise ValueError(f"Query options are not supported in {url!r}; use a host dict")
    host: dict[str, Any] = {"nodes": [_node_address(address) for address in hosts.split(",")]}
    if credentials:
        username, has_password, password = credentials.partition(":")
        if username:
            host["username"] = unquote(username)
        if has_password:
            host["password"] = unquote(password)
    if parts.scheme.lower().startswith("rediss"):
        host["ssl"] = True
    return host


def _decode_mapping(entry: Mapping[str, Any]) -> dict[str, Any]:
    host = dict(entry)
    if isinstance(host.get("address"), str):
        _checked_url(host["address"])
    if "sentinels" in host or "master_name" in host:
        if not host.get("sentinels") or not host.get("master_name"):
            raise ValueError(
                f"A Sentinel host needs both 'sentinels' and 'master_name', got {entry!r}"
            )
        host["sentinels"] = [_node_address(address) for address in host["sentinels"]]
    if is_cluster(host):
        if "startup_nodes" in host:
            host["startup_nodes"] = [_node_address(node) for node in host["startup_nodes"]]
        elif not ("address" in host or "host" in host):
            raise ValueError(
                f"A cluster host needs 'address', 'host' or 'startup_nodes', got {entry!r}"
            )
    return host


def _node_address(address: Any) -> tuple[str, int]:
    if isinstance(address, str):
        hostname, _, port = address.strip().rpartition(":")
        if not hostname or not port.isdigit():
            raise ValueError(f"A node address must be 'host:port' or (host, port), got {address!r}")
        return hostname, int(port)
    if isinstance(address, tuple | list) and len(address) == 2:
        return str(address[0]), int(address[1])
    raise ValueError(f"A node address must be 'host:port' or (host, port), got {address!r}")


async def close_redis(connection: aioredis.Redis | RedisCluster) -> None:
    """Close a client and the connection pool(s) it owns."""
    if isinstance(connection, RedisCluster):
        await connection.aclose()
    else:
        await connection.aclose(close_connection_pool=True)


def create_pool(host: Mapping[str, Any]) -> aioredis.ConnectionPool:
    """A connection pool for one entry of `decode_hosts()` (a URL, Sentinel or plain host).
    1.x's public helper; the layers make theirs with the same function (pools.py), with
    their timeouts added."""
    return create_layer_pool(dict(host))


class _Closable(Protocol):
    async def close(self) -> None: ...


def wrap_close(layer: _Closable, loop: asyncio.AbstractEventLoop) -> None:
    """Make `loop.close()` close `layer` on that loop first, once (1.x's helper for layers
    driven from sync code). Our layers already close a loop's clients when `asyncio.run()`
    or `async_to_sync` ends it; this is for code that closes its loops by hand."""
    original = loop.close

    def close(self: asyncio.AbstractEventLoop) -> None:
        self.close = original  # type: ignore[method-assign]
        if not self.is_closed() and not self.is_running():
            self.run_until_complete(layer.close())
        original()

    loop.close = types.MethodType(close, loop)  # type: ignore[method-assign]
