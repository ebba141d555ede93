from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from starlette.applications import Starlette

from fast_channels.layers import (
    InMemoryChannelLayer,
    register_channel_layer,
    unregister_channel_layer,
)
from fast_channels.layers.lifespan import layers_lifespan, with_layers


class RecordingLayer(InMemoryChannelLayer):
    def __init__(self, events: list[str], fail: bool = False) -> None:
        super().__init__()
        self.events = events
        self.fail = fail

    async def close(self) -> None:
        self.events.append(f"close:{self.alias}")
        if self.fail:
            raise RuntimeError("close failed")


async def run_lifespan(app: Starlette, state: dict[str, Any]) -> list[str]:
    """Drive the ASGI lifespan protocol: startup, then shutdown; returns what the app sent."""
    incoming: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    sent: list[str] = []
    await incoming.put({"type": "lifespan.startup"})

    async def receive() -> dict[str, str]:
        return await incoming.get()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            await incoming.put({"type": "lifespan.shutdown"})

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}
    await asyncio.wait_for(app(scope, receive, send), 5)
    return sent


@pytest.fixture
def events() -> Iterator[list[str]]:
    recorded: list[str] = []
    aliases = [f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"]
    register_channel_layer(aliases[0], RecordingLayer(recorded, fail=True))
    register_channel_layer(aliases[1], RecordingLayer(recorded))
    yield recorded
    for alias in aliases:
        unregister_channel_layer(alias)


async def test_layers_lifespan_closes_every_registered_layer(events: list[str]) -> None:
    sent = await run_lifespan(Starlette(lifespan=layers_lifespan), {})
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    closed = [event for event in events if event.startswith("close:")]
    assert len(closed) >= 2  # the first one failing did not stop the second


async def test_with_layers_runs_the_app_lifespan_then_closes_layers(events: list[str]) -> None:
    @asynccontextmanager
    async def app_lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"greeting": "hi"}
        events.append("shutdown")

    state: dict[str, Any] = {}
    await run_lifespan(Starlette(lifespan=with_layers(app_lifespan)), state)
    assert state == {"greeting": "hi"}  # the app's state passed through
    assert events[:2] == ["startup", "shutdown"]
    assert all(event.startswith("close:") for event in events[2:])
    assert len(events) >= 4
