"""Close every registered channel layer when a Starlette/FastAPI app shuts down.

    app = FastAPI(lifespan=layers_lifespan)              # nothing else to do
    app = FastAPI(lifespan=with_layers(my_lifespan))     # yours runs inside; layers close last

Layers connect lazily on first use, so there is nothing to open at startup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import structlog

from fast_channels.layers.registry import ChannelLayerRegistry, channel_layers

logger = structlog.get_logger("fast_channels.layers")

Lifespan = Callable[[Any], AbstractAsyncContextManager[Mapping[str, Any] | None]]


async def close_layers(registry: ChannelLayerRegistry = channel_layers) -> None:
    """Close every registered layer; one failing does not keep the others open."""
    for alias, layer in registry.items():
        close = getattr(layer, "close", None)  # a third-party layer may have none
        if close is None:
            continue
        try:
            await close()
        except Exception:
            logger.exception("fast_channels.layer.close_failed", layer=alias)


@asynccontextmanager
async def layers_lifespan(app: Any) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await close_layers()


def with_layers(lifespan: Lifespan) -> Lifespan:
    """Wrap an app's own lifespan (its state is passed through); layers close after it ends."""

    @asynccontextmanager
    async def wrapped(app: Any) -> AsyncIterator[Mapping[str, Any] | None]:
        try:
            async with lifespan(app) as state:
                yield state
        finally:
            await close_layers()

    return wrapped
