"""An experiment, not a peer: the broadcast written as one pre-built frame to every socket.

Each frame a client sends is framed once — and, when the client agreed permessage-deflate,
compressed once by a fresh compressor — and the same bytes are written to every socket's
transport, past uvicorn's and websockets' per-socket send. This is how Node's `ws` broadcasts
(one frame built, the same buffer written to each socket), and what issue 22 asks about: what
one framing and one compression per broadcast would save against bare Starlette's per-socket
`send_text`.

A message compressed without reference to earlier ones inflates correctly in a client that
keeps its context (context takeover), so every client decodes these frames. It holds only
because nothing else is sent compressed on these connections: a per-socket compressor's
back-references would point into the shared frames' bytes in the client's window. A product
would compress every message on such a connection without context, or agree
`server_no_context_takeover`.

Needs uvicorn's websockets-sansio protocol (`BENCH_UVICORN_WS=websockets-sansio`): the ASGI
`send` it passes is the protocol's bound method, whose transport is written to directly.
"""

from __future__ import annotations

import zlib
from typing import Any


def build_frame(text: bytes, deflate: bool) -> bytes:
    """One unmasked, final text frame (RSV1 set when compressed)."""
    payload, first = text, 0x81
    if deflate:
        compressor = zlib.compressobj(wbits=-15, memLevel=5)
        # Without the 00 00 ff ff that ends every sync flush (RFC 7692 7.2.1).
        payload = (compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        first = 0xC1
    size = len(payload)
    if size < 126:
        head = bytes((first, size))
    elif size < 1 << 16:
        head = bytes((first, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, 127)) + size.to_bytes(8, "big")
    return head + payload


def preframed_app() -> Any:
    protocols: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        protocol = getattr(send, "__self__", None)
        if protocol is None or not hasattr(protocol, "conn"):
            raise RuntimeError("preframed needs uvicorn's websockets-sansio protocol")
        deflate = bool(protocol.conn.extensions)  # permessage-deflate agreed
        protocols.append(protocol)
        try:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    break
                frame = build_frame(message["text"].encode(), deflate)
                for other in protocols:
                    if not other.transport.is_closing():
                        other.transport.write(frame)
        finally:
            protocols.remove(protocol)

    return app
