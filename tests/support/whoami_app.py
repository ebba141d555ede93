"""A bare ASGI app that says which server it is (SERVER_ID): over HTTP, and as the first frame
of a WebSocket that then echoes. For checking what a proxy in front of servers does."""

from __future__ import annotations

import os
from typing import Any

from starlette.types import Receive, Scope, Send

SERVER_ID = os.environ.get("SERVER_ID", "unnamed")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": SERVER_ID.encode()})
    elif scope["type"] == "websocket":
        await _websocket(receive, send)
    elif scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})


async def _websocket(receive: Receive, send: Send) -> None:
    message: dict[str, Any] = dict(await receive())
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": SERVER_ID})
    while (message := dict(await receive()))["type"] == "websocket.receive":
        await send({"type": "websocket.send", "text": message.get("text") or ""})
