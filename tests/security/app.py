"""The security tests' app under a real uvicorn: OriginValidator → AuthMiddleware → consumers.

/debug/* is served beside the guarded app (no origin or token needed) so the tests can read
how many times a consumer's connect() ran, and the metrics.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from fast_channels.consumer import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from fast_channels.middleware import OriginValidator
from fast_channels.middleware.auth import AuthMiddleware
from fast_channels.observability.logging import configure_logging
from fast_channels.service import add_observability_endpoints
from fast_channels.types import Receive, Scope, Send
from tests.security.constants import ALLOWED_ORIGINS, TOKEN

configure_logging(level=logging.DEBUG)  # everything the library logs, to prove what it omits

connects = {"count": 0}


async def authenticate(scope: Scope) -> object | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value == f"Bearer {TOKEN}".encode():
            return {"name": "alice"}
    return None


class Guarded(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        connects["count"] += 1
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_json({"echo": content, "user": self.scope["user"]["name"]})


class Limited(AsyncWebsocketConsumer):
    rate_limit_messages = 5
    rate_limit_period = 60.0

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data)


guarded = Starlette(
    routes=[WebSocketRoute("/ws", Guarded.as_asgi()), WebSocketRoute("/limited", Limited.as_asgi())]
)
protected = OriginValidator(
    AuthMiddleware(guarded, authenticate, require_user=True), ALLOWED_ORIGINS
)


async def connect_count(request: Request) -> JSONResponse:
    return JSONResponse(connects)


debug = Starlette(routes=[Route("/debug/connects", connect_count)])
add_observability_endpoints(debug, prefix="/debug")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    debugging = scope["type"] == "http" and scope["path"].startswith("/debug/")
    if debugging or scope["type"] == "lifespan":
        await debug(scope, receive, send)
    else:
        await protected(scope, receive, send)
