"""Talk to a websocket ASGI application the way a browser behind an ASGI server would."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit

from fast_channels.testing.application import (
    ApplicationCommunicator,
    CommunicatorTypeError,
    CommunicatorValueError,
    UnexpectedMessageError,
)
from fast_channels.type_defs import (  # noqa: F401 -- 1.x code imports these from here
    ChannelApplication,
    ChannelHeaders,
    ChannelScope,
)
from fast_channels.types import ASGIApp, Headers

DEFAULT_SPEC_VERSION = "2.4"  # what uvicorn announces

# 1.x's names for what connect() returns: (accepted, subprotocol or close code).
Connected: TypeAlias = bool
CloseCodeOrAcceptSubProtocol: TypeAlias = int | str | None
WebsocketConnectResponse: TypeAlias = tuple[Connected, CloseCodeOrAcceptSubProtocol]


class WebsocketCommunicator(ApplicationCommunicator):
    def __init__(
        self,
        application: ASGIApp,
        path: str,
        headers: Iterable[tuple[bytes, bytes]] | None = None,
        subprotocols: Iterable[str] | None = None,
        spec_version: str | None = None,
    ) -> None:
        scope = connection_scope("websocket", "ws", path, headers, spec_version)
        scope["subprotocols"] = list(subprotocols or [])
        # Advertised so that apps may deny with an HTTP response (see connect()).
        scope["extensions"] = {"websocket.http.response": {}}
        super().__init__(application, scope)
        self.accepted_subprotocol: str | None = None
        self.response_headers: Headers | None = None
        self.response_status: int | None = None
        self.response_body = b""

    async def connect(self, timeout: float = 1) -> tuple[bool, int | str | None]:
        """Handshake: (True, subprotocol) if accepted, (False, close code or HTTP status) if not."""
        await self.send_input({"type": "websocket.connect"})
        message = await self.receive_output(timeout)
        kind = message["type"]
        if kind == "websocket.accept":
            self.accepted_subprotocol = message.get("subprotocol")
            self.response_headers = list(message.get("headers") or [])
            return True, self.accepted_subprotocol
        if kind == "websocket.close":
            code: int = message.get("code", 1000)
            return False, code
        if kind == "websocket.http.response.start":
            self.response_status = int(message["status"])
            self.response_headers = list(message.get("headers") or [])
            await self._receive_denial_body(timeout)
            return False, self.response_status
        raise UnexpectedMessageError(
            "'websocket.accept', 'websocket.close' or 'websocket.http.response.start'", message
        )

    async def _receive_denial_body(self, seconds: float) -> None:
        more_body = True
        while more_body:
            message = await self.receive_output(seconds)
            if message["type"] != "websocket.http.response.body":
                raise UnexpectedMessageError("'websocket.http.response.body'", message)
            self.response_body += message.get("body", b"")
            more_body = bool(message.get("more_body", False))

    async def send_to(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Send one frame: exactly one of `text_data` and `bytes_data`."""
        if (text_data is None) == (bytes_data is None):
            raise CommunicatorValueError(
                "You must supply exactly one of text_data or bytes_data (got both or neither)"
            )
        # One key only, as uvicorn sends it.
        if text_data is not None:
            if not isinstance(text_data, str):
                kind = type(text_data).__name__
                raise CommunicatorTypeError(f"The text_data argument must be a str, got {kind}")
            await self.send_input({"type": "websocket.receive", "text": text_data})
        else:
            if not isinstance(bytes_data, bytes | bytearray):
                kind = type(bytes_data).__name__
                raise CommunicatorTypeError(f"The bytes_data argument must be bytes, got {kind}")
            await self.send_input({"type": "websocket.receive", "bytes": bytes(bytes_data)})

    async def send_json_to(self, data: Any) -> None:
        await self.send_to(text_data=json.dumps(data))

    async def receive_from(self, timeout: float = 1) -> str | bytes:
        """The next frame sent by the application; use `receive_output` to expect a close."""
        message = await self.receive_output(timeout)
        if message["type"] != "websocket.send":
            raise UnexpectedMessageError("'websocket.send'", message)
        text = message.get("text")
        if text is not None:
            return str(text)
        data = message.get("bytes")
        if data is None:
            raise UnexpectedMessageError("'websocket.send' with 'text' or 'bytes'", message)
        return bytes(data)

    async def receive_json_from(self, timeout: float = 1) -> Any:
        data = await self.receive_from(timeout)
        if not isinstance(data, str):
            raise CommunicatorTypeError(
                f"JSON data is not a text frame, it is bytes: {data[:50]!r}"
            )
        return json.loads(data)

    async def disconnect(self, code: int = 1000, timeout: float = 1) -> None:
        """The client goes away; wait for the application to finish (cancel it on timeout)."""
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


def connection_scope(
    kind: str,
    scheme: str,
    path: Any,
    headers: Iterable[tuple[bytes, bytes]] | None,
    spec_version: str | None = None,
) -> dict[str, Any]:
    """The scope an ASGI server would give a connection to `path` (its query string split off)."""
    if not isinstance(path, str):
        raise CommunicatorTypeError(f"Expected path as str, but got {type(path).__name__}")
    url = urlsplit(path)
    return {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": spec_version or DEFAULT_SPEC_VERSION},
        "http_version": "1.1",
        "scheme": scheme,
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": unquote(url.path),
        "raw_path": url.path.encode("utf-8"),
        "query_string": url.query.encode("utf-8"),
        "headers": normalize_headers(headers or []),
    }


def normalize_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    normalized: Headers = []
    for header in headers:
        if not (
            isinstance(header, tuple | list)
            and len(header) == 2
            and all(isinstance(part, bytes) for part in header)
        ):
            raise CommunicatorTypeError(
                f"Expected each header as a (bytes, bytes) pair, but got {header!r}"
            )
        name, value = header
        # ASGI servers lower-case header names; apps may rely on it.
        normalized.append((name.lower(), value))
    return normalized
