"""A process-local channel buffer: a deque of deliveries plus the receivers waiting on it.

Receivers wait on a future that only *signals* "something arrived"; the message itself stays in
the deque until a receiver takes it synchronously. A receiver cancelled while waiting therefore
never takes a message with it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, NamedTuple


class Delivery(NamedTuple):
    """A message as a receiver gets it, with the envelope metadata the layer carried."""

    message: dict[str, Any]
    op: str  # "send" or "group_send"
    sent_at: float | None  # wall clock, seconds
    expires_at: float  # wall clock, seconds
    traceparent: str | None = None


class ChannelBuffer:
    # No metric is touched per message here (a gauge update takes a lock): the layer sums the
    # buffers' lengths into its queue-depth gauge when /metrics is scraped.
    __slots__ = ("_items", "_waiters", "last_active")

    def __init__(self) -> None:
        self._items: deque[Delivery] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.last_active = time.monotonic()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def has_receivers(self) -> bool:
        return bool(self._waiters)

    def put(self, delivery: Delivery) -> None:
        self._items.append(delivery)
        self._wake_one()

    def drop_expired(self, now: float) -> int:
        """Remove expired deliveries from the head; returns how many went."""
        dropped = 0
        while self._items and self._items[0].expires_at < now:
            self._items.popleft()
            dropped += 1
        return dropped

    def clear(self) -> int:
        count = len(self._items)
        self._items.clear()
        return count

    def get_nowait(self) -> Delivery | None:
        if not self._items:
            return None
        return self._items.popleft()

    async def get(self) -> Delivery:
        self.last_active = time.monotonic()
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif self._items:
                    # We were woken and cancelled in the same turn: pass the wake-up on.
                    self._wake_one()
                raise
        self.last_active = time.monotonic()
        return self._items.popleft()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
