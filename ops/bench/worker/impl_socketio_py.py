"""python-socketio under uvicorn: a Python peer end to end. Kinds: "memory" (its default
client manager) and "redis" (AsyncRedisManager, which delivers every emit through Redis, the
local sockets' included: it publishes, and its listener task writes what comes back)."""

from __future__ import annotations

import importlib.util
from typing import Any

KINDS = ["memory", "redis"]
WS_PATH = "/socket.io/?EIO=4&transport=websocket"
ENGINEIO = True


def available(kind: str) -> str | None:
    if kind not in KINDS:
        return f"unknown python-socketio manager {kind!r}"
    if importlib.util.find_spec("socketio") is None:
        return "python-socketio is not installed in this venv (pip install -e '.[ops]')"
    return None


def consumer_app(kind: str, url: str, group: str) -> Any:
    """Every socket enters one room on connect; a "broadcast" event is emitted to the room,
    the sender included (as server.js does, and as our consumer's group_send)."""
    import socketio

    manager = socketio.AsyncRedisManager(url) if kind == "redis" else None
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, transports=["websocket"])

    @sio.event
    async def connect(sid: str, environ: dict[str, Any]) -> None:
        await sio.enter_room(sid, group)

    @sio.on("broadcast")
    async def broadcast(sid: str, data: Any) -> None:
        await sio.emit("message", data, room=group)

    return socketio.ASGIApp(sio)
