"""A small app with the observability endpoints and the drain, for tests under real uvicorn."""

from __future__ import annotations

import asyncio
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.layers import InMemoryChannelLayer, register_channel_layer
from fast_channels.service import add_observability_endpoints, lifespan


class PidConsumer(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "default"
    groups = ["everyone"]

    async def connect(self) -> None:
        await self.accept()
        await self.send_json({"pid": os.getpid()})


class SlowGoodbyeConsumer(AsyncJsonWebsocketConsumer):
    """Takes a while to clean up, so a drain has something to wait for."""

    async def disconnect(self, code: int) -> None:
        await asyncio.sleep(1.5)


class SlowConnectConsumer(AsyncJsonWebsocketConsumer):
    """Accepts 1 s after its connect() began (as one joining groups on a slow Redis might), so
    a drain can begin in between; `/connecting` says when one is under way."""

    connecting = 0

    async def connect(self) -> None:
        SlowConnectConsumer.connecting += 1
        try:
            await asyncio.sleep(1.0)
        finally:
            SlowConnectConsumer.connecting -= 1
        await self.accept()
        await self.send_json({"pid": os.getpid()})


async def connecting(request: Request) -> JSONResponse:
    return JSONResponse({"connecting": SlowConnectConsumer.connecting})


register_channel_layer("default", InMemoryChannelLayer())
routes = [
    WebSocketRoute("/ws", PidConsumer.as_asgi()),
    WebSocketRoute("/slow", SlowGoodbyeConsumer.as_asgi()),
    WebSocketRoute("/slow-connect", SlowConnectConsumer.as_asgi()),
    Route("/connecting", connecting),
]
app = Starlette(routes=routes, lifespan=lifespan())
add_observability_endpoints(app)
