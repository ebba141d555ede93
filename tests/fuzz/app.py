"""The fuzzed consumers behind a real uvicorn (tests/fuzz/test_frames_uvicorn.py)."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from fast_channels.observability.logging import configure_logging
from fast_channels.service import add_observability_endpoints, lifespan
from tests.fuzz.test_frames import Echo, JsonEcho

configure_logging(level=logging.WARNING)
app = Starlette(
    routes=[WebSocketRoute("/json", JsonEcho.as_asgi()), WebSocketRoute("/echo", Echo.as_asgi())],
    lifespan=lifespan(),
)
add_observability_endpoints(app)
