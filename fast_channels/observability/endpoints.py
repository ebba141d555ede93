"""/metrics, /healthz and /readyz as ASGI endpoints for FastAPI and Starlette."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from fast_channels.observability import batching

# A dead or stalled Redis must never hang a probe or a scrape: each check gets this long.
DEFAULT_CHECK_TIMEOUT = 1.0


class CheckedLayer(Protocol):
    """What the endpoints need of a channel layer (kept structural: observability imports
    nothing else of ours)."""

    @property
    def metrics(self) -> Any: ...

    async def ping(self) -> None: ...

    async def refresh_backlog(self) -> None: ...


Layers = Callable[[], Iterable[tuple[str, CheckedLayer]]]
Draining = Callable[[], bool]


def _no_layers() -> Iterable[tuple[str, CheckedLayer]]:
    return ()


def _never_draining() -> bool:
    return False


def render_metrics() -> bytes:
    """The exposition text; under several workers, the sum over every worker's files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        batching.flush()  # this worker's files are current; the others' at most 1 s late
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


async def _bounded(check: Any, timeout: float) -> str | None:
    """None if the check finished in time, else what went wrong, in a few words."""
    try:
        async with asyncio.timeout(timeout):
            await check
    except TimeoutError:
        return f"no answer within {timeout}s"
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


class ObservabilityEndpoints:
    """The handlers; `layers` and `draining` are supplied by `fast_channels.service`, so this
    module imports nothing else of the package."""

    def __init__(
        self,
        layers: Layers = _no_layers,
        draining: Draining = _never_draining,
        timeout: float = DEFAULT_CHECK_TIMEOUT,
    ) -> None:
        self.layers = layers
        self.draining = draining
        self.timeout = timeout

    async def metrics(self, request: Request) -> Response:
        layers = list(self.layers())
        failures = await asyncio.gather(
            *(_bounded(layer.refresh_backlog(), self.timeout) for _, layer in layers)
        )
        for (_, layer), failure in zip(layers, failures, strict=True):
            if failure is not None:
                layer.metrics.redis_error("backlog")
        return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(self, request: Request) -> Response:
        if self.draining():
            return JSONResponse({"status": "draining"}, status_code=503)
        layers = list(self.layers())
        failures = await asyncio.gather(
            *(_bounded(layer.ping(), self.timeout) for _, layer in layers)
        )
        failing = {alias: f for (alias, _), f in zip(layers, failures, strict=True) if f}
        if failing:
            return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ok", "layers": [alias for alias, _ in layers]})

    def routes(self, prefix: str = "") -> list[Route]:
        return [
            Route(f"{prefix}/metrics", self.metrics, methods=["GET"]),
            Route(f"{prefix}/healthz", self.healthz, methods=["GET"]),
            Route(f"{prefix}/readyz", self.readyz, methods=["GET"]),
        ]


async def metrics_app(scope: Any, receive: Any, send: Any) -> None:
    """A bare ASGI app serving this process's metrics: `app.mount("/metrics", metrics_app)`."""
    if scope["type"] != "http":
        raise ValueError(f"metrics_app serves http scopes only, got {scope['type']!r}")
    response = Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)
    await response(scope, receive, send)
