"""The demo's server-sent events (GET /api/rooms/{room}/events) under a real uvicorn."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx

from tests.demo.client import TIMEOUT, chat, receive
from tests.demo.conftest import DemoServer


async def events(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, object]]:
    """The JSON of each `data:` line of an event stream."""
    async for line in lines:
        if line.startswith("data: "):
            yield json.loads(line[len("data: ") :])


async def test_a_room_streams_its_chat_as_server_sent_events(demo_server: DemoServer) -> None:
    async with (
        httpx.AsyncClient(base_url=demo_server.http, timeout=TIMEOUT) as client,
        client.stream("GET", "/api/rooms/sse-room/events") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"] == "text/event-stream"
        lines = stream.aiter_lines()
        assert await anext(lines) == ": joined"  # in the group from here on
        posted = await client.post("/api/rooms/sse-room/broadcast", json={"message": "over http"})
        assert posted.status_code == 202
        async with chat(demo_server, "sse-room", "sam") as sam:
            await sam.send(json.dumps({"action": "chat", "message": "from a socket"}))
            await receive(sam)
            received = events(lines)
            async with asyncio.timeout(TIMEOUT):
                first, second = await anext(received), await anext(received)
    assert first == {"type": "chat.message", "room": "sse-room", "sender": "http-api",
                     "message": "over http"}  # fmt: skip
    assert second["sender"] == "sam"
    assert second["message"] == "from a socket"


async def test_a_bad_room_name_is_not_found(demo_server: DemoServer) -> None:
    async with httpx.AsyncClient(base_url=demo_server.http, timeout=TIMEOUT) as client:
        response = await client.get("/api/rooms/bad%20room/events")
    assert response.status_code == 404
    assert response.text == "no such room\n"
