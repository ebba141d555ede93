"""Cancellation, Redis restarts and stalls: consumers survive and nothing promised is lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from redis.exceptions import RedisError

from fast_channels.layers.redis import RedisChannelLayer
from tests.layers.redis.conftest import metric
from tests.support.redis_server import RedisServer

Make = Callable[..., Any]


async def test_cancelling_receivers_while_messages_flow_loses_nothing(make_redis: Make) -> None:
    layer = make_redis(capacity=1000)
    channel = await layer.new_channel()
    got: list[int] = []

    async def receive_with_cancels() -> None:
        while len(got) < 300:
            task = asyncio.create_task(layer.receive(channel))
            await asyncio.sleep(random.choice([0, 0, 0.001]))
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                got.append((await task)["n"])

    receiving = asyncio.create_task(receive_with_cancels())
    for index in range(300):
        await layer.send(channel, {"type": "m", "n": index})
    await asyncio.wait_for(receiving, 10)
    assert got == list(range(300))


async def _send_until_accepted(
    layer: RedisChannelLayer, channel: str, n: int, group: bool = False
) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            if group:  # refused (GroupsRestoring) until the memberships are back
                await layer.group_send(channel, {"type": "m", "n": n})
            else:
                await layer.send(channel, {"type": "m", "n": n})
            return
        except RedisError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_the_receive_loop_survives_a_redis_restart(own_redis_server: RedisServer) -> None:
    layer = RedisChannelLayer(hosts=[own_redis_server.url], prefix="restart", socket_timeout=1)
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        got: list[int] = []

        async def consume() -> None:
            while True:
                got.append((await layer.receive(channel))["n"])

        consumer = asyncio.create_task(consume())
        for index in range(5):
            await layer.send(channel, {"type": "m", "n": index})
        await asyncio.sleep(0.2)
        own_redis_server.stop()
        await asyncio.sleep(0.5)
        own_redis_server.start()  # empty: no persistence, memberships are gone too
        for index in range(100, 120):
            await _send_until_accepted(layer, channel, index)
        for _ in range(100):
            if len(got) >= 25:
                break
            await asyncio.sleep(0.05)
        assert got[:5] == [0, 1, 2, 3, 4]
        assert got[5:] == list(range(100, 120))
        assert not consumer.done()
        assert metric("layer_reconnects_total", layer=layer.alias, op="receive") >= 1
        assert metric("layer_redis_errors_total", layer=layer.alias, op="receive") >= 1
        # The loop put the live membership back after reconnecting.
        await _send_until_accepted(layer, "room", 999, group=True)
        for _ in range(60):
            if got[-1] == 999:
                break
            await asyncio.sleep(0.05)
        assert got[-1] == 999
        consumer.cancel()
    finally:
        await layer.close()


async def test_a_stalled_redis_makes_calls_time_out_not_hang(
    own_redis_server: RedisServer,
) -> None:
    layer = RedisChannelLayer(hosts=[own_redis_server.url], prefix="stall", socket_timeout=0.5)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "warm"})
    assert own_redis_server.process is not None
    pid = own_redis_server.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(RedisError):
            await layer.send(channel, {"type": "stuck"})
        assert time.monotonic() - started < 3
        assert metric("layer_redis_errors_total", layer=layer.alias, op="send") == 1
    finally:
        os.kill(pid, signal.SIGCONT)
        await layer.close()
