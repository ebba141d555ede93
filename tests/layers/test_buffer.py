"""ChannelBuffer on its own: order, several receivers, cancellation, and what an idle one holds."""

from __future__ import annotations

import asyncio
import time

from fast_channels.layers.buffer import ChannelBuffer, Delivery


def delivery(n: int, expires_at: float | None = None) -> Delivery:
    now = time.time()
    return Delivery({"n": n}, "send", now, now + 60 if expires_at is None else expires_at)


async def test_deliveries_come_out_in_order() -> None:
    buffer = ChannelBuffer()
    for n in range(5):
        buffer.put(delivery(n))
    assert len(buffer) == 5
    assert [(await buffer.get()).message["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
    assert len(buffer) == 0


async def test_waiting_receivers_are_served_first_come_first_served() -> None:
    buffer = ChannelBuffer()
    receivers = [asyncio.create_task(buffer.get()) for _ in range(3)]
    await asyncio.sleep(0)
    assert buffer.has_receivers
    for n in range(3):
        buffer.put(delivery(n))
    got = [(await receiver).message["n"] for receiver in receivers]
    assert got == [0, 1, 2]
    assert not buffer.has_receivers


async def test_a_cancelled_waiter_in_the_middle_is_skipped() -> None:
    buffer = ChannelBuffer()
    first, second, third = (asyncio.create_task(buffer.get()) for _ in range(3))
    await asyncio.sleep(0)
    second.cancel()
    await asyncio.sleep(0)
    buffer.put(delivery(1))
    buffer.put(delivery(2))
    assert (await first).message["n"] == 1
    assert (await third).message["n"] == 2
    assert second.cancelled()


async def test_woken_then_cancelled_passes_the_message_on() -> None:
    buffer = ChannelBuffer()
    first = asyncio.create_task(buffer.get())
    second = asyncio.create_task(buffer.get())
    await asyncio.sleep(0)
    buffer.put(delivery(7))  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    assert (await second).message["n"] == 7
    assert first.cancelled()
    assert len(buffer) == 0


async def test_woken_then_cancelled_alone_leaves_the_message_buffered() -> None:
    buffer = ChannelBuffer()
    receiver = asyncio.create_task(buffer.get())
    await asyncio.sleep(0)
    buffer.put(delivery(3))
    receiver.cancel()
    await asyncio.gather(receiver, return_exceptions=True)
    assert len(buffer) == 1
    taken = buffer.get_nowait()
    assert taken is not None
    assert taken.message["n"] == 3


def test_expired_deliveries_are_dropped_from_the_head_only() -> None:
    buffer = ChannelBuffer()
    buffer.put(delivery(1, expires_at=1.0))
    buffer.put(delivery(2, expires_at=2.0))
    buffer.put(delivery(3))
    assert buffer.drop_expired(now=1.5) == 1
    assert len(buffer) == 2
    assert buffer.clear() == 2
    assert buffer.get_nowait() is None


async def test_an_idle_buffer_holds_no_deque() -> None:
    # One buffer per connection: an empty deque is ~760 bytes, so idle buffers keep none,
    # neither for deliveries nor for their one waiting receiver; nor does a fan-out, which
    # puts one delivery into each member's buffer.
    buffer = ChannelBuffer()
    receiver = asyncio.create_task(buffer.get())
    await asyncio.sleep(0)
    assert buffer._rest is None
    assert buffer._more_waiters is None
    buffer.put(delivery(1))
    assert buffer._rest is None
    await receiver
    buffer.put(delivery(2))
    buffer.put(delivery(3))
    assert len(buffer) == 2
    taken = [buffer.get_nowait(), buffer.get_nowait()]
    assert [d.message["n"] for d in taken if d is not None] == [2, 3]
    assert buffer._rest is None
    assert buffer._first is None


def test_a_buffer_outlives_an_event_loop() -> None:
    # The buffer remembers the loop its receivers wait on; a later loop must still work.
    buffer = ChannelBuffer()

    async def round_trip(n: int) -> int:
        receiver = asyncio.create_task(buffer.get())
        await asyncio.sleep(0)
        buffer.put(delivery(n))
        return int((await receiver).message["n"])

    assert asyncio.run(round_trip(1)) == 1
    assert asyncio.run(round_trip(2)) == 2


async def test_a_receiver_that_stops_waiting_leaves_the_buffer_marked_active() -> None:
    # Group expiry spares channels that were received on lately; a receiver that waited long
    # and was then cancelled was receiving until that moment.
    buffer = ChannelBuffer()
    receiver = asyncio.create_task(buffer.get())
    await asyncio.sleep(0)
    buffer.last_active = time.monotonic() - 3600  # as if it had been waiting for an hour
    receiver.cancel()
    await asyncio.gather(receiver, return_exceptions=True)
    assert time.monotonic() - buffer.last_active < 5


async def test_a_put_within_capacity_refuses_a_full_buffer_and_wakes_nobody() -> None:
    buffer = ChannelBuffer()
    assert buffer.put(delivery(0), capacity=2)
    assert buffer.put(delivery(1), capacity=2)
    assert not buffer.put(delivery(2), capacity=2)  # full: nothing queued
    assert len(buffer) == 2
    assert buffer.put(delivery(2))  # no capacity given: always queued
    assert [(await buffer.get()).message["n"] for _ in range(3)] == [0, 1, 2]
    receiver = asyncio.create_task(buffer.get())
    await asyncio.sleep(0)
    assert buffer.put(delivery(3), capacity=1)  # an empty buffer is never full
    assert (await receiver).message["n"] == 3
