"""The soak test's app, served by a real uvicorn: a room consumer over a Redis layer, plus a
debug endpoint that reads the layer's internals (local channels, groups, tasks, subscriptions).

Environment: SOAK_LAYER ("queue" or "pubsub"), SOAK_REDIS_URL, SOAK_PREFIX.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.drain import drain_state
from fast_channels.layers import register_channel_layer
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.observability.logging import configure_logging
from fast_channels.service import add_observability_endpoints, lifespan

configure_logging(level=logging.WARNING)  # 20,000 connection events would only be noise

LAYERS = {"queue": RedisChannelLayer, "pubsub": RedisPubSubChannelLayer}
layer = LAYERS[os.environ["SOAK_LAYER"]](
    hosts=[os.environ["SOAK_REDIS_URL"]], prefix=os.environ["SOAK_PREFIX"]
)
register_channel_layer("soak", layer)


class RoomConsumer(AsyncJsonWebsocketConsumer):
    """Joins "lobby" and the room named in the path; echoes a client's frame to its room."""

    channel_layer_alias = "soak"
    groups = ["lobby"]

    async def connect(self) -> None:
        room = f"room-{self.scope['path_params']['room']}"
        assert self.channel_layer is not None
        await self.channel_layer.group_add(room, self.channel_name)
        self.groups.append(room)  # left again on disconnect, like the class's groups
        self.room = room
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        assert self.channel_layer is not None
        await self.channel_layer.group_send(self.room, {"type": "room.echo", "n": content["n"]})

    async def room_echo(self, message: dict[str, Any]) -> None:
        await self.send_json({"n": message["n"]})


async def debug(request: Request) -> JSONResponse:
    gc.collect()
    state: dict[str, Any] = {
        "process_id": layer.process_id,
        "connections": len(drain_state.connections),
        "local_channels": len(layer._local),
        "groups": len(layer._groups),
        "memberships": sum(len(members) for members in layer._groups.values()),
        "tasks": len(layer._tasks),
        "buffered": sum(len(local.buffer) for local in layer._local.values()),
    }
    if isinstance(layer, RedisPubSubChannelLayer):
        state["routes"] = sorted(name.decode() for name in layer._routes)
        state["subscriptions"] = sorted(
            name.decode() for sub in layer.subscriptions.readers() for name in sub._wanted
        )
    else:
        state["pullers"] = len(layer._receiver._pullers)
    return JSONResponse(state)


app = Starlette(
    routes=[
        WebSocketRoute("/ws/{room}", RoomConsumer.as_asgi()),
        Route("/debug/layer", debug),
    ],
    lifespan=lifespan(),
)
add_observability_endpoints(app)
