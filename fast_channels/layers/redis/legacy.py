"""The members 1.x (and channels_redis) code reads on the Redis layers, kept apart from the
layers' own code: names only, each mapped onto what the layer already has."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from fast_channels.layers.redis.envelope import Codec

if TYPE_CHECKING:
    from fast_channels.layers.local import LocalChannel


class ForeignChannelError(ValueError, AssertionError):
    """receive() on a channel another layer instance made. A ValueError; an AssertionError
    too, which is what 1.x raised ("Wrong client prefix"), so 1.x handlers still catch it."""


class RedisLegacyMembers:
    process_id: str
    hosts: list[dict[str, Any]]
    codec: Codec

    @property
    def client_prefix(self) -> str:
        """The part of this instance's channel names before the "!" ("specific.<this>!...")."""
        return self.process_id

    @property
    def ring_size(self) -> int:
        """How many Redis hosts (shards) the layer spreads keys over."""
        return len(self.hosts)

    def serialize(self, message: dict[str, Any]) -> bytes:
        """`message` as this layer's serializer writes it (encrypted, prefixed), without the
        layer's envelope: what channels_redis's serialize() gave."""
        return self.codec.serializer.serialize(message)

    def deserialize(self, data: bytes) -> dict[str, Any]:
        return self.codec.serializer.deserialize(data)

    async def close_pools(self) -> None:
        """channels_redis's shutdown call: close this layer's connections (it reconnects if
        used again)."""
        await cast(Any, self).close()  # the layer's close(): this class only names it


class PubSubLegacyMembers(RedisLegacyMembers):
    _local: dict[str, LocalChannel]
    _groups: dict[str, dict[str, float]]

    def serialize(self, message: dict[str, Any]) -> bytes:
        """As 1.x's pub/sub layer: the serializer's bytes with no random prefix."""
        data = self.codec.serializer.serialize(message)
        return data[_prefix_length(self.codec) :]

    def deserialize(self, data: bytes) -> dict[str, Any]:
        # The serializer strips a random prefix of its length: give it one to strip.
        return self.codec.serializer.deserialize(bytes(_prefix_length(self.codec)) + data)

    @property
    def channels(self) -> Mapping[str, LocalChannel]:
        """Read-only: this instance's channels (its consumers') by name."""
        return MappingProxyType(self._local)

    @property
    def groups(self) -> Mapping[str, Mapping[str, float]]:
        """Read-only: group name -> the channels of this instance in it (each with the
        monotonic time it joined: read it as a set of channels, as 1.x's was)."""
        return MappingProxyType(self._groups)


def _prefix_length(codec: Codec) -> int:
    return int(getattr(codec.serializer, "random_prefix_length", 0) or 0)
