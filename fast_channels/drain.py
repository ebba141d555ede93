"""Graceful drain: stop accepting, close every WebSocket with 1001 so clients reconnect to another
pod, and wait (bounded) for their consumers to clean up."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import structlog

logger = structlog.get_logger("fast_channels.drain")

CLOSE_GOING_AWAY = 1001


class Closable(Protocol):
    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None: ...


class DrainState:
    """The open WebSocket consumers of this process, and whether it is draining."""

    def __init__(self) -> None:
        self.draining = False
        self.connections: set[Closable] = set()
        self._emptied: asyncio.Event | None = None  # made by drain(), on its own loop
        self._drained = False  # a drain has finished
        self._closing: set[asyncio.Future[None]] = set()  # the drain's closes, still running

    def add(self, connection: Closable) -> None:
        self.connections.add(connection)
        if self.draining and self._emptied is not None:
            # Accepted after the drain took its list (its connect() was under way, e.g. joining
            # groups, when the drain began): closed too, or it would hold the drain to its
            # timeout and its client to the process's exit.
            self._closing.add(asyncio.ensure_future(self._close(connection)))

    def discard(self, connection: Closable) -> None:
        self.connections.discard(connection)
        if not self.connections and self._emptied is not None:
            self._emptied.set()

    async def drain(self, timeout: float) -> int:
        """Close every connection with 1001 and wait up to `timeout` seconds for them to end.

        Returns how many were still open when the time ran out."""
        if self._drained and not self.connections:
            # The SIGTERM drain ran, then the server's shutdown asks again: nothing to do, and
            # one "drained" line per drain.
            return 0
        self.draining = True
        started = time.monotonic()
        self._emptied = asyncio.Event()
        if not self.connections:
            self._emptied.set()
        self._closing = {asyncio.ensure_future(self._close(c)) for c in list(self.connections)}
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                await self._emptied.wait()
        except TimeoutError:
            pass
        for task in self._closing:
            task.cancel()  # a close stuck on a dead socket must not outlive the drain
        left = len(self.connections)
        logger.info(
            "drained",
            closed=len(self._closing) - left,  # late ones (see add) included
            left_open=left,
            seconds=round(time.monotonic() - started, 3),
        )
        self._drained = True
        return left

    @staticmethod
    async def _close(connection: Closable) -> None:
        try:
            await connection.close(CLOSE_GOING_AWAY, "server shutting down")
        except Exception as error:
            # The socket may already be gone; its consumer cleans up on its own.
            logger.debug("close during drain failed", error=repr(error))

    def reset(self) -> None:
        """Back to accepting (tests; a process that drained normally exits)."""
        self.draining = False
        self._drained = False


drain_state = DrainState()
