"""Soak: connect/disconnect churn with group joins through a real uvicorn and real websockets
clients, against each Redis layer.

CYCLES cycles per layer (connect to /ws/<room>, join "lobby" and the room, send a frame that
comes back through a group_send to the room, close), CONCURRENCY at a time. Afterwards: the
server's RSS grew less than RSS_GROWTH_BOUND since the warm-up, nothing of the connections is
left in the layer (debug endpoint, /metrics gauges) or in Redis (SCAN of the prefix: only the
server process's own queue keys may remain; pub/sub: only its process channel subscribed).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from tests.support.redis_server import RedisServer
from tests.support.uvicorn_server import spawn_uvicorn, stop

pytestmark = pytest.mark.soak

CYCLES = int(os.environ.get("FC_SOAK_CYCLES", "10000"))
WARMUP = min(1000, CYCLES // 10)
CONCURRENCY = 50
# Allocator slack, caches warming up (metric children, interned names, redis-py pools):
# measured +3.4 to +4.9 MiB over the 9,000 cycles after warm-up; a leak of 1.2 KiB per
# cycle would pass the bound.
RSS_GROWTH_BOUND = 10 * 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def churn(base: str, start: int, count: int) -> list[str]:
    """`count` cycles, CONCURRENCY at a time; returns what went wrong (empty when all passed)."""
    failures: list[str] = []
    counter = iter(range(start, start + count))

    async def worker(room: int) -> None:
        for n in counter:
            try:
                async with connect(f"{base}/ws/{room}", open_timeout=10) as ws:
                    await ws.send(json.dumps({"n": n}))
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if reply != {"n": n}:
                        failures.append(f"cycle {n}: got {reply!r}")
            except Exception as exc:  # counted, and the test fails on any
                failures.append(f"cycle {n}: {exc!r}")

    await asyncio.gather(*(worker(room) for room in range(CONCURRENCY)))
    return failures


def gauges(text: str) -> dict[str, float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("layer") == "soak" or labels.get("consumer") == "RoomConsumer":
                key = sample.name + json.dumps(labels, sort_keys=True)
                values[key] = sample.value
    return values


@pytest.fixture(params=["queue", "pubsub"])
def server(request: pytest.FixtureRequest, redis_server: RedisServer) -> Iterator[dict[str, str]]:
    prefix = f"soak-{uuid.uuid4().hex[:8]}"
    env = {"SOAK_LAYER": request.param, "SOAK_REDIS_URL": redis_server.url, "SOAK_PREFIX": prefix}
    # permessage-deflate off: with it, the RSS of uvicorn+websockets itself climbs by ~100 MiB
    # over the first 5,000 connections (zlib contexts, malloc fragmentation; measured with
    # this app, flat without it), which would hide whatever the library does.
    args = ("--ws", "websockets", "--ws-per-message-deflate", "false")
    process, port = spawn_uvicorn("tests.soak.app:app", *args, env=env)
    try:
        yield {
            "http": f"http://127.0.0.1:{port}",
            "ws": f"ws://127.0.0.1:{port}",
            "pid": str(process.pid),
            "prefix": prefix,
            "layer": request.param,
            "redis": redis_server.url,
        }
    finally:
        stop(process)


async def settled(http: httpx.AsyncClient) -> dict[str, object]:
    """The layer state once every consumer has finished its cleanup (bounded wait)."""
    deadline = time.monotonic() + 15
    while True:
        state: dict[str, object] = (await http.get("/debug/layer")).json()
        done = state["connections"] == 0 and state["memberships"] == 0
        if done or time.monotonic() > deadline:
            return state
        await asyncio.sleep(0.1)


@pytest.mark.timeout(300)
async def test_churn_leaves_nothing_behind(server: dict[str, str]) -> None:
    pid = int(server["pid"])
    async with httpx.AsyncClient(base_url=server["http"], timeout=10) as http:
        assert await churn(server["ws"], 0, WARMUP) == []
        await settled(http)
        rss_warm = rss_bytes(pid)
        started = time.monotonic()
        failures = await churn(server["ws"], WARMUP, CYCLES - WARMUP)
        elapsed = time.monotonic() - started
        assert failures == [], f"{len(failures)} failed cycles, e.g. {failures[:5]}"
        state = await settled(http)
        rss_end = rss_bytes(pid)
        metrics = gauges((await http.get("/metrics")).text)

    process_id = state["process_id"]
    assert state["connections"] == 0
    assert state["local_channels"] == 0
    assert state["groups"] == 0
    assert state["memberships"] == 0
    assert state["buffered"] == 0
    assert state["tasks"] <= 3, state  # receive loop, membership refresher, one subscriber
    if server["layer"] == "pubsub":
        own = f"{server['prefix']}:p:{process_id}"
        assert state["subscriptions"] == [own], state
        assert state["routes"] == [own], state
    else:
        assert state["pullers"] == 0

    assert metrics['fast_channels_layer_group_members{"layer": "soak"}'] == 0
    assert metrics['fast_channels_layer_groups{"layer": "soak"}'] == 0
    assert metrics['fast_channels_layer_queue_depth{"layer": "soak", "where": "local"}'] == 0
    assert metrics['fast_channels_websocket_connections{"consumer": "RoomConsumer"}'] == 0
    opened = metrics['fast_channels_websocket_connections_opened_total{"consumer": "RoomConsumer"}']
    assert opened == CYCLES

    client = redis.Redis.from_url(server["redis"])
    try:
        keys = {key.decode() for key in client.scan_iter(match=f"{server['prefix']}:*")}
        channels = {c.decode() for c in client.pubsub_channels(f"{server['prefix']}:*")}
    finally:
        client.close()
    allowed = {f"{server['prefix']}:q:{process_id}", f"{server['prefix']}:n:{process_id}"}
    # The queue layer's bookkeeping: the live process's lease and the expiry index (whose
    # entries sweeps remove once their keys are empty and due).
    allowed |= {f"{server['prefix']}:leases", f"{server['prefix']}:exp"}
    allowed.add(f"{server['prefix']}:memberships")  # the memberships marker
    assert keys <= allowed, f"keys left in Redis: {sorted(keys - allowed)[:10]}"
    if server["layer"] == "pubsub":
        assert channels == {f"{server['prefix']}:p:{process_id}"}

    growth = rss_end - rss_warm
    print(
        f"\nsoak {server['layer']}: {CYCLES} cycles, {(CYCLES - WARMUP) / elapsed:.0f} cycles/s,"
        f" RSS after warm-up {rss_warm / 2**20:.1f} MiB, at the end {rss_end / 2**20:.1f} MiB"
        f" (growth {growth / 2**20:+.2f} MiB)"
    )
    assert growth < RSS_GROWTH_BOUND, f"RSS grew {growth / 2**20:.1f} MiB"
