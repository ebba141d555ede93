"""WebSocket client helpers for the demo tests; every wait is bounded by TIMEOUT."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.demo.conftest import DemoServer

TIMEOUT = 5.0


@asynccontextmanager
async def chat(server: DemoServer, room: str, name: str) -> AsyncIterator[ClientConnection]:
    async with connect(f"{server.ws}/ws/chat/{room}?name={name}", open_timeout=TIMEOUT) as ws:
        welcome = await receive(ws)
        assert welcome["type"] == "welcome"
        assert (welcome["room"], welcome["name"]) == (room, name)
        # Then the room's join (protocol v1): the answer and the room's recent messages.
        answer = await receive(ws)
        assert answer["type"] == "fc.recovery"
        assert (answer["group"], answer["fresh"]) == (f"chat.{room}", True)
        for _ in range(answer["replayed"]):
            assert "_pos" in await receive(ws)
        yield ws


PRESENCE_TYPES = {"presence", "presence.join", "presence.leave"}


async def receive(ws: ClientConnection, presence: bool = False) -> dict[str, Any]:
    """The next message; the room's presence list and events are skipped unless `presence`
    (tests/demo/test_presence.py reads them)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if presence or message["type"] not in PRESENCE_TYPES:
                return message


async def receive_type(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of a type, skipping others (e.g. job.queued before progress)."""
    async with asyncio.timeout(TIMEOUT):
        while (message := await receive(ws))["type"] != kind:
            pass
    return message


async def assert_nothing(ws: ClientConnection, wait: float = 0.3) -> None:
    try:
        async with asyncio.timeout(wait):
            while json.loads(unexpected := await ws.recv())["type"] in PRESENCE_TYPES:
                pass
    except TimeoutError:
        return
    pytest.fail(f"expected no message, got {unexpected!r}")


async def progress_of(ws: ClientConnection, job: str) -> list[int]:
    percents: list[int] = []
    while not percents or percents[-1] < 100:
        message = await receive_type(ws, "job.progress")
        assert message["job"] == job
        percents.append(message["percent"])
    return percents
