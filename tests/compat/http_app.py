"""1.1.0-style HTTP consumers over a layer (long-poll, server-sent events), for the tests here
and, as an app, behind a real uvicorn (tests/compat/test_http_uvicorn.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from fast_channels.consumer import AsyncHttpConsumer
from fast_channels.layers import InMemoryChannelLayer, register_channel_layer


class Hello(AsyncHttpConsumer):
    async def handle(self, body: bytes) -> None:
        await self.send_response(200, b"hello " + body, headers=[(b"content-type", b"text/plain")])


class LongPoll(AsyncHttpConsumer):
    """Waits for the next "news" message, answers with it and ends."""

    channel_layer_alias = "http-compat"

    async def handle(self, body: bytes) -> None:
        await self.channel_layer.group_add("news", self.channel_name)  # type: ignore[union-attr]
        await self.send_headers(headers=[(b"content-type", b"application/json")])
        await self.send_body(b"", more_body=True)

    async def news_item(self, event: dict[str, Any]) -> None:
        await self.send_body(json.dumps({"text": event["text"]}).encode())


class Events(AsyncHttpConsumer):
    """Server-sent events: every "news" message is one event; "news.end" ends the stream."""

    channel_layer_alias = "http-compat"

    async def handle(self, body: bytes) -> None:
        await self.channel_layer.group_add("news", self.channel_name)  # type: ignore[union-attr]
        await self.send_headers(headers=[(b"content-type", b"text/event-stream")])
        await self.send_body(b": ready\n\n", more_body=True)

    async def news_item(self, event: dict[str, Any]) -> None:
        await self.send_body(f"data: {event['text']}\n\n".encode(), more_body=True)

    async def news_end(self, event: dict[str, Any]) -> None:
        await self.send_body(b"")


class Publish(AsyncHttpConsumer):
    """POST a text: it goes to the "news" group."""

    channel_layer_alias = "http-compat"

    async def handle(self, body: bytes) -> None:
        kind = "news.end" if body == b"end" else "news.item"
        await self.channel_layer.group_send("news", {"type": kind, "text": body.decode()})  # type: ignore[union-attr]
        await self.send_response(202, b"")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # Registered by the server process only: importing this module registers nothing.
    register_channel_layer("http-compat", InMemoryChannelLayer())
    yield


app = Starlette(
    routes=[
        Route("/hello", Hello.as_asgi(), methods=["POST"]),
        Route("/poll", LongPoll.as_asgi()),
        Route("/events", Events.as_asgi()),
        Route("/publish", Publish.as_asgi(), methods=["POST"]),
    ],
    lifespan=lifespan,
)
