"""A process-local channel buffer: a deque of deliveries plus the receivers waiting on it.

Receivers wait on a future that only *signals* "something arrived"; the message itself stays in
the deque until a receiver takes it synchronously. A receiver cancelled while waiting therefore
never takes a message with it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from fast_channels._loop import running_loop


class Delivery(NamedTuple):
    """A message as a receiver gets it, with the envelope metadata the layer carried."""

    message: dict[str, Any]
    op: str  # "send" or "group_send"
    sent_at: float | None  # wall clock, seconds
    expires_at: float  # wall clock, seconds
    traceparent: str | None = None


_tuple_new = tuple.__new__

# What a receiver waiting on an empty buffer may register (ChannelBuffer.waiter) to take a
# delivery at once, in the putting task (consumer/direct.py: an idle consumer's handler run
# in the fan-out), instead of being woken for it. It returns REFUSED (queue it as usual: the
# receiver is busy), TAKEN, or TAKEN_WAKE (taken, but the receiver must be woken: it finishes
# handling it in its own task). It gets the receiver's copy (receiver_copy) and no expiry
# check: a delivery put is fresh, it expires while it waits in a buffer, and this one does not.
DirectReceiver = Callable[["Delivery"], int]
REFUSED, TAKEN, TAKEN_WAKE = 0, 1, 2


def shared_delivery(
    message: dict[str, Any],
    op: str,
    sent_at: float | None,
    expires_at: float,
    traceparent: str | None,
) -> Delivery:
    """ONE Delivery for every target of a fan-out, queued by reference in each buffer and
    copied as each receiver takes it (receiver_copy): G references, not G objects that would
    sit in the buffers through the burst and be promoted by the garbage collector. Built with
    tuple.__new__, without the NamedTuple's Python-level __new__."""
    return _tuple_new(Delivery, (message, op, sent_at, expires_at, traceparent))


def receiver_copy(delivery: Delivery) -> Delivery:
    """What one receiver gets of a delivery: for a group_send, shared by every member, its
    own top-level dict, so one handler's edits stay its own (a send has one target: as is)."""
    if delivery.op != "group_send":
        return delivery
    message, op, sent_at, expires_at, traceparent = delivery
    return _tuple_new(Delivery, (dict(message), op, sent_at, expires_at, traceparent))


class _DropCounter(Protocol):
    def dropped(self, reason: str, count: int = 1) -> None: ...


def poll_unexpired(
    buffer: ChannelBuffer, metrics: _DropCounter, direct: DirectReceiver | None = None
) -> Delivery | asyncio.Future[None]:
    """The receiver's copy of the next unexpired delivery of `buffer`, or, when there is none,
    a future done once one may have arrived (a receiver that stops awaiting it must give it
    to `buffer.abandon`; `direct`: see ChannelBuffer.waiter). Expired deliveries are dropped
    and counted."""
    while True:
        delivery = buffer.get_nowait()
        if delivery is None:
            return buffer.waiter(direct)
        if delivery.expires_at >= time.time():
            return receiver_copy(delivery)
        metrics.dropped("expired")


async def receive_unexpired(buffer: ChannelBuffer, metrics: _DropCounter) -> Delivery:
    """poll_unexpired() until there is a delivery: a layer's receive on its own channels. It
    awaits the buffer's future itself, a coroutine frame less than ChannelBuffer.get()."""
    while True:
        polled = poll_unexpired(buffer, metrics)
        if isinstance(polled, Delivery):
            return polled
        try:
            await polled
        except asyncio.CancelledError:
            buffer.abandon(polled)
            raise


