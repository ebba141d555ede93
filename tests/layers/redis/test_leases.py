"""Process leases (issue 16, item 6): only a lease that exists and ended means a dead process.

The SIGKILL case with real processes is tests/faults/test_process_death.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fast_channels.layers.redis import RedisChannelLayer
from tests.layers.redis.conftest import metric, raw_client
from tests.support.redis_server import RedisServer

Make = Any


def reaped(layer: RedisChannelLayer) -> float:
    return metric("layer_group_members_reaped_total", layer=layer.alias, reason="process_dead")


async def test_a_live_process_keeps_its_members_past_many_leases(make_redis: Make) -> None:
    layer = make_redis(process_lease=0.3)
    sender = make_redis(prefix=layer.prefix, process_lease=0.3)
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    for n in range(10):
        receiving = asyncio.create_task(layer.receive(channel))
        await asyncio.sleep(0.15)
        await sender.group_send("g", {"type": "m", "n": n})
        assert (await asyncio.wait_for(receiving, 2))["n"] == n
    assert reaped(sender) == 0


async def test_no_lease_record_is_not_a_death(make_redis: Make, redis_server: RedisServer) -> None:
    # As after Redis restarted empty: whatever has no lease yet is delivered to, never reaped.
    layer = make_redis(process_lease=0.3)
    channel = await layer.new_channel()
    await layer.group_add("g", channel)  # no receive yet: no heartbeat, no lease
    client = raw_client(redis_server)
    assert not client.exists(layer.leases_key)
    await asyncio.sleep(0.5)
    await layer.group_send("g", {"type": "m"})
    assert (await asyncio.wait_for(layer.receive(channel), 2))["type"] == "m"
    client.delete(layer.leases_key)
    await layer.group_send("g", {"type": "m"})
    assert (await asyncio.wait_for(layer.receive(channel), 2))["type"] == "m"
    assert reaped(layer) == 0
    client.close()


async def test_a_closed_process_with_leaked_members_is_reaped(make_redis: Make) -> None:
    gone = make_redis(process_lease=0.3)
    sender = make_redis(prefix=gone.prefix, process_lease=0.3)
    channels = [await gone.new_channel() for _ in range(3)]
    for channel in channels:
        await gone.group_add("g", channel)
    receiving = asyncio.create_task(gone.receive(channels[0]))
    await asyncio.sleep(0.1)  # its loop ran: it holds a lease
    receiving.cancel()
    await gone.close()  # without discarding: the members leak
    await asyncio.sleep(0.5)
    await sender.group_send("g", {"type": "m"})
    assert reaped(sender) == 3
    await sender.group_send("g", {"type": "m"})
    assert reaped(sender) == 3
    assert metric("layer_channel_full_total", layer=sender.alias, op="group_send") == 0


@pytest.mark.parametrize("lease", [0, -1.0, float("nan"), float("inf")])
def test_process_lease_must_be_positive(lease: float) -> None:
    with pytest.raises(ValueError, match="process_lease must be above 0 seconds"):
        RedisChannelLayer(process_lease=lease)


@pytest.mark.parametrize("lease", ["30", None, True])
def test_process_lease_must_be_a_number(lease: Any) -> None:
    with pytest.raises(TypeError, match="process_lease must be a number of seconds"):
        RedisChannelLayer(process_lease=lease)
