"""An app for recovery under real uvicorn: /ws/{room} joins room.<room> with join_group()
(`?recent=N` for a fresh client), POST /send?room=&first=&n= broadcasts numbered messages,
GET /metrics. The in-memory layer keeps RECOVERY_HISTORY_SIZE messages per room (default
1000) for RECOVERY_HISTORY_TTL seconds (default 300)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.layers import InMemoryChannelLayer, get_channel_layer, register_channel_layer
from fast_channels.service import add_observability_endpoints, lifespan

SIZE = int(os.environ.get("RECOVERY_HISTORY_SIZE", "1000"))
TTL = float(os.environ.get("RECOVERY_HISTORY_TTL", "300"))


class RoomConsumer(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "default"

    async def connect(self) -> None:
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        recent = int(query.get("recent", ["0"])[0])
        self.room = f"room.{self.scope['path_params']['room']}"
        await self.join_group(self.room, recent=recent)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        assert self.channel_layer is not None
        await self.channel_layer.group_send(self.room, {"type": "chat.message", "n": content["n"]})

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"n": event["n"]})


async def send(request: Request) -> JSONResponse:
    room, first = request.query_params["room"], int(request.query_params["first"])
    layer = get_channel_layer("default")
    assert layer is not None  # registered below
    count = int(request.query_params["n"])
    for n in range(first, first + count):
        await layer.group_send(f"room.{room}", {"type": "chat.message", "n": n})
    return JSONResponse({"sent": count})


register_channel_layer("default", InMemoryChannelLayer(group_history={"room.*": (SIZE, TTL)}))
app = Starlette(
    routes=[
        WebSocketRoute("/ws/{room}", RoomConsumer.as_asgi()),
        Route("/send", send, methods=["POST"]),
    ],
    lifespan=lifespan(),
)
add_observability_endpoints(app)