class ChannelBuffer:
    # No metric is touched per message here (a gauge update takes a lock): the layer sums the
    # buffers' lengths into its queue-depth gauge when /metrics is scraped.
    #
    # Memory and allocation: there is one buffer per connection, most connections are idle
    # most of the time, and a fan-out puts one delivery into each of G buffers at once. An
    # empty deque costs ~760 bytes (a 64-slot block up front), so the oldest delivery sits in a
    # plain slot and a deque exists only while a 2nd one waits behind it; likewise the usual
    # single receiver waits in a slot, a deque holding only further concurrent receivers.
    __slots__ = ("_first", "_more_waiters", "_rest", "_waiter", "direct", "last_active")

    def __init__(self) -> None:
        self._first: Delivery | None = None  # the oldest delivery
        self._rest: deque[Delivery] | None = None  # those behind it, oldest first
        self._waiter: asyncio.Future[None] | None = None  # the receiver woken next
        self._more_waiters: deque[asyncio.Future[None]] | None = None  # then these, in order
        # Set only while the receiver that registered it waits, first, on an empty buffer.
        self.direct: DirectReceiver | None = None
        self.last_active = time.monotonic()

    def __len__(self) -> int:
        if self._first is None:
            return 0
        rest = self._rest
        return 1 if rest is None else 1 + len(rest)

    @property
    def has_receivers(self) -> bool:
        return self._waiter is not None

    def put(self, delivery: Delivery, capacity: int | None = None) -> bool:
        """Queue a delivery and wake a receiver; with `capacity`, only if fewer than that many
        are queued (False: nothing done). A fan-out puts into many mostly empty buffers: an
        empty one is never full, and is checked without __len__. An empty buffer whose
        receiver registered `direct` offers it the delivery first."""
        if self._first is None:
            direct = self.direct
            if direct is not None and self._put_direct(direct, delivery):
                return True
            self._first = delivery
        elif capacity is not None and len(self) >= capacity:
            return False
        elif self._rest is None:
            self._rest = deque((delivery,))
        else:
            self._rest.append(delivery)
        waiter = self._waiter
        if waiter is not None:
            if self._more_waiters is None and not waiter.done():
                self._waiter = self.direct = None  # the usual case, inline: one receiver
                waiter.set_result(None)
            else:
                self._wake_one()
        return True

    def _put_direct(self, direct: DirectReceiver, delivery: Delivery) -> bool:
        taken = direct(receiver_copy(delivery))
        if taken == REFUSED:
            return False
        if taken == TAKEN_WAKE:
            self._wake_one()
        return True

    def drop_expired(self, now: float) -> int:
        """Remove expired deliveries from the head; returns how many went."""
        dropped = 0
        while self._first is not None and self._first.expires_at < now:
            self._take()
            dropped += 1
        return dropped

    def clear(self) -> int:
        count = len(self)
        self._first = self._rest = self.direct = None
        return count

    def get_nowait(self) -> Delivery | None:
        """The oldest delivery, or None when there is none; taking one is receiver activity."""
        if self._first is None:
            return None
        self.last_active = time.monotonic()
        return self._take()

    async def get(self) -> Delivery:
        while True:
            delivery = self.get_nowait()
            if delivery is not None:
                return delivery
            waiter = self.waiter()
            try:
                await waiter
            except asyncio.CancelledError:
                self.abandon(waiter)
                raise

    def waiter(self, direct: DirectReceiver | None = None) -> asyncio.Future[None]:
        """For a receiver that found the buffer empty: a future done once a delivery may be
        there. The hot receive paths await it themselves (a coroutine frame less per message
        than get()); one cancelled while awaiting it must call abandon(). With `direct`, the
        first receiver waiting is offered each delivery before it is queued (DirectReceiver)
        until it is woken."""
        waiter = running_loop().create_future()  # once per message: see fast_channels/_loop.py
        self._add_waiter(waiter)
        if self._waiter is waiter:
            self.direct = direct
        # No `last_active` here: a buffer with a waiting receiver counts as active anyway
        # (has_receivers); abandon() records when it stopped waiting.
        return waiter

    def abandon(self, waiter: asyncio.Future[None]) -> None:
        """A receiver stopped waiting on `waiter` (cancelled): forget it, and if it had been
        woken already, pass the wake-up on to the next receiver."""
        self.last_active = time.monotonic()
        self.direct = None
        if not self._remove_waiter(waiter) and self._first is not None:
            self._wake_one()

    def _take(self) -> Delivery:
        delivery = self._first
        if delivery is None:  # callers check first: only a bug gets here
            raise IndexError("take from an empty ChannelBuffer")
        rest = self._rest
        if rest:
            self._first = rest.popleft()
            if not rest:
                self._rest = None  # an empty deque is ~760 bytes: idle buffers hold none
        else:
            self._first = None
        return delivery

    def _add_waiter(self, waiter: asyncio.Future[None]) -> None:
        if self._waiter is None:
            self._waiter = waiter
            return
        if self._more_waiters is None:
            self._more_waiters = deque()
        self._more_waiters.append(waiter)

    def _next_waiter(self) -> None:
        """The first of the other waiters moves up to the slot."""
        more = self._more_waiters
        if more:
            self._waiter = more.popleft()
            if not more:
                self._more_waiters = None
        else:
            self._waiter = None

    def _remove_waiter(self, waiter: asyncio.Future[None]) -> bool:
        """Forget a waiter that was never woken; False if it was (it is no longer listed)."""
        if self._waiter is waiter:
            self._next_waiter()
            return True
        more = self._more_waiters
        if more is not None and waiter in more:
            more.remove(waiter)
            if not more:
                self._more_waiters = None
            return True
        return False

    def _wake_one(self) -> None:
        self.direct = None  # registered by the first waiter, who is woken now (or gone)
        while self._waiter is not None:
            waiter = self._waiter
            self._next_waiter()
            if not waiter.done():
                waiter.set_result(None)
                return
