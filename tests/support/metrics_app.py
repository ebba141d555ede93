"""A small app with the observability endpoints, for multi-worker tests under real uvicorn."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.layers import InMemoryChannelLayer, register_channel_layer
from fast_channels.service import add_observability_endpoints


class PidConsumer(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "default"
    groups = ["everyone"]

    async def connect(self) -> None:
        await self.accept()
        await self.send_json({"pid": os.getpid()})


register_channel_layer("default", InMemoryChannelLayer())
app = Starlette(routes=[WebSocketRoute("/ws", PidConsumer.as_asgi())])
add_observability_endpoints(app)
