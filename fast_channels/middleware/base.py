"""The building blocks of middleware: wrap an inner app, or refuse a websocket."""

from __future__ import annotations

from fast_channels.type_defs import (  # noqa: F401 -- 1.x code imports these from here
    ASGIReceiveCallable,
    ASGISendCallable,
    ChannelApplication,
    ChannelScope,
)
from fast_channels.types import ASGIApp, Receive, Scope, Send


class BaseMiddleware:
    """Wraps `inner`; subclasses override `__call__` and end with `super().__call__(...)`.

    The scope is copied before it goes on, so what a middleware adds is seen by the apps
    it wraps and never leaks back to the server or to sibling routes.
    """

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.inner(dict(scope), receive, send)


class WebsocketDenier:
    """Refuses a websocket handshake: the server answers it with HTTP 403."""

    def __init__(self, code: int = 403) -> None:
        self.code = code

    @classmethod
    def as_asgi(cls, code: int = 403) -> WebsocketDenier:
        """1.x's WebsocketDenier was a consumer, mounted with `WebsocketDenier.as_asgi()`;
        an instance is already the ASGI app."""
        return cls(code)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            raise ValueError(f'Expected a "websocket" scope, but got {scope["type"]!r}')
        message = await receive()
        # A disconnect before the handshake completed needs no answer.
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": self.code})
