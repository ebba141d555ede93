"""AsyncHttpConsumer behind a real uvicorn: long-poll and server-sent events over a layer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.support.uvicorn_server import uvicorn_server


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with uvicorn_server("tests.compat.http_app:app") as url:
        yield url


async def publish_until(
    client: httpx.AsyncClient, text: str, answered: asyncio.Future[object]
) -> None:
    # The poller joins the group as its request is handled: publish until it has answered.
    while not answered.done():
        assert (await client.post("/publish", content=text)).status_code == 202
        await asyncio.sleep(0.05)


async def test_a_plain_post(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        response = await client.post("/hello", content=b"uvicorn")
    assert response.status_code == 200
    assert response.text == "hello uvicorn"


async def test_long_poll_is_answered_by_a_layer_message(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        poll = asyncio.ensure_future(client.get("/poll"))
        await publish_until(client, "breaking", poll)
        response = await poll
    assert response.status_code == 200
    assert response.json() == {"text": "breaking"}


async def test_server_sent_events_stream_over_the_layer(server: str) -> None:
    async with (
        httpx.AsyncClient(base_url=server, timeout=10) as client,
        client.stream("GET", "/events") as stream,
    ):
        assert stream.headers["content-type"] == "text/event-stream"
        lines = stream.aiter_lines()
        assert await anext(lines) == ": ready"
        assert await anext(lines) == ""
        await client.post("/publish", content="one")
        assert await asyncio.wait_for(anext(lines), 5) == "data: one"
        await client.post("/publish", content="end")
        rest = [line async for line in lines]
    assert "data: end" not in rest  # "end" closed the stream instead of being an event
