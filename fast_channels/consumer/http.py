"""AsyncHttpConsumer: an HTTP endpoint built like a consumer, for long-polls and event streams.

`handle(body)` answers the request, or starts a response (headers, `more_body=True`) that
handlers of layer messages continue (server-sent events) or finish (long-poll). The consumer
ends when the response is complete or the client goes away; `disconnect()` then runs once.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fast_channels.exceptions import StopConsumer
from fast_channels.observability.instruments import HttpInstruments, http_instruments
from fast_channels.type_defs import (  # noqa: F401 -- 1.x code imports these from here
    HttpDisconnectEvent,
    HttpRequestEvent,
    HttpResponseBodyEvent,
    HttpResponseStartEvent,
)
from fast_channels.types import Headers, Message, Receive, Scope, Send

from .base import AsyncConsumer


class AsyncHttpConsumer(AsyncConsumer):
    _http_instruments: ClassVar[HttpInstruments | None] = None  # per class

    body: list[bytes]
    _status: int | None = None  # of the response started, None before send_headers()
    _response_done = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.body = []  # the request body's chunks, as in 1.x

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._http_instruments = None

    @property
    def handler_instruments(self) -> HttpInstruments:
        instruments = self._http_instruments
        if instruments is None:
            instruments = type(self)._http_instruments = http_instruments(type(self).__name__)
        return instruments

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(
                f'{type(self).__name__} serves "http" scopes, but got {scope["type"]!r}'
            )
        # Per request: an instance mounted as the app is shallow-copied per request.
        self.body, self._status, self._response_done = [], None, False
        instruments = self.handler_instruments
        instruments.requests.inc()
        try:
            await super()._serve(scope, receive, send)
        finally:
            instruments.requests.dec()
            instruments.responded(self._status)

    # -- the response ----------------------------------------------------------------------

    async def send_headers(self, *, status: int = 200, headers: Headers | None = None) -> None:
        """Start the response. The server sends it with the first body chunk."""
        if self._status is not None:
            raise RuntimeError(
                f"Expected one send_headers() per request, but the response already started "
                f"with status {self._status}"
            )
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"Expected an HTTP status from 100 to 599, but got {status!r}")
        self._status = status
        await self.send(
            {"type": "http.response.start", "status": status, "headers": list(headers or [])}
        )

    async def send_body(self, body: bytes, *, more_body: bool = False) -> None:
        """Send a body chunk; `more_body=True` keeps the response open for more."""
        if not isinstance(body, bytes | bytearray):
            raise TypeError(f"Expected the body as bytes, but got {type(body).__name__}")
        if self._status is None:
            raise RuntimeError("Expected send_headers() before send_body()")
        if self._response_done:
            raise RuntimeError("Expected no more body: the response is already complete")
        await self.send({"type": "http.response.body", "body": bytes(body), "more_body": more_body})
        self.handler_instruments.body_bytes.observe(len(body))
        if not more_body:
            self._response_done = True

    async def send_response(
        self, status: int, body: bytes, *, headers: Headers | None = None
    ) -> None:
        """The whole response at once."""
        await self.send_headers(status=status, headers=headers)
        await self.send_body(body)

    # -- hooks -----------------------------------------------------------------------------

    async def handle(self, body: bytes) -> None:
        """Called with the whole request body: answer, or start a response to continue."""
        raise NotImplementedError(f"{type(self).__name__} must define handle(self, body)")

    async def disconnect(self) -> None:
        """Runs once when the request ends, however it ends. Send nothing from here."""

    # -- ASGI events -----------------------------------------------------------------------

    async def http_request(self, message: Message) -> None:
        self.body.append(message.get("body", b""))
        if message.get("more_body"):
            return
        await self.handle(b"".join(self.body))
        if self.channel_layer is None:
            # Nothing else can continue the response: the request ends here, as in 1.x.
            raise StopConsumer

    async def http_disconnect(self, message: Message) -> None:
        raise StopConsumer

    async def dispatch(self, message: Message) -> None:
        await super().dispatch(message)
        if self._response_done:
            raise StopConsumer  # complete: later layer messages have nowhere to go

    async def cleanup(self) -> None:
        try:
            await self._bounded("disconnect", self.disconnect())
        finally:
            await super().cleanup()
