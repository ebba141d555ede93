"""How a consumer finds its layer, and how it reads it: settled once per class."""

from __future__ import annotations

import inspect

import structlog

from fast_channels.layers import BaseChannelLayer, channel_layers, get_channel_layer

logger = structlog.get_logger("fast_channels.consumer")

# Consumer classes already warned that their channel_layer_alias names no registered layer.
_warned_unregistered: set[type] = set()

# Per layer class: whether consumers take its messages by poll_delivery()/receive_delivery()
# (our layers), or else by receive() (a 1.x-style or third-party layer, or a subclass of ours
# that overrides receive(): 1.x consumers went through it).
_fast_path_of: dict[type, bool] = {}
# Per layer class: whether it offers a `direct` receiver to its buffers (offers_direct) and its
# poll_delivery() takes one (consumer/direct.py); a subclass written against the one-argument
# form keeps working without it.
_takes_direct: dict[type, bool] = {}


def layer_for(consumer_class: type, alias: str) -> BaseChannelLayer | None:
    """The layer registered as `alias`; None if there is none, as in 1.x, said once per
    consumer class (a missing registration is a deployment mistake, not an event)."""
    layer = get_channel_layer(alias)
    if layer is None and consumer_class not in _warned_unregistered:
        _warned_unregistered.add(consumer_class)
        logger.warning(
            "fast_channels.consumer.layer_not_registered",
            consumer=consumer_class.__name__,
            alias=alias,
            registered=channel_layers.list_aliases(),
        )
    return layer


def has_fast_path(layer: object) -> bool:
    known = _fast_path_of.get(type(layer))
    if known is None:
        known = _fast_path_of[type(layer)] = isinstance(layer, BaseChannelLayer) and (
            type(layer).receive is BaseChannelLayer.receive
            and type(layer).receive_delivery is not BaseChannelLayer.receive_delivery
        )
    return known


def takes_direct(layer: object) -> bool:
    known = _takes_direct.get(type(layer))
    if known is None:
        poll = getattr(type(layer), "poll_delivery", None)
        known = _takes_direct[type(layer)] = (
            getattr(type(layer), "offers_direct", False) is True
            and poll is not None
            and "direct" in inspect.signature(poll).parameters
        )
    return known
