"""The one thing we take from uvicorn beyond ASGI: aborting a connection whose client does
not read. ASGI has no way to: a `websocket.close` waits, like every send, until the write
buffer drains below uvicorn's high-water mark, which a client that does not read never lets
happen, and closing the transport waits for that buffer to flush too, so the socket and its
buffer would stay for as long as the client's kernel keeps answering TCP zero-window probes.

uvicorn (0.30 to 0.55, each of its WebSocket protocols) passes its protocol's bound `receive`
method as the ASGI `receive`, and the protocol keeps its asyncio transport in `.transport`.
tests/consumer/test_compat.py names this when a uvicorn release changes it; elsewhere (another
server, or a middleware that wraps `receive`) abort_connection() returns False and the consumer
stops without it (README "Slow consumers").
"""

from __future__ import annotations

from typing import Any


def _abort(receive: Any) -> Any:
    protocol = getattr(receive, "__self__", None)
    return getattr(getattr(protocol, "transport", None), "abort", None)


def can_abort(receive: Any) -> bool:
    """Whether abort_connection() can reach the connection behind this `receive`."""
    return callable(_abort(receive))


def abort_connection(receive: Any) -> bool:
    """Abort the TCP connection behind an ASGI `receive` (uvicorn only): True if done.
    Aborting a transport already closed does nothing."""
    abort = _abort(receive)
    if not callable(abort):
        return False
    abort()
    return True
