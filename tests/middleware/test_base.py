from __future__ import annotations

import pytest

from fast_channels.middleware import BaseMiddleware, WebsocketDenier
from fast_channels.testing import ApplicationCommunicator, WebsocketCommunicator
from fast_channels.types import Receive, Scope, Send


async def accept_app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": scope.get("tag", "untagged")})
    await receive()


class TagMiddleware(BaseMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = dict(scope)
        scope["tag"] = "tagged"
        await super().__call__(scope, receive, send)


async def test_base_middleware_passes_everything_to_inner() -> None:
    communicator = WebsocketCommunicator(BaseMiddleware(accept_app), "/")
    assert await communicator.connect() == (True, None)
    assert await communicator.receive_from() == "untagged"
    await communicator.disconnect()


async def test_scope_changes_reach_inner_but_not_the_caller() -> None:
    communicator = WebsocketCommunicator(TagMiddleware(accept_app), "/")
    await communicator.connect()
    assert await communicator.receive_from() == "tagged"
    assert "tag" not in communicator.scope
    await communicator.disconnect()


async def test_base_middleware_copies_the_scope_it_passes_on() -> None:
    seen: list[Scope] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        scope["added"] = True
        seen.append(scope)

    original: Scope = {"type": "http"}
    await BaseMiddleware(inner)(original, _never_receive, _drop)
    assert seen[0]["added"] is True
    assert "added" not in original


async def test_websocket_denier_closes_with_403_before_accept() -> None:
    communicator = WebsocketCommunicator(WebsocketDenier(), "/")
    assert await communicator.connect() == (False, 403)
    assert await communicator.wait() is True


async def test_websocket_denier_custom_code() -> None:
    communicator = WebsocketCommunicator(WebsocketDenier(code=4401), "/")
    assert await communicator.connect() == (False, 4401)


async def test_websocket_denier_sends_nothing_when_the_client_left_first() -> None:
    communicator = WebsocketCommunicator(WebsocketDenier(), "/")
    await communicator.send_input({"type": "websocket.disconnect", "code": 1006})
    assert await communicator.wait() is True
    assert await communicator.receive_nothing() is True


async def test_websocket_denier_rejects_other_scopes() -> None:
    communicator = ApplicationCommunicator(WebsocketDenier(), {"type": "http"})
    with pytest.raises(ValueError, match=r"Expected a \"websocket\" scope, but got 'http'"):
        await communicator.receive_output()


async def _never_receive() -> Scope:
    raise AssertionError("the app was not expected to receive")


async def _drop(message: Scope) -> None:
    raise AssertionError(f"the app was not expected to send {message!r}")
