"""An app for close reasons and slow readers under real uvicorn: consumers of every policy,
POST /blast to broadcast, GET /codes for the codes disconnect() was given, /metrics."""

from __future__ import annotations

import os
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from fast_channels._compat import can_abort
from fast_channels.consumer import AsyncWebsocketConsumer
from fast_channels.layers import (
    BaseChannelLayer,
    InMemoryChannelLayer,
    get_channel_layer,
    register_channel_layer,
)
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.service import add_observability_endpoints, lifespan

SEND_TIMEOUT = 0.5
CODES: list[tuple[str, int]] = []  # (consumer class, the code its disconnect() was given)


class Plain(AsyncWebsocketConsumer):
    async def disconnect(self, code: int) -> None:
        CODES.append((type(self).__name__, code))


class Probe(AsyncWebsocketConsumer):
    """Says whether the slow-consumer policy can abort this server's connections."""

    async def connect(self) -> None:
        await self.accept()
        await self.send(text_data="abortable" if can_abort(self.base_receive) else "not")


class Closing(Plain):
    """The "close" policy, with a short bound."""

    channel_layer_alias = "default"
    groups = ["closing"]
    send_timeout = SEND_TIMEOUT

    async def blast(self, message: dict[str, Any]) -> None:
        await self.send(text_data=message["text"])


class Dropping(Closing):
    """Today's behaviour: the handler waits on the send, the buffer's overflow is dropped."""

    groups = ["dropping"]
    slow_consumer_policy = "drop"


class Wrapped(Closing):
    """Served behind a middleware that wraps `receive`: the connection cannot be aborted."""

    groups = ["wrapped"]


class WrapReceive:
    """A middleware handing the app its own `receive` (an object: Starlette routes take a
    plain function for a WebSocket endpoint)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_again() -> Any:
            return await receive()

        await self.app(scope, receive_again, send)


async def blast(request: Request) -> JSONResponse:
    group, count = request.query_params["group"], int(request.query_params["n"])
    pad = "x" * int(request.query_params["size"])
    layer = get_channel_layer("default")
    assert layer is not None  # registered below
    first = int(request.query_params.get("first", "0"))
    for n in range(first, first + count):
        await layer.group_send(group, {"type": "blast", "text": f"{n} {pad}"})
    return JSONResponse({"sent": count})


async def codes(request: Request) -> JSONResponse:
    return JSONResponse(CODES)


def _layer() -> BaseChannelLayer:
    """In memory, or CLOSE_APP_LAYER=queue|pubsub on the Redis at CLOSE_APP_REDIS."""
    kind, url = os.environ.get("CLOSE_APP_LAYER", "memory"), os.environ.get("CLOSE_APP_REDIS")
    prefix = f"close-{uuid.uuid4().hex[:8]}"  # tests share one redis-server
    if kind == "queue":
        return RedisChannelLayer(hosts=[url], prefix=prefix)
    if kind == "pubsub":
        return RedisPubSubChannelLayer(hosts=[url], prefix=prefix)
    return InMemoryChannelLayer()


register_channel_layer("default", _layer())
routes = [
    WebSocketRoute("/ws/plain", Plain.as_asgi()),
    WebSocketRoute("/ws/probe", Probe.as_asgi()),
    WebSocketRoute("/ws/closing", Closing.as_asgi()),
    WebSocketRoute("/ws/dropping", Dropping.as_asgi()),
    WebSocketRoute("/ws/wrapped", WrapReceive(Wrapped.as_asgi())),
    Route("/blast", blast, methods=["POST"]),
    Route("/codes", codes),
]
app = Starlette(routes=routes, lifespan=lifespan())
add_observability_endpoints(app)
