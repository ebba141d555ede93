"""Slow consumers: a socket whose sends have been held back by its client for `send_timeout`
seconds without a break is closed (the "close" policy), found by one watchdog task per event
loop rather than a timer around every send.

A send sets `_sending` before it is awaited and clears it after: two attribute stores. A send
the client keeps up with never suspends (uvicorn's send only waits while its write buffer is
over the high-water mark), so a consumer the watchdog finds sending at a tick is one held back
by a client that does not read, or reads slower than it is written to. Found so at
`ceil(send_timeout / interval) + 1` ticks in a row (one long send, or many each held back), it
is closed. That covers both a client that stopped reading and one that reads too slowly (whose
buffer keeps overflowing): each is held back all the time. Ticks are at least `interval` apart,
so no consumer is closed before `send_timeout` has passed, however late the event loop runs;
one stuck in a send is closed within send_timeout + 2 * interval.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import weakref
from typing import Literal, Protocol

SlowConsumerPolicy = Literal["close", "drop"]
POLICIES = ("close", "drop")
# The watchdog's tick: at most this, and at most a quarter of the smallest send_timeout it
# watches (never longer, while it runs: see Watchdog.watch).
MAX_INTERVAL = 1.0
MIN_INTERVAL = 0.01


class Watched(Protocol):
    _sending: bool  # awaiting a send to the client

    def _close_slow(self) -> None: ...


def validate(owner: str, policy: object, send_timeout: object) -> None:
    """Raise a clear error for a policy or send timeout that cannot work."""
    if policy not in POLICIES:
        raise ValueError(
            f"{owner}.slow_consumer_policy must be one of {POLICIES!r}, got {policy!r}"
        )
    if send_timeout is None:
        return
    if (
        isinstance(send_timeout, bool)
        or not isinstance(send_timeout, int | float)
        or not math.isfinite(send_timeout)
        or send_timeout < MIN_INTERVAL
    ):
        raise ValueError(
            f"{owner}.send_timeout must be None or a number of seconds >= {MIN_INTERVAL}, "
            f"got {send_timeout!r}"
        )


class Watchdog:
    """The consumers of one event loop with the "close" policy, checked every tick."""

    def __init__(self) -> None:
        self.interval = MAX_INTERVAL
        # consumer -> [ticks it may be found sending in a row, ticks it was found so]
        self._watched: dict[Watched, list[int]] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, consumer: Watched, send_timeout: float) -> None:
        # The interval only shrinks while the task runs: ticks already counted by a waiting
        # send were at least this far apart.
        self.interval = min(self.interval, max(MIN_INTERVAL, send_timeout / 4))
        self._watched[consumer] = [math.ceil(send_timeout / self.interval) + 1, 0]
        if self._task is None:
            # In a context of its own: not that of the connection it was started for, whose
            # connection_id would be on every line it logs about other connections.
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), context=contextvars.Context())

    def unwatch(self, consumer: Watched) -> None:
        self._watched.pop(consumer, None)

    async def _run(self) -> None:
        try:
            while self._watched:
                await asyncio.sleep(self.interval)
                self._check()
        finally:
            self._task = None
            self.interval = MAX_INTERVAL

    def _check(self) -> None:
        slow = []
        for consumer, ticks in self._watched.items():
            # why: the watcher is the consumer's own send machinery, in a module of its own
            # to keep websocket.py small; these two members are the whole of what it reads.
            if not consumer._sending:
                ticks[1] = 0
                continue
            ticks[1] += 1
            if ticks[1] >= ticks[0]:
                slow.append(consumer)
        for consumer in slow:
            del self._watched[consumer]
            consumer._close_slow()  # why: as above


_watchdogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Watchdog] = (
    weakref.WeakKeyDictionary()
)


def watchdog() -> Watchdog:
    """The watchdog of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _watchdogs.get(loop)
    if found is None:
        found = _watchdogs[loop] = Watchdog()
    return found
