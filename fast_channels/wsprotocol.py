"""The WebSocket protocol the kit serves with: uvicorn's websockets-sansio, writing a text
frame built once per text (frames.py) to every socket the text goes to.

uvicorn frames every `websocket.send` for its socket alone, and with permessage-deflate
compresses it with that socket's own compressor: a broadcast to 1,000 sockets framed and
compressed the same text 1,000 times. Here the frame for a str is built once and the same bytes
are written to each socket's transport (README "Serving: uvicorn and the garbage collector").
Any ASGI app gains where it sends one str object to many sockets: our consumers do for a group
message (one encoding per burst, consumer/encode_once.py); middleware that wraps `send` still
sees every message, since the frame is written where uvicorn would write it.

What changes on the wire, with permessage-deflate agreed: the server agrees
`server_no_context_takeover` (RFC 7692 7.1.1.1), so every message it compresses, shared or
not, is compressed on its own. That is what lets a shared frame, compressed once, inflate in
every client, and what keeps the frames websockets still compresses itself (binary ones, text
sent while the socket's buffer is full) from referring to bytes of a shared frame they never
saw. The cost is compression across messages: small messages compress less or not at all
(those are sent uncompressed). The gain: no compressor kept per socket between messages.

uvicorn's own `send` runs for everything else, unchanged: accept and close, binary frames, a
connection that is not open (handshake not answered, close sent or received, transport
closing), and a text sent while the transport's write buffer is over its high-water mark
(uvicorn's send waits for it to drain, so that text queues behind it; the consumer's slow-client
watchdog sees that wait as it always did).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn import config as uvicorn_config
from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.protocol import State
from websockets.server import ServerProtocol

from fast_channels.frames import MEM_LEVEL, shared_text_frame

# What uvicorn's --ws takes to serve with this protocol (the demo CLI, the image, the chart).
PROTOCOL = "fast_channels.wsprotocol:SharedFrameProtocol"
# uvicorn's own window for permessage-deflate (websockets_sansio_impl, 0.35-0.55).
WINDOW_BITS = 12

try:  # uvicorn >= 0.35: the protocol this one extends
    from uvicorn.protocols.websockets.websockets_sansio_impl import (
        WebSocketsSansIOProtocol as _Base,
    )
except ImportError:  # pragma: no cover -- an older uvicorn: default_ws() says "auto"
    _Base = object  # type: ignore[assignment,misc]


def default_ws() -> str:
    """uvicorn's `ws` the kit serves with: this protocol where uvicorn has websockets-sansio
    (0.35+), else "auto"."""
    return PROTOCOL if "websockets-sansio" in uvicorn_config.WS_PROTOCOLS else "auto"


class SharedFrameProtocol(_Base):
    """uvicorn's WebSocketsSansIOProtocol; text frames built once per str (module docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._window_bits = 0  # compression agreed: its window; 0, none (set at the handshake)
        if config.ws_per_message_deflate:
            # uvicorn's factory, plus server_no_context_takeover (see the module docstring).
            deflate = ServerPerMessageDeflateFactory(
                server_no_context_takeover=True,
                server_max_window_bits=WINDOW_BITS,
                client_max_window_bits=WINDOW_BITS,
                compress_settings={"memLevel": MEM_LEVEL},
            )
            self.conn = ServerProtocol(
                extensions=[deflate], max_size=config.ws_max_size, logger=self.conn.logger
            )

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        for extension in self.conn.extensions:  # negotiated by handle_connect's accept()
            if isinstance(extension, PerMessageDeflate):
                self._window_bits = extension.local_max_window_bits

    async def send(self, message: Any) -> None:
        # As uvicorn reads the message: "bytes", when set, is what is sent.
        text = message.get("text") if message["type"] == "websocket.send" else None
        if (
            text is not None
            and message.get("bytes") is None
            and self.writable.is_set()
            and self.conn.state is State.OPEN
            and not self.transport.is_closing()
        ):
            self.transport.write(shared_text_frame(text, self._window_bits))
            return
        await super().send(message)
