from fast_channels.layers.base import BaseChannelLayer
from fast_channels.layers.in_memory import InMemoryChannelLayer
from fast_channels.layers.registry import (
    DEFAULT_CHANNEL_LAYER,
    ChannelLayerRegistry,
    channel_layers,
    get_channel_layer,
    has_layers,
    register_channel_layer,
    unregister_channel_layer,
)

__all__ = [
    "DEFAULT_CHANNEL_LAYER",
    "BaseChannelLayer",
    "ChannelLayerRegistry",
    "InMemoryChannelLayer",
    "channel_layers",
    "get_channel_layer",
    "has_layers",
    "register_channel_layer",
    "unregister_channel_layer",
]
