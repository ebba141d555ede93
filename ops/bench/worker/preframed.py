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
`server_no_context_takeover`: the kit's WebSocket protocol (fast_channels/wsprotocol.py) does,
and this experiment now builds its frames with the kit's framing (frames.py). The figures in
ops/bench/README.md's "Where the gap to bare Starlette is" came from its own earlier framing
(always compressed, in a 32 KB window).

Needs uvicorn's websockets-sansio protocol (`BENCH_UVICORN_WS=websockets-sansio`): the ASGI
`send` it passes is the protocol's bound method, whose transport is written to directly.
"""

from __future__ import annotations

from typing import Any


def build_frame(text: bytes, deflate: bool) -> bytes:
    """One unmasked, final text frame: the kit's framing (fast_channels/frames.py), compressed
    in uvicorn's agreed 4 KB window when the client agreed permessage-deflate (and sent as is
    when that is no smaller)."""
    from fast_channels.frames import text_frame
    from fast_channels.wsprotocol import WINDOW_BITS

    return text_frame(text, WINDOW_BITS if deflate else 0)


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
