"""A channel a Redis layer instance receives on, as its helpers see it (legacy.py,
receiver.py) without importing the layer."""

from __future__ import annotations

from fast_channels.layers.buffer import ChannelBuffer


class LocalChannel:
    """A channel this layer instance receives on: its buffer, capacity and local groups."""

    __slots__ = ("buffer", "capacity", "groups", "owned")

    def __init__(self, buffer: ChannelBuffer, capacity: int, owned: bool) -> None:
        self.buffer = buffer
        self.capacity = capacity
        self.groups: set[str] = set()
        self.owned = owned  # made by new_channel(): kept until release_channel()
