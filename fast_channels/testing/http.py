"""Talk to an HTTP ASGI application (an AsyncHttpConsumer) the way an ASGI server would."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fast_channels.testing.application import (
    ApplicationCommunicator,
    CommunicatorTypeError,
    UnexpectedMessageError,
)
from fast_channels.testing.websocket import connection_scope
from fast_channels.type_defs import ASGIApplication  # noqa: F401 -- 1.x imported it from here
from fast_channels.types import Message


class HttpCommunicator(ApplicationCommunicator):
    def __init__(
        self,
        application: Any,
        path: str,
        *,
        method: str = "GET",
        body: bytes = b"",
        headers: Iterable[tuple[bytes, bytes]] | None = None,
    ) -> None:
        scope = connection_scope("http", "http", path, headers)
        if not isinstance(body, bytes):
            raise CommunicatorTypeError(f"Expected body as bytes, but got {type(body).__name__}")
        scope["method"] = method.upper()
        super().__init__(application, scope)
        self.body = body
        self._request_sent = False

    async def send_request(self, *, more_body: bool = False) -> None:
        """Send `body` as an http.request (with `more_body=True`, more is to follow)."""
        self._request_sent = True
        await self.send_input({"type": "http.request", "body": self.body, "more_body": more_body})

    async def get_response(self, timeout: float = 1) -> dict[str, Any]:
        """The whole response as {"status", "headers", "body"}; sends the request first if
        the test has not."""
        start = await self.get_response_start(timeout)
        chunks = []
        more_body = True
        while more_body:
            chunk, more_body = await self._body_message(timeout)
            chunks.append(chunk)
        return {"status": start["status"], "headers": start["headers"], "body": b"".join(chunks)}

    async def get_response_start(self, timeout: float = 1) -> dict[str, Any]:
        """The status and headers alone, for a response that streams (server-sent events)."""
        if not self._request_sent:
            await self.send_request()
        message = await self.receive_output(timeout)
        if message["type"] != "http.response.start":
            raise UnexpectedMessageError("'http.response.start'", message)
        return {"status": message["status"], "headers": list(message.get("headers") or [])}

    async def get_body_chunk(self, timeout: float = 1) -> bytes:
        """The next chunk of a streamed body (b"" once it ended, with a last empty chunk)."""
        chunk, _ = await self._body_message(timeout)
        return chunk

    async def _body_message(self, timeout: float) -> tuple[bytes, bool]:
        message: Message = await self.receive_output(timeout)
        if message["type"] != "http.response.body":
            raise UnexpectedMessageError("'http.response.body'", message)
        return bytes(message.get("body", b"")), bool(message.get("more_body", False))

    async def disconnect(self, timeout: float = 1) -> None:
        """The client goes away; wait for the application to finish (cancel it on timeout)."""
        await self.send_input({"type": "http.disconnect"})
        await self.wait(timeout)
