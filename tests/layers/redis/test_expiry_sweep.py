"""Messages nobody reads are counted when they expire, by the sweep of any process's receive loop
(issue 16, item 3): before, Redis deleted them by key TTL and no counter moved.

`process_lease=0.6` makes the loops sweep every 0.1 s instead of every 5 s.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fast_channels.layers.redis import RedisChannelLayer
from tests.layers.redis.conftest import metric, raw_client
from tests.support.redis_server import RedisServer

Make = Any
FAST = {"process_lease": 0.6}
EXPIRY = 3


def expired(*layers: RedisChannelLayer) -> float:
    return sum(
        metric("layer_messages_dropped_total", layer=layer.alias, reason="expired")
        for layer in layers
    )


async def sweeping(layer: RedisChannelLayer) -> asyncio.Task[Any]:
    """Start the layer's receive loop (and so its sweep), as any consumer does."""
    task = asyncio.create_task(layer.receive(await layer.new_channel()))
    await asyncio.sleep(0)
    return task


async def until_counted(layers: list[RedisChannelLayer], count: int, timeout: float) -> None:
    for _ in range(int(timeout / 0.05)):
        if expired(*layers) >= count:
            return
        await asyncio.sleep(0.05)


async def test_a_named_channel_nobody_reads_is_counted_when_its_messages_expire(
    make_redis: Make, redis_server: RedisServer
) -> None:
    sender = make_redis(expiry=1, **FAST)
    sweeper = make_redis(prefix=sender.prefix, expiry=1, **FAST)
    for n in range(10):
        await sender.send("jobs", {"type": "job", "n": n})
    task = await sweeping(sweeper)
    await until_counted([sender, sweeper], 10, timeout=10)
    await asyncio.sleep(0.5)  # more sweeps: nothing counted twice
    assert expired(sender, sweeper) == 10
    client = raw_client(redis_server)
    assert not client.exists(sender.list_key("jobs"))
    assert client.zcard(sender.index_key) <= 1  # at most the sweeper's own (empty) queue
    client.close()
    task.cancel()


async def test_frames_pushed_behind_an_older_backlog_are_counted_when_they_expire(
    make_redis: Make,
) -> None:
    # The index notes a key when a push makes it non-empty; a sweep then re-scores it by its
    # new head, so the second batch (pushed onto a non-empty key) is counted at its own expiry.
    sender = make_redis(expiry=EXPIRY, **FAST)
    sweeper = make_redis(prefix=sender.prefix, expiry=EXPIRY, **FAST)
    task = await sweeping(sweeper)
    for n in range(5):
        await sender.send("jobs", {"type": "job", "n": n})
    await asyncio.sleep(1.5)
    second_batch_from = time.time()  # none of it expires before this + EXPIRY
    for n in range(5, 12):
        await sender.send("jobs", {"type": "job", "n": n})
    await until_counted([sender, sweeper], 5, timeout=10)
    counted, read_at = expired(sender, sweeper), time.time()
    # The second batch, not expired yet, is not counted with the first. (On a machine so
    # loaded that the first batch's sweep came after the second batch's expiry, both may be
    # counted at once: that read says nothing, and the total below still must be exact.)
    if read_at < second_batch_from + EXPIRY:
        assert counted == 5
    await until_counted([sender, sweeper], 12, timeout=10)
    await asyncio.sleep(0.3)
    assert expired(sender, sweeper) == 12
    task.cancel()


async def test_concurrent_sweepers_count_each_expired_message_once(make_redis: Make) -> None:
    sender = make_redis(expiry=1, **FAST)
    sweepers = [make_redis(prefix=sender.prefix, expiry=1, **FAST) for _ in range(3)]
    for n in range(600):
        await sender.send(f"jobs{n % 60}", {"type": "job", "n": n})
    tasks = [await sweeping(layer) for layer in sweepers]
    await until_counted([sender, *sweepers], 600, timeout=15)
    await asyncio.sleep(0.5)
    assert expired(sender, *sweepers) == 600
    for task in tasks:
        task.cancel()


async def test_a_sweep_drains_a_long_backlog_in_bounded_steps(make_redis: Make) -> None:
    # 2,500 frames in one key: more than the 1,000 one SWEEP removes from a key.
    sender = make_redis(expiry=1, capacity=3000, **FAST)
    sweeper = make_redis(prefix=sender.prefix, expiry=1, **FAST)
    await asyncio.gather(*(sender.send("backlog", {"type": "m"}) for _ in range(2500)))
    task = await sweeping(sweeper)
    await until_counted([sender, sweeper], 2500, timeout=15)
    await asyncio.sleep(0.3)
    assert expired(sender, sweeper) == 2500
    task.cancel()


async def test_the_queue_of_a_process_that_stopped_reading_is_counted(make_redis: Make) -> None:
    gone = make_redis(expiry=1, **FAST)  # never receives: like a process that died
    sweeper = make_redis(prefix=gone.prefix, expiry=1, **FAST)
    channels = [await gone.new_channel() for _ in range(3)]
    for channel in channels:
        await gone.group_add("g", channel)
    await sweeper.group_send("g", {"type": "m"})  # one frame for three channels
    await sweeper.send(channels[0], {"type": "m"})
    task = await sweeping(sweeper)
    await until_counted([gone, sweeper], 4, timeout=10)
    await asyncio.sleep(0.3)
    assert expired(gone, sweeper) == 4
    task.cancel()


async def test_messages_received_in_time_are_never_counted(make_redis: Make) -> None:
    sender = make_redis(expiry=1, **FAST)
    receiver = make_redis(prefix=sender.prefix, expiry=1, **FAST)
    channel = await receiver.new_channel()
    await receiver.group_add("g", channel)
    for n in range(50):
        await sender.send("jobs", {"type": "job", "n": n})
        await sender.group_send("g", {"type": "m", "n": n})
    for _ in range(50):
        await asyncio.wait_for(receiver.receive("jobs"), 2)
        await asyncio.wait_for(receiver.receive(channel), 2)
    await asyncio.sleep(1.6)  # past expiry, several sweeps
    assert expired(sender, receiver) == 0
