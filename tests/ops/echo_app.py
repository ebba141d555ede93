"""A tiny room broadcast app for the load generator tests: every JSON frame a socket sends goes
to every socket of its room (the sender too) as {"type": "chat.message", **frame}.
/mute/{room} swallows frames, to show losses; /refuse/{room} answers each with an error reply,
as the demo answers a frame with an unknown action."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

rooms: defaultdict[str, set[WebSocket]] = defaultdict(set)


async def chat(websocket: WebSocket) -> None:
    room = websocket.path_params["room"]
    await websocket.accept()
    await websocket.send_json({"type": "welcome", "room": room})
    rooms[room].add(websocket)
    try:
        while True:
            frame = await websocket.receive_json()
            members = list(rooms[room])
            await asyncio.gather(
                *(m.send_json({"type": "chat.message", **frame}) for m in members),
                return_exceptions=True,
            )
    except WebSocketDisconnect:
        pass
    finally:
        rooms[room].discard(websocket)


async def mute(websocket: WebSocket) -> None:
    """Accepts and reads frames but delivers nothing: every message is lost."""
    await websocket.accept()
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass


async def refuse(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            frame = await websocket.receive_json()
            action = frame.get("action")
            await websocket.send_json({"type": "error", "error": f"unknown action {action!r}"})
    except WebSocketDisconnect:
        pass


app = Starlette(
    routes=[
        WebSocketRoute("/ws/chat/{room}", chat),
        WebSocketRoute("/rooms/{room}/socket", chat),
        WebSocketRoute("/mute/{room}", mute),
        WebSocketRoute("/refuse/{room}", refuse),
    ]
)
