"""Running consumers as a service: health/metrics endpoints, graceful drain, layer shutdown.

This is the glue between the library's parts: it may import all of them; none imports it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import FrameType
from typing import Any

import structlog

from fast_channels import gcsettings
from fast_channels.drain import drain_state
from fast_channels.layers import channel_layers
from fast_channels.layers.lifespan import close_layers
from fast_channels.observability.endpoints import DEFAULT_CHECK_TIMEOUT, ObservabilityEndpoints

logger = structlog.get_logger("fast_channels.service")

DEFAULT_DRAIN_TIMEOUT = 20.0
Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def drain_timeout_from_env() -> float:
    """`FAST_CHANNELS_DRAIN_TIMEOUT` (seconds), as the Helm chart sets it; 20 by default."""
    raw = os.environ.get("FAST_CHANNELS_DRAIN_TIMEOUT")
    if raw is None:
        return DEFAULT_DRAIN_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"FAST_CHANNELS_DRAIN_TIMEOUT must be seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"FAST_CHANNELS_DRAIN_TIMEOUT must be >= 0, got {raw!r}")
    return value


def add_observability_endpoints(
    app: Any, *, prefix: str = "", timeout: float = DEFAULT_CHECK_TIMEOUT
) -> ObservabilityEndpoints:
    """Add GET /metrics, /healthz (process alive) and /readyz (every registered layer answers a
    ping within `timeout`, and the process is not draining) to a Starlette or FastAPI app."""
    endpoints = ObservabilityEndpoints(
        layers=channel_layers.instrumented, draining=lambda: drain_state.draining, timeout=timeout
    )
    app.router.routes.extend(endpoints.routes(prefix))
    return endpoints


async def shutdown(drain_timeout: float | None = None) -> None:
    """Drain the WebSockets (1001), then close the layers. Safe to call more than once."""
    timeout = drain_timeout_from_env() if drain_timeout is None else drain_timeout
    await drain_state.drain(timeout)
    await close_layers()


def install_sigterm_drain(drain_timeout: float | None = None) -> bool:
    """On SIGTERM, drain first, then hand the signal to the server's own handler (uvicorn's),
    so sockets close with 1001 "going away" instead of the server's 1012."""
    try:
        loop = asyncio.get_running_loop()
        previous = signal.getsignal(signal.SIGTERM)
    except RuntimeError:
        return False

    async def drain_then_exit(signum: int, frame: FrameType | None) -> None:
        await drain_state.drain(
            drain_timeout_from_env() if drain_timeout is None else drain_timeout
        )
        if callable(previous):
            previous(signum, frame)
        else:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if drain_state.draining:
            return  # a second SIGTERM while draining: the drain already has a deadline
        drain_state.draining = True
        loop.call_soon_threadsafe(lambda: loop.create_task(drain_then_exit(signum, frame)))

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread: the server owns signals there
        logger.warning("SIGTERM drain not installed: not running in the main thread")
        return False
    return True


def lifespan(inner: Lifespan | None = None) -> Lifespan:
    """A Starlette/FastAPI lifespan: drain on SIGTERM and on shutdown, then close the layers;
    at startup, the garbage-collector settings of the environment (gcsettings.py).

    `FastAPI(lifespan=fast_channels.service.lifespan())`, or wrap your own:
    `lifespan(my_lifespan)` runs yours inside."""

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[Any]:
        install_sigterm_drain()
        gcsettings.apply_threshold()
        if inner is None:
            gcsettings.freeze_if_asked()
            yield None
            await shutdown()
            return
        async with inner(app) as state:
            gcsettings.freeze_if_asked()  # after the app's own startup: its objects too
            try:
                yield state
            finally:
                # Sockets first, while the app's own resources (its layer, its worker) still
                # work; then the app's shutdown; then whatever layers are still registered.
                await drain_state.drain(drain_timeout_from_env())
        await close_layers()

    return run
