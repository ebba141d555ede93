"""The per-connection inbound rate limit: a token bucket, closing with 1008 when exceeded."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
import uuid

import pytest
from prometheus_client import REGISTRY

from fast_channels.consumer import AsyncWebsocketConsumer
from fast_channels.consumer.ratelimit import TokenBucket
from fast_channels.testing import WebsocketCommunicator


def closed_total(consumer: str, reason: str) -> float:
    labels = {"consumer": consumer, "reason": reason}
    name = "fast_channels_websocket_connections_closed_total"
    return REGISTRY.get_sample_value(name, labels) or 0.0


def limited_consumer(messages: int | None, period: float = 1.0) -> type[AsyncWebsocketConsumer]:
    """A fresh echo consumer class (its own `consumer` metric label) with the given limit."""

    class Echo(AsyncWebsocketConsumer):
        rate_limit_messages = messages
        rate_limit_period = period

        async def receive(
            self, text_data: str | None = None, bytes_data: bytes | None = None
        ) -> None:
            await self.send(text_data=text_data, bytes_data=bytes_data)

    Echo.__name__ = f"Echo{uuid.uuid4().hex[:8]}"
    return Echo


async def test_a_burst_over_the_limit_closes_with_1008_and_is_counted() -> None:
    consumer = limited_consumer(5, period=60)
    communicator = WebsocketCommunicator(consumer.as_asgi(), "/ws")
    assert (await communicator.connect())[0]
    for index in range(5):
        await communicator.send_to(text_data=str(index))
        assert await communicator.receive_from() == str(index)
    await communicator.send_to(text_data="one too many")
    close = await communicator.receive_output()
    assert close == {"type": "websocket.close", "code": 1008, "reason": "rate limit exceeded"}
    await communicator.disconnect(code=1008)
    assert closed_total(consumer.__name__, "policy_violation") == 1


async def test_frames_under_the_rate_are_never_limited() -> None:
    consumer = limited_consumer(10, period=0.1)  # 100 frames/s
    communicator = WebsocketCommunicator(consumer.as_asgi(), "/ws")
    assert (await communicator.connect())[0]
    started = time.monotonic()
    for index in range(40):  # ~50/s for 0.8 s: half the allowed rate, well past the burst
        await communicator.send_to(text_data=str(index))
        assert await communicator.receive_from() == str(index)
        await asyncio.sleep(0.02)
    assert time.monotonic() - started > 0.8
    await communicator.disconnect()
    assert closed_total(consumer.__name__, "policy_violation") == 0
    assert closed_total(consumer.__name__, "normal") == 1


async def test_the_bucket_refills_after_the_period() -> None:
    consumer = limited_consumer(3, period=0.3)
    communicator = WebsocketCommunicator(consumer.as_asgi(), "/ws")
    assert (await communicator.connect())[0]
    for _ in range(2):
        for index in range(3):
            await communicator.send_to(text_data=str(index))
            assert await communicator.receive_from() == str(index)
        await asyncio.sleep(0.35)  # a full bucket again
    await communicator.disconnect()
    assert closed_total(consumer.__name__, "policy_violation") == 0


async def test_each_connection_has_its_own_bucket() -> None:
    consumer = limited_consumer(2, period=60)
    app = consumer.as_asgi()
    first = WebsocketCommunicator(app, "/ws")
    second = WebsocketCommunicator(app, "/ws")
    assert (await first.connect())[0]
    assert (await second.connect())[0]
    for communicator in (first, second):
        for index in range(2):
            await communicator.send_to(text_data=str(index))
            assert await communicator.receive_from() == str(index)
    await first.send_to(text_data="third")
    assert (await first.receive_output())["code"] == 1008
    assert await second.receive_nothing()  # the other connection was not closed
    await first.disconnect(code=1008)
    await second.disconnect()


async def test_a_mounted_instance_gives_every_connection_a_fresh_bucket() -> None:
    app = limited_consumer(1, period=60)()  # an instance is an ASGI app: copied per connection
    for _ in range(3):
        communicator = WebsocketCommunicator(app, "/ws")
        assert (await communicator.connect())[0]
        await communicator.send_to(text_data="x")
        assert await communicator.receive_from() == "x"
        await communicator.disconnect()


def test_no_limit_by_default() -> None:
    assert AsyncWebsocketConsumer.rate_limit_messages is None
    assert AsyncWebsocketConsumer()._rate_limit is None


@pytest.mark.parametrize(
    ("messages", "period"), [(0, 1.0), (-1, 1.0), (1.5, 1.0), (True, 1.0), (5, 0), (5, -1.0)]
)
def test_bad_options_fail_at_mount_time(messages: object, period: object) -> None:
    with pytest.raises(ValueError, match="rate_limit_"):
        AsyncWebsocketConsumer.as_asgi(rate_limit_messages=messages, rate_limit_period=period)


def test_the_check_allocates_nothing_per_frame() -> None:
    bucket = TokenBucket(1_000_000, 1.0)
    bucket.allow()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(10_000):
            bucket.allow()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 4096  # floats are freed as they go: no growth with the frame count
