"""A 2 s Redis outage under a steady POST load: 503 JSON answers, a bounded number of log lines
(the demo wrote ~6,100 lines for one before: a traceback per failed POST, a warning per call)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.demo.client import chat
from tests.demo.conftest import DemoServer
from tests.demo.test_redis import redis_layer_available
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.skipif(
    not redis_layer_available(), reason="fast_channels.layers.redis.RedisChannelLayer not built yet"
)

OUTAGE = 2.0
PACE = 0.01  # seconds between POSTs
MAX_LINES = 30  # measured: 3 (a redis_error line per op, one reconnect); 134 per failed POST before


async def post_until(client: httpx.AsyncClient, stop: asyncio.Event) -> list[httpx.Response]:
    answers = []
    while not stop.is_set():
        answers.append(await client.post("/api/rooms/outage/broadcast", json={"message": "m"}))
        await asyncio.sleep(PACE)
    return answers


async def test_a_redis_outage_answers_503_json_with_bounded_logs(
    own_redis_server: RedisServer,
) -> None:
    server = DemoServer("--redis-url", own_redis_server.url, "--no-worker")
    try:
        # A socket (in another room: it reads nothing) keeps the layer's receive loop
        # running, which meets the outage too.
        async with (
            chat(server, "bystanders", "amy"),
            httpx.AsyncClient(base_url=server.http, timeout=10) as client,
        ):
            stop = asyncio.Event()
            load = asyncio.create_task(post_until(client, stop))
            await asyncio.sleep(0.3)
            lines_before = len(server.output().splitlines())
            own_redis_server.stop()
            await asyncio.sleep(OUTAGE)
            own_redis_server.start()
            deadline = time.monotonic() + 10
            while (
                await client.post("/api/rooms/outage/broadcast", json={"message": "m"})
            ).status_code != 202:
                assert time.monotonic() < deadline, "the demo did not recover"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            stop.set()
            answers = await load
        output = server.output()
    finally:
        server.stop()
    failed = [answer for answer in answers if answer.status_code != 202]
    assert len(failed) >= 20, f"only {len(failed)} POSTs met the outage"
    assert {answer.status_code for answer in failed} == {503}
    for answer in failed:
        assert "unavailable" in answer.json()["detail"]
        assert answer.headers["retry-after"] == "1"
    assert "Traceback" not in output
    lines = output.splitlines()[lines_before:]
    assert len(lines) <= MAX_LINES, "\n".join(lines[:80])
