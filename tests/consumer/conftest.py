from __future__ import annotations

from collections.abc import Iterator

import pytest

from fast_channels.layers import InMemoryChannelLayer, channel_layers, register_channel_layer


@pytest.fixture
def memory_layer() -> Iterator[InMemoryChannelLayer]:
    """A fresh in-memory layer registered as "default" (and "memory"), removed afterwards."""
    layer = InMemoryChannelLayer()
    register_channel_layer("default", layer)
    register_channel_layer("memory", layer)
    yield layer
    channel_layers.unregister("default")
    channel_layers.unregister("memory")
