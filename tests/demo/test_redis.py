"""The demo over Redis: servers as replicas, the job worker as a separate process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

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
                assert (await receive_type(ws, "chat.message"))["sender"] == "http-api"
        finally:
            b.stop()
    finally:
        a.stop()


def worker_children(parent: int) -> list[int]:
    """Pids of `fast_channels worker` processes whose parent is `parent` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == parent and b"fast_channels" in cmdline and b"worker" in cmdline:
            found.append(int(stat.parent.name))
    return found


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and _state(pid) != "Z":
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.parametrize("how", ["terminate", "kill"])
def test_spawned_worker_does_not_outlive_the_demo(redis_server: RedisServer, how: str) -> None:
    server = DemoServer("--redis-url", redis_server.url)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 10
        while not (workers := worker_children(server.process.pid)):
            assert time.monotonic() < deadline, "the demo did not spawn a worker process"
            time.sleep(0.05)
        getattr(server.process, how)()  # SIGTERM: graceful stop; SIGKILL: the worker notices
        server.process.wait(timeout=15)
        assert wait_gone(workers[0]), f"worker {workers[0]} outlived the demo ({how})"
        # Who stopped it: the demo on its way out, or the worker noticing its parent died.
        noticed = "parent process gone" in server.output()
        assert noticed == (how == "kill"), server.output()
    finally:
        server.stop()
        for pid in workers:  # only the worker this test's demo spawned
            if not wait_gone(pid, timeout=0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


async def test_the_worker_holds_a_job_in_redis_until_it_is_done(redis_server: RedisServer) -> None:
    """The demo's layer takes jobs at least once, and a job is acknowledged when it ends (not
    when the worker receives the next request): a worker killed mid-job leaves it in Redis."""
    import asyncio

    import redis as redis_sync

    from fast_channels.demo.layer import make_layer
    from fast_channels.demo.worker import JOBS_CHANNEL, job_request, run_worker

    layer = make_layer(redis_server.url)
    client = redis_sync.Redis.from_url(redis_server.url)
    inflight = layer.list_key(JOBS_CHANNEL) + ":inflight"  # type: ignore[attr-defined]
    worker = asyncio.create_task(run_worker(layer, step_delay=0.1))
    try:
        reply = await layer.new_channel()
        await layer.send(JOBS_CHANNEL, job_request(reply, 5))
        async with asyncio.timeout(TIMEOUT):
            assert (await layer.receive(reply))["percent"] == 0
            assert client.zcard(inflight) == 1  # running: still held in Redis
            while (await layer.receive(reply))["percent"] < 100:
                pass
            await asyncio.sleep(0.2)  # the job's task asks for the next request
        assert client.zcard(inflight) == 0
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await layer.flush()
        await layer.close()
        client.close()
