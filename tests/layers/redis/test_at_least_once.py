"""delivery="at_least_once": a named channel's message stays in Redis until its receiver is
done with it. The crash case (a worker process SIGKILLed) is tests/faults/test_worker_crash.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from tests.layers.redis.conftest import command_calls, metric, raw_client
from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer


def in_flight(layer: RedisChannelLayer, server: RedisServer) -> int:
    client = raw_client(server)
    try:
        return int(client.zcard(layer.list_key("jobs") + ":inflight"))
    finally:
        client.close()


def redelivered(layer: RedisChannelLayer) -> float:
    return metric("layer_messages_redelivered_total", layer=layer.alias)


async def nothing_within(layer: RedisChannelLayer, seconds: float, channel: str = "jobs") -> bool:
    try:
        await asyncio.wait_for(layer.receive(channel), seconds)
    except TimeoutError:
        return True
    return False


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"delivery": "exactly_once"}, ValueError, "delivery must be one of"),
        ({"delivery": None}, ValueError, "delivery must be one of"),
        ({"visibility_timeout": 5}, ValueError, "only with delivery='at_least_once'"),
        ({"delivery": "at_least_once", "visibility_timeout": 0}, ValueError, "> 0 and < expiry"),
        ({"delivery": "at_least_once", "visibility_timeout": 60}, ValueError, "< expiry (60)"),
        ({"delivery": "at_least_once", "visibility_timeout": "5"}, TypeError, "a number"),
        ({"delivery": "at_least_once", "visibility_timeout": True}, TypeError, "a number"),
        ({"at_least_once": True}, TypeError, "at_least_once"),
    ],
)
def test_options_are_validated(
    redis_server: RedisServer, options: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        RedisChannelLayer(hosts=[redis_server.url], **options)


def test_pub_sub_layer_has_no_delivery_option(redis_server: RedisServer) -> None:
    with pytest.raises(TypeError, match="delivery"):
        RedisPubSubChannelLayer(hosts=[redis_server.url], delivery="at_least_once")  # type: ignore[call-arg]


async def test_default_pops_and_keeps_nothing_in_flight(
    make_redis: Callable[..., Any], redis_server: RedisServer
) -> None:
    """At most once, unchanged: a receive takes the frame out of Redis, and a receiver that
    dies with it loses it."""
    layer = make_redis()
    await layer.send("jobs", {"type": "job", "n": 1})

    async def dies_with_it() -> None:
        await layer.receive("jobs")
        await asyncio.Event().wait()

    task = asyncio.create_task(dies_with_it())
    await asyncio.sleep(0.2)
    task.cancel()
    client = raw_client(redis_server)
    try:
        assert client.llen(layer.list_key("jobs")) == 0
        assert not client.keys(f"{layer.prefix}:*inflight*")
        assert not client.keys(f"{layer.prefix}:*frames*")
    finally:
        client.close()
    assert await nothing_within(layer, 0.3)
    assert redelivered(layer) == 0


async def test_a_message_stays_in_flight_until_the_next_receive(
    make_redis: Callable[..., Any], redis_server: RedisServer
) -> None:
    layer = make_redis(delivery="at_least_once", visibility_timeout=5)
    for n in range(2):
        await layer.send("jobs", {"type": "job", "n": n})
    assert (await layer.receive("jobs"))["n"] == 0
    assert in_flight(layer, redis_server) == 1
    assert (await layer.receive("jobs"))["n"] == 1  # acknowledges 0
    assert in_flight(layer, redis_server) == 1
    with pytest.raises(TimeoutError):  # the same task: acknowledges 1, then waits in vain
        async with asyncio.timeout(0.2):
            await layer.receive("jobs")
    assert in_flight(layer, redis_server) == 0
    assert redelivered(layer) == 0


async def test_each_task_is_a_receiver_of_its_own(
    make_redis: Callable[..., Any], redis_server: RedisServer
) -> None:
    """Another task's receive does not acknowledge what this one holds (asyncio.wait_for runs
    its awaitable in a task of its own on Python < 3.12: use asyncio.timeout)."""
    layer = make_redis(delivery="at_least_once", visibility_timeout=5)
    await layer.send("jobs", {"type": "job"})
    await layer.receive("jobs")
    assert await nothing_within(layer, 0.2)
    assert in_flight(layer, redis_server) == 1


async def test_the_end_of_the_receiving_task_acknowledges(
    make_redis: Callable[..., Any], redis_server: RedisServer
) -> None:
    layer = make_redis(delivery="at_least_once", visibility_timeout=5)
    await layer.send("jobs", {"type": "job"})
    await asyncio.create_task(layer.receive("jobs"))
    await asyncio.sleep(0.1)
    assert in_flight(layer, redis_server) == 0
    assert redelivered(layer) == 0


async def test_close_acknowledges_what_the_closing_task_holds(
    make_redis: Callable[..., Any], redis_server: RedisServer
) -> None:
    layer = make_redis(delivery="at_least_once", visibility_timeout=5)
    await layer.send("jobs", {"type": "job"})
    await layer.receive("jobs")
    await layer.close()
    assert in_flight(layer, redis_server) == 0


async def test_a_cancelled_receiver_gives_its_message_back_at_once(
    make_redis: Callable[..., Any], redis_server: RedisServer
) -> None:
    """A task cancelled while it handles a message (a shutdown mid-job) was not done with it:
    another receiver gets it without waiting for the visibility timeout."""
    layer = make_redis(delivery="at_least_once", visibility_timeout=30)
    other = make_redis(prefix=layer.prefix, delivery="at_least_once", visibility_timeout=30)
    await layer.send("jobs", {"type": "job", "n": 7})
    started = asyncio.Event()

    async def handler() -> None:
        await layer.receive("jobs")
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(handler())
    await started.wait()
    task.cancel()
    assert (await asyncio.wait_for(other.receive("jobs"), 5))["n"] == 7
    assert redelivered(other) == 1


async def test_a_live_receiver_keeps_its_message_past_the_visibility_timeout(
    make_redis: Callable[..., Any], redis_server: RedisServer
) -> None:
    """The deadline is renewed while the receiver's task lives: a slow handler is not
    duplicated; only a dead process lets its messages come due."""
    layer = make_redis(delivery="at_least_once", visibility_timeout=0.3)
    other = make_redis(prefix=layer.prefix, delivery="at_least_once", visibility_timeout=0.3)
    await layer.send("jobs", {"type": "job"})
    await layer.receive("jobs")  # held by this task, which lives on
    assert await nothing_within(other, 1.2)
    assert redelivered(other) == 0
    assert in_flight(layer, redis_server) == 1


async def test_a_message_that_expires_in_flight_is_dropped_and_counted_once(
    make_redis: Callable[..., Any], redis_server: RedisServer
) -> None:
    layer = make_redis(delivery="at_least_once", visibility_timeout=0.5, expiry=1)
    other = make_redis(
        prefix=layer.prefix, delivery="at_least_once", visibility_timeout=0.5, expiry=1
    )
    await layer.send("jobs", {"type": "job"})
    started = asyncio.Event()

    async def handler() -> None:
        await layer.receive("jobs")
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(handler())
    await started.wait()
    await asyncio.sleep(1.2)  # renewed past the expiry, then given back
    task.cancel()
    assert await nothing_within(other, 0.5)
    assert metric("layer_messages_dropped_total", layer=other.alias, reason="expired") == 1
    assert metric("layer_messages_dropped_total", layer=layer.alias, reason="expired") == 0
    assert redelivered(other) == 0
    assert in_flight(layer, redis_server) == 0


async def test_many_waiting_receivers_make_one_claim_per_message(
    make_redis: Callable[..., Any], redis_server: RedisServer
) -> None:
    """Receivers of one channel take turns: a message arriving wakes one claim, not one per
    waiting receiver."""
    layer = make_redis(delivery="at_least_once", visibility_timeout=5)
    sender = make_redis(prefix=layer.prefix)
    received: list[int] = []

    async def worker() -> None:
        while True:
            received.append((await layer.receive("jobs"))["n"])

    workers = [asyncio.create_task(worker()) for _ in range(20)]
    await asyncio.sleep(0.2)
    before = command_calls(redis_server, "evalsha")
    for n in range(10):
        await sender.send("jobs", {"type": "job", "n": n})
        await asyncio.sleep(0.02)
    for _ in range(500):
        if len(received) == 10:
            break
        await asyncio.sleep(0.01)
    calls = command_calls(redis_server, "evalsha") - before
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    # 10 sends, 10 claims that take a frame, at most one empty claim after each, and an
    # empty claim per receiver's turn that the peek's block timeout ended (none in 0.2 s).
    assert sorted(received) == list(range(10))
    assert calls <= 10 + 2 * 10 + 2, calls


def test_the_default_visibility_timeout_fits_inside_a_short_expiry(
    redis_server: RedisServer,
) -> None:
    layer = RedisChannelLayer(hosts=[redis_server.url], delivery="at_least_once", expiry=10)
    assert layer._reliable is not None
    assert layer._reliable.visibility_timeout == 5


async def test_on_a_redis_cluster(redis_cluster: RedisCluster) -> None:
    """The in-flight keys share the channel's hash slot: claim, wait, give back, redeliver."""
    hosts = [{"cluster": True, "address": redis_cluster.url}]
    prefix = f"c-{uuid.uuid4().hex[:8]}"
    layer, other = (
        RedisChannelLayer(hosts=hosts, prefix=prefix, delivery="at_least_once") for _ in "ab"
    )
    layer.bind_alias(f"test-{uuid.uuid4().hex[:8]}")
    other.bind_alias(f"test-{uuid.uuid4().hex[:8]}")
    started = asyncio.Event()

    async def handler() -> None:
        await layer.receive("jobs")  # waits first: the peek, then the claim
        started.set()
        await asyncio.Event().wait()

    try:
        task = asyncio.create_task(handler())
        await asyncio.sleep(0.2)
        await other.send("jobs", {"type": "job", "n": 3})
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        assert (await asyncio.wait_for(other.receive("jobs"), 5))["n"] == 3
        assert redelivered(other) == 1
    finally:
        await layer.flush()
        await layer.close()
        await other.close()


async def test_a_receiver_waiting_across_close_goes_on_receiving(
    make_redis: Callable[..., Any],
) -> None:
    """close() ends the layer's tasks (the shared peek among them), not a receiver waiting on
    it: the receiver claims again, on new connections, and gets the next message."""
    layer = make_redis(delivery="at_least_once", visibility_timeout=5)
    sender = make_redis(prefix=layer.prefix)
    waiting = asyncio.create_task(layer.receive("jobs"))
    await asyncio.sleep(0.2)
    await layer.close()
    await sender.send("jobs", {"type": "job", "n": 9})
    assert (await asyncio.wait_for(waiting, 5))["n"] == 9
