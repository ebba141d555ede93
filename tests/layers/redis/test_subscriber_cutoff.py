"""A pub/sub subscriber that Redis cuts off (client-output-buffer-limit pubsub): counted, logged
with what the client can know, delivering again after; a plain reconnect is told apart."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import structlog
from structlog.testing import capture_logs

from fast_channels.layers.redis import RedisPubSubChannelLayer
from fast_channels.layers.redis.cutoff import ServerFacts
from fast_channels.layers.redis.envelope import make_frame
from tests.layers.redis.conftest import metric
from tests.support.redis_server import RedisServer

BURST = 5000  # x 4 KiB = 20 MiB: more than the loopback socket buffers hold (~6 MiB here)
PAYLOAD = "x" * 4096
EVENT = "fast_channels.layer.subscriber_disconnected"


@pytest.fixture
async def subscriber(own_redis_server: RedisServer) -> AsyncIterator[RedisPubSubChannelLayer]:
    # A capacity above the burst: what does not arrive was lost in Redis, not dropped here.
    layer = RedisPubSubChannelLayer(
        hosts=[own_redis_server.url], prefix=f"cut{time.monotonic_ns()}", capacity=BURST * 2
    )
    layer.bind_alias(f"cutoff-{time.monotonic_ns()}")
    yield layer
    await layer.close()


def disconnects(layer: RedisPubSubChannelLayer, reason: str) -> float:
    return metric("layer_subscriber_disconnects_total", layer=layer.alias, reason=reason)


def publish(url: str, name: str, frames: list[bytes]) -> None:
    client = redis.Redis.from_url(url)
    try:
        pipe = client.pipeline(transaction=False)
        for frame in frames:
            pipe.publish(name, frame)
        pipe.execute()
    finally:
        client.close()


def burst_frames(layer: RedisPubSubChannelLayer, group: str) -> list[bytes]:
    frames = []
    for n in range(BURST):
        payload, sent_at = layer.codec.encode(
            {"type": "b", "n": n, "p": PAYLOAD}, "group_send", group
        )
        frames.append(make_frame(sent_at + layer.expiry, "", payload))
    return frames


async def until(check: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def drain(layer: RedisPubSubChannelLayer, channel: str) -> list[dict[str, Any]]:
    received = []
    while True:
        try:
            received.append(await asyncio.wait_for(layer.receive(channel), 0.5))
        except TimeoutError:
            return received


async def test_a_subscriber_cut_off_by_redis_is_counted_logged_and_delivers_again(
    own_redis_server: RedisServer, subscriber: RedisPubSubChannelLayer
) -> None:
    admin = redis.Redis.from_url(own_redis_server.url)
    admin.config_set("client-output-buffer-limit", "pubsub 64kb 32kb 1")
    channel = await subscriber.new_channel()
    await subscriber.group_add("burst", channel)
    frames = burst_frames(subscriber, "burst")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        # The publisher runs in a thread while this event loop is blocked, as by a handler
        # that never yields: the subscriber reads nothing, Redis's output buffer for it fills.
        publisher = threading.Thread(
            target=publish, args=(own_redis_server.url, f"{subscriber.prefix}:g:burst", frames)
        )
        publisher.start()
        publisher.join()
        await until(lambda: disconnects(subscriber, "closed_by_redis") == 1)
        received = await drain(subscriber, channel)
        await subscriber.group_send("burst", {"type": "after"})
        assert (await asyncio.wait_for(subscriber.receive(channel), 5))["type"] == "after"
    admin.close()
    assert len(received) < BURST  # Redis threw the rest away (~940 of 5,000 arrive here)
    assert disconnects(subscriber, "connection_lost") == 0
    assert metric("layer_reconnects_total", layer=subscriber.alias, op="subscribe") == 1
    [line] = [entry for entry in logs if entry["event"] == EVENT]
    assert line["reason"] == "closed_by_redis"
    assert "client-output-buffer-limit pubsub" in line["cause"]
    assert line["pubsub_output_buffer_limit"] == "hard 65536 B, soft 32768 B for 1 s"
    assert "Redis closed the pub/sub connection" in line["error"]
    assert "mid_reply" in line  # True when the stream stopped inside a message (usual here)
    assert line["layer"] == subscriber.alias


async def test_a_redis_restart_is_a_lost_connection_not_a_cut_off(
    own_redis_server: RedisServer, subscriber: RedisPubSubChannelLayer
) -> None:
    channel = await subscriber.new_channel()
    await subscriber.group_add("room", channel)
    with capture_logs() as logs:
        own_redis_server.restart()  # SIGKILL: the client sees the stream end too
        await until(lambda: disconnects(subscriber, "connection_lost") == 1)
    assert disconnects(subscriber, "closed_by_redis") == 0
    [line] = [entry for entry in logs if entry["event"] == EVENT]
    assert line["reason"] == "connection_lost"
    await subscriber.group_send("room", {"type": "after"})
    assert (await asyncio.wait_for(subscriber.receive(channel), 5))["type"] == "after"


async def test_a_subscriber_that_keeps_up_is_never_counted(
    own_redis_server: RedisServer, subscriber: RedisPubSubChannelLayer
) -> None:
    channel = await subscriber.new_channel()
    await subscriber.group_add("burst", channel)
    name = f"{subscriber.prefix}:g:burst"
    frames = burst_frames(subscriber, "burst")[:500]
    await asyncio.to_thread(publish, own_redis_server.url, name, frames)
    assert len(await drain(subscriber, channel)) == 500
    for reason in ("closed_by_redis", "connection_lost"):
        assert disconnects(subscriber, reason) == 0


async def test_a_user_refused_info_and_config_still_subscribes(
    own_redis_server: RedisServer,
) -> None:
    """The subscriber asks INFO and CONFIG GET before subscribing; an ACL that refuses both
    leaves the facts unknown (a cut-off then counts as connection_lost), never the layer."""
    admin = redis.Redis.from_url(own_redis_server.url)
    admin.acl_setuser(
        "limited", enabled=True, passwords=["+pw"], keys=["*"], channels=["*"],
        commands=["+@all", "-info", "-config"],
    )  # fmt: skip
    admin.close()
    url = f"redis://limited:pw@127.0.0.1:{own_redis_server.port}/0"
    layer = RedisPubSubChannelLayer(hosts=[url], prefix=f"acl{time.monotonic_ns()}")
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        await layer.group_send("room", {"type": "hello"})
        assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "hello"
        assert layer._subscriber(0)._facts == ServerFacts()  # refused: nothing known
    finally:
        await layer.close()
