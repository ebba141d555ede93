"""Put the connection's user in `scope["user"]`, from an authenticate function of yours."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fast_channels.middleware.base import BaseMiddleware, WebsocketDenier
from fast_channels.types import ASGIApp, Receive, Scope, Send

# Takes the scope (headers, cookies, query string...), returns the user or None.
Authenticate = Callable[[Scope], Awaitable[object | None]]


class AnonymousUser:
    """`scope["user"]` when nobody is authenticated; every instance is equal to every other."""

    is_authenticated = False
    is_anonymous = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnonymousUser)

    def __hash__(self) -> int:
        return hash(AnonymousUser)

    def __repr__(self) -> str:
        return "AnonymousUser()"


class AuthMiddleware(BaseMiddleware):
    """Sets `scope["user"]` on http and websocket scopes; with `require_user`, refuses
    anonymous connections (a websocket before accept, as an HTTP 403)."""

    def __init__(
        self, inner: ASGIApp, authenticate: Authenticate, *, require_user: bool = False
    ) -> None:
        super().__init__(inner)
        self.authenticate = authenticate
        self.require_user = require_user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.inner(scope, receive, send)  # lifespan has no user
            return
        scope = dict(scope)  # our user must not leak to the server or sibling routes
        user = await self.authenticate(scope)
        if user is None and self.require_user:
            await _deny(scope, receive, send)
            return
        scope["user"] = AnonymousUser() if user is None else user
        await self.inner(scope, receive, send)


async def _deny(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await WebsocketDenier()(scope, receive, send)
        return
    body = b"Forbidden"
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})
