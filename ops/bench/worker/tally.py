"""Delivery accounting shared by every scenario: counts, latencies, and a send window."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from typing import Any

PAD = "x" * 56  # a message serializes to ~100 bytes with msgpack


def message(seq: int) -> dict[str, Any]:
    return {"type": "chat.message", "seq": seq, "t": time.time(), "pad": PAD}


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class Tally:
    """Counts deliveries and their latency (receive time minus the sent-at inside the message).

    `window()` holds a sender back while more than `limit` deliveries are in flight, so that
    latency measures the layer and not an ever-growing backlog. A window that does not drain
    within `stall` seconds lets the sender go on: a lost message costs time, never a hang.
    """

    def __init__(self, expected: int, stall: float = 2.0) -> None:
        self.expected = expected  # deliveries planned
        self.sent = 0  # deliveries owed by the sends that succeeded (a group_send owes G)
        self.sending = True
        self.delivered = 0
        self.duplicates = 0
        self._seen: set[int] = set()
        self.send_errors = 0
        self.receive_errors = 0
        self.errors: dict[str, int] = {}  # "op: ExceptionType" -> count
        self.latencies: list[float] = []
        self.first_sent = 0.0
        self.last_received = 0.0
        self.done = asyncio.Event()
        self.stall = stall
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()

    def error(self, op: str, exc: BaseException) -> None:
        if op == "send":
            self.send_errors += 1
        else:
            self.receive_errors += 1
        key = f"{op}: {type(exc).__name__}"
        self.errors[key] = self.errors.get(key, 0) + 1

    def start(self) -> None:
        self.first_sent = time.time()

    def hit(self, sent_at: float, receiver: int, seq: int) -> bool:
        """Count one delivery of message `seq` to `receiver`; False for a duplicate."""
        now = time.time()
        # An int, not a (receiver, seq) tuple: tuples are tracked by the garbage collector, and
        # 20,000 of them kept here made the measuring process run full collections (~16 ms
        # pauses with thousands of receivers) that ended up in every implementation's p99.
        key = receiver << 32 | seq
        if key in self._seen:
            self.duplicates += 1
            return False
        self._seen.add(key)
        self.latencies.append(now - sent_at)
        self.delivered += 1
        self.last_received = now
        waiters = self._waiters
        while waiters and waiters[0][0] <= self.delivered:
            future = heapq.heappop(waiters)[2]
            if not future.done():
                future.set_result(None)
        if self.delivered >= self.expected or (not self.sending and self.delivered >= self.sent):
            self.done.set()
        return True

    async def window(self, sent: int, limit: int) -> None:
        """Wait until at most `limit` of the `sent` deliveries are still in flight."""
        need = sent - limit
        if self.delivered >= need:
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (need, next(self._ids), future))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(future, self.stall)

    async def drain(self, timeout: float) -> None:
        """Sending is over: wait up to `timeout` for every delivery owed by a successful send."""
        self.sending = False
        if self.delivered >= self.sent:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), timeout)

    def result(self, **extra: Any) -> dict[str, Any]:
        elapsed = max(self.last_received - self.first_sent, 1e-9)
        lat = sorted(self.latencies)
        return {
            "expected": self.expected,
            "sent": self.sent,
            "unsent": self.expected - self.sent,  # the time bound ended sending: not a loss
            "delivered": self.delivered,
            "lost": max(0, self.sent - self.delivered),
            "duplicates": self.duplicates,
            "send_errors": self.send_errors,
            "receive_errors": self.receive_errors,
            "errors": self.errors,
            "seconds": round(elapsed, 4),
            "rate": self.delivered / elapsed if self.delivered else 0.0,
            "p50_ms": percentile(lat, 0.50) * 1000,
            "p99_ms": percentile(lat, 0.99) * 1000,
            "max_ms": (lat[-1] if lat else float("nan")) * 1000,
            **extra,
        }
