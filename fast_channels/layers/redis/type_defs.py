"""The Redis-layer type names fast-channels 1.x code imports (`layers.redis.type_defs`)."""

from __future__ import annotations

from typing import Any, TypeAlias

# A `hosts` entry as given: a URL, a (host, port) pair or list, or a dict of redis-py arguments.
ChannelRawRedisHost: TypeAlias = dict[str, Any] | tuple[str, int] | list[str | int] | str
# The same entry decoded by `decode_hosts`: keyword arguments for a connection pool.
ChannelDecodedRedisHost: TypeAlias = dict[str, Any]
SymmetricEncryptionKeys: TypeAlias = list[str | bytes]
