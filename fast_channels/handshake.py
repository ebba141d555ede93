"""uvicorn HTTP protocols that close a connection whose first request head (a WebSocket
handshake or any HTTP request) is not complete within a bound.

uvicorn (0.55) has no such bound: `--timeout-keep-alive` starts only once a response is done,
so a connection that never sends a complete request head stays open for good (measured with
raw sockets, h11 and httptools alike: connections that sent nothing, half a request line, or
headers without their blank line were all still open after 6 s with --timeout-keep-alive 2).
The kit's servers use these (`--http fast_channels.handshake:HTTPProtocol`: the Dockerfile
entrypoint, the chart, `fast-channels demo`), bounded by FAST_CHANNELS_HANDSHAKE_TIMEOUT
seconds (default 10; README "Handshake timeout"). The bound runs from the TCP accept and is not
reset by data, so a client trickling a header a byte at a time is closed at it too.

It subclasses uvicorn's protocol classes and reads their `cycle` (set once a request head is
parsed): tests/faults/test_handshake_timeout.py names it when a uvicorn release changes that.
"""

from __future__ import annotations

import asyncio
import math
import os
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

DEFAULT_TIMEOUT = 10.0
ENV = "FAST_CHANNELS_HANDSHAKE_TIMEOUT"


def parse_timeout(value: str | float) -> float:
    """A handshake timeout in seconds (> 0), or ValueError naming what came."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"the handshake timeout must be a number of seconds > 0, got {value!r}")
    return seconds


def handshake_protocol(timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools, else h11), closing a connection with no complete
    request head `timeout` seconds after it was accepted."""
    seconds = parse_timeout(timeout)
    base: Any = AutoHTTPProtocol

    class HandshakeTimeoutProtocol(base):  # type: ignore[misc]
        handshake_timeout = seconds

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._head_timer = self.loop.call_later(self.handshake_timeout, self._head_late)

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_timer.cancel()
            super().connection_lost(exc)

        def _head_late(self) -> None:
            transport = self.transport
            # A request head parsed (`cycle`), or the connection upgraded to a WebSocket
            # protocol (the transport has another protocol now): the handshake is done.
            if self.cycle is None and transport.get_protocol() is self:
                transport.close()

    return HandshakeTimeoutProtocol


def _from_environment() -> float:
    value = os.environ.get(ENV, "")
    return DEFAULT_TIMEOUT if not value else parse_timeout(value)


# `uvicorn --http fast_channels.handshake:HTTPProtocol`, bounded by $FAST_CHANNELS_HANDSHAKE_TIMEOUT
HTTPProtocol = handshake_protocol(_from_environment())
