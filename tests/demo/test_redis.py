"""The demo over Redis: servers as replicas, the job worker as a separate process."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.demo.client import TIMEOUT, chat, progress_of, receive, receive_type
from tests.demo.conftest import DemoServer
from tests.support.redis_server import RedisServer


def redis_layer_available() -> bool:
    try:
        from fast_channels.layers.redis import RedisChannelLayer  # noqa: F401
    except ImportError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not redis_layer_available(), reason="fast_channels.layers.redis.RedisChannelLayer not built yet"
)


async def test_replicas_share_rooms_and_a_spawned_worker_process(
    redis_server: RedisServer,
) -> None:
    # `a` spawns its worker process; `b` runs none, so b's jobs prove the worker is a
    # separate process reached through Redis.
    a = DemoServer("--redis-url", redis_server.url, "--step-delay", "0.01")
    try:
        b = DemoServer("--redis-url", redis_server.url, "--no-worker")
        try:
            async with chat(a, "replicas", "amy") as amy, chat(b, "replicas", "bo") as bo:
                await amy.send(json.dumps({"action": "chat", "message": "across servers"}))
                assert (await receive(bo))["message"] == "across servers"

                await bo.send(json.dumps({"action": "job", "steps": 2}))
                queued = await receive_type(bo, "job.queued")
                assert await progress_of(bo, queued["job"]) == [0, 50, 100]
        finally:
            b.stop()
    finally:
        a.stop()


async def test_http_broadcast_on_one_replica_reaches_another(redis_server: RedisServer) -> None:
    a = DemoServer("--redis-url", redis_server.url, "--no-worker")
    try:
        b = DemoServer("--redis-url", redis_server.url, "--no-worker")
        try:
            async with connect(f"{b.ws}/ws/chat/wire", open_timeout=TIMEOUT) as ws:
                await receive(ws)  # welcome
                async with httpx.AsyncClient(base_url=a.http, timeout=TIMEOUT) as client:
                    response = await client.post("/api/rooms/wire/broadcast", json={"message": "x"})
                assert response.status_code == 202
                assert (await receive(ws))["sender"] == "http-api"
        finally:
            b.stop()
    finally:
        a.stop()
