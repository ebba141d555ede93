"""Channel layers registered by alias; consumers pick one with `channel_layer_alias`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fast_channels.layers.base import BaseChannelLayer

DEFAULT_CHANNEL_LAYER = "default"

# What consumers call on a layer. Any object with these is accepted (1.x took any object:
# mocks, third-party layers); consumers take its messages through its receive().
LAYER_METHODS = ("send", "receive", "new_channel", "group_add", "group_discard", "group_send")


def _require_layer(alias: str, layer: Any) -> None:
    if isinstance(layer, BaseChannelLayer):
        return
    missing = [name for name in LAYER_METHODS if not callable(getattr(layer, name, None))]
    if missing:
        raise TypeError(
            f"Expected a channel layer for alias {alias!r} (a BaseChannelLayer, or an object "
            f"with {', '.join(LAYER_METHODS)}), got {layer!r}, which lacks {', '.join(missing)}"
        )


class ChannelLayerRegistry:
    def __init__(self) -> None:
        self._layers: dict[str, BaseChannelLayer] = {}

    def register(self, alias: str, layer: BaseChannelLayer) -> None:
        _require_layer(alias, layer)
        if isinstance(layer, BaseChannelLayer):
            layer.bind_alias(alias)  # others have no metrics of ours to label
        self._layers[alias] = layer

    def unregister(self, alias: str) -> None:
        self._layers.pop(alias, None)

    def get(self, alias: str) -> BaseChannelLayer | None:
        return self._layers.get(alias)

    def list_aliases(self) -> list[str]:
        return list(self._layers)

    def items(self) -> list[tuple[str, BaseChannelLayer]]:
        return list(self._layers.items())

    def instrumented(self) -> list[tuple[str, BaseChannelLayer]]:
        """The layers that are ours (BaseChannelLayer): those with metrics and a ping()."""
        return [item for item in self._layers.items() if isinstance(item[1], BaseChannelLayer)]

    def clear(self) -> None:
        self._layers.clear()

    def __contains__(self, alias: object) -> bool:
        return alias in self._layers

    def __getitem__(self, alias: str) -> BaseChannelLayer:
        try:
            return self._layers[alias]
        except KeyError:
            raise KeyError(
                f"No channel layer registered as {alias!r}; registered: {self.list_aliases()}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._layers))

    def __len__(self) -> int:
        return len(self._layers)


channel_layers = ChannelLayerRegistry()


def get_channel_layer(alias: str = DEFAULT_CHANNEL_LAYER) -> BaseChannelLayer | None:
    return channel_layers.get(alias)


def register_channel_layer(alias: str, layer: BaseChannelLayer) -> None:
    channel_layers.register(alias, layer)


def unregister_channel_layer(alias: str) -> None:
    channel_layers.unregister(alias)


def has_layers() -> bool:
    return len(channel_layers) > 0
