"""Channel layers registered by alias; consumers pick one with `channel_layer_alias`."""

from __future__ import annotations

from collections.abc import Iterator

from fast_channels.layers.base import BaseChannelLayer

DEFAULT_CHANNEL_LAYER = "default"


class ChannelLayerRegistry:
    def __init__(self) -> None:
        self._layers: dict[str, BaseChannelLayer] = {}

    def register(self, alias: str, layer: BaseChannelLayer) -> None:
        if not isinstance(layer, BaseChannelLayer):
            raise TypeError(f"Expected a BaseChannelLayer for alias {alias!r}, got {layer!r}")
        layer.bind_alias(alias)
        self._layers[alias] = layer

    def unregister(self, alias: str) -> None:
        self._layers.pop(alias, None)

    def get(self, alias: str) -> BaseChannelLayer | None:
        return self._layers.get(alias)

    def list_aliases(self) -> list[str]:
        return list(self._layers)

    def items(self) -> list[tuple[str, BaseChannelLayer]]:
        return list(self._layers.items())

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
