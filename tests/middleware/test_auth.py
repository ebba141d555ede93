from __future__ import annotations

from fast_channels.middleware import AnonymousUser, AuthMiddleware
from fast_channels.testing import ApplicationCommunicator, WebsocketCommunicator
from fast_channels.types import Receive, Scope, Send


async def user_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts and reports who the middleware says the user is."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": repr(scope["user"]).encode()})
        return
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": repr(scope["user"])})
    await receive()


async def token_user(scope: Scope) -> str | None:
    return "alice" if scope["query_string"] == b"token=good" else None


async def test_authenticated_user_is_set_in_scope() -> None:
    communicator = WebsocketCommunicator(AuthMiddleware(user_app, token_user), "/?token=good")
    assert await communicator.connect() == (True, None)
    assert await communicator.receive_from() == "'alice'"
    await communicator.disconnect()


async def test_no_user_means_anonymous_user() -> None:
    communicator = WebsocketCommunicator(AuthMiddleware(user_app, token_user), "/?token=bad")
    assert await communicator.connect() == (True, None)
    assert await communicator.receive_from() == "AnonymousUser()"
    await communicator.disconnect()


async def test_require_user_denies_anonymous_with_403_before_accept() -> None:
    app = AuthMiddleware(user_app, token_user, require_user=True)
    communicator = WebsocketCommunicator(app, "/?token=bad")
    assert await communicator.connect() == (False, 403)


async def test_require_user_lets_a_user_in() -> None:
    app = AuthMiddleware(user_app, token_user, require_user=True)
    communicator = WebsocketCommunicator(app, "/?token=good")
    assert await communicator.connect() == (True, None)
    assert await communicator.receive_from() == "'alice'"
    await communicator.disconnect()


async def test_user_does_not_leak_into_the_callers_scope() -> None:
    communicator = WebsocketCommunicator(AuthMiddleware(user_app, token_user), "/?token=good")
    await communicator.connect()
    await communicator.receive_from()
    assert "user" not in communicator.scope
    await communicator.disconnect()


async def test_http_scope_gets_a_user_too() -> None:
    scope = {"type": "http", "query_string": b"token=good", "headers": []}
    communicator = ApplicationCommunicator(AuthMiddleware(user_app, token_user), scope)
    assert (await communicator.receive_output())["status"] == 200
    assert (await communicator.receive_output())["body"] == b"'alice'"


async def test_require_user_denies_http_with_403() -> None:
    scope = {"type": "http", "query_string": b"", "headers": []}
    app = AuthMiddleware(user_app, token_user, require_user=True)
    communicator = ApplicationCommunicator(app, scope)
    assert (await communicator.receive_output())["status"] == 403
    assert (await communicator.receive_output())["body"] == b"Forbidden"


async def test_lifespan_scope_is_not_authenticated() -> None:
    calls: list[Scope] = []

    async def authenticate(scope: Scope) -> object:
        calls.append(scope)
        return "someone"

    async def lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "seen", "has_user": "user" in scope})

    communicator = ApplicationCommunicator(
        AuthMiddleware(lifespan_app, authenticate), {"type": "lifespan"}
    )
    assert await communicator.receive_output() == {"type": "seen", "has_user": False}
    assert calls == []


def test_anonymous_users_are_equal_and_not_authenticated() -> None:
    assert AnonymousUser() == AnonymousUser()
    assert hash(AnonymousUser()) == hash(AnonymousUser())
    assert AnonymousUser() != "anonymous"
    assert AnonymousUser.is_authenticated is False
    assert AnonymousUser.is_anonymous is True
