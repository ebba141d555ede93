from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from fast_channels.testing import UnexpectedMessageError, WebsocketCommunicator
from fast_channels.types import Receive, Scope, Send


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts, echoes every frame, and closes when the client sends "close"."""
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close":
            await send({"type": "websocket.close", "code": 4000})
            continue
        await send({"type": "websocket.send", **{k: v for k, v in message.items() if k != "type"}})


async def scope_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts and sends the parts of the scope a test wants to look at."""
    await receive()
    await send({"type": "websocket.accept"})
    report = {key: scope[key] for key in ("path", "query_string", "headers", "scheme", "type")}
    await send({"type": "websocket.send", "text": repr(report)})
    await receive()


async def deny_app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.close", "code": 4403})


async def subprotocol_app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    chosen = "graphql-ws" if "graphql-ws" in scope["subprotocols"] else None
    await send({"type": "websocket.accept", "subprotocol": chosen})
    await receive()


async def test_connect_send_and_receive_text_and_bytes() -> None:
    communicator = WebsocketCommunicator(echo_app, "/ws/")
    assert await communicator.connect() == (True, None)
    await communicator.send_to(text_data="hello")
    assert await communicator.receive_from() == "hello"
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert await communicator.receive_from() == b"\x00\x01"
    await communicator.disconnect()
    assert communicator.future.done()


async def test_json_round_trip() -> None:
    communicator = WebsocketCommunicator(echo_app, "/ws/")
    await communicator.connect()
    await communicator.send_json_to({"n": 1, "items": ["a"]})
    assert await communicator.receive_json_from() == {"n": 1, "items": ["a"]}
    await communicator.disconnect()


async def test_receive_json_from_a_binary_frame_is_a_type_error() -> None:
    communicator = WebsocketCommunicator(echo_app, "/ws/")
    await communicator.connect()
    await communicator.send_to(bytes_data=b"{}")
    with pytest.raises(TypeError, match="text frame"):
        await communicator.receive_json_from()
    await communicator.disconnect()


async def test_receive_from_a_close_raises_with_the_message() -> None:
    communicator = WebsocketCommunicator(echo_app, "/ws/")
    await communicator.connect()
    await communicator.send_to(text_data="close")
    with pytest.raises(UnexpectedMessageError, match=r"'websocket.send'") as caught:
        await communicator.receive_from()
    assert caught.value.message == {"type": "websocket.close", "code": 4000}
    await communicator.disconnect()


async def test_a_close_can_be_expected_with_receive_output() -> None:
    communicator = WebsocketCommunicator(echo_app, "/ws/")
    await communicator.connect()
    await communicator.send_to(text_data="close")
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4000}
    await communicator.disconnect()


async def test_send_to_needs_exactly_one_payload() -> None:
    communicator = WebsocketCommunicator(echo_app, "/ws/")
    with pytest.raises(ValueError, match="both or neither"):
        await communicator.send_to()
    with pytest.raises(ValueError, match="both or neither"):
        await communicator.send_to(text_data="a", bytes_data=b"b")
    await communicator.aclose()


async def test_connect_reports_the_close_code_of_a_denial() -> None:
    communicator = WebsocketCommunicator(deny_app, "/ws/")
    assert await communicator.connect() == (False, 4403)


async def test_connect_reports_the_status_of_an_http_denial_response() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await WebSocket(scope, receive, send).send_denial_response(
            PlainTextResponse("go away", status_code=401)
        )

    communicator = WebsocketCommunicator(app, "/ws/")
    assert await communicator.connect() == (False, 401)
    assert communicator.response_status == 401
    assert communicator.response_body == b"go away"


async def test_connect_reraises_an_app_crash() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise KeyError("missing")

    communicator = WebsocketCommunicator(app, "/ws/")
    with pytest.raises(KeyError, match="missing"):
        await communicator.connect()


async def test_connect_times_out_when_the_app_never_answers() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(60)

    communicator = WebsocketCommunicator(app, "/ws/")
    with pytest.raises(TimeoutError):
        await communicator.connect(timeout=0.05)
    await communicator.aclose()


@pytest.mark.parametrize(
    ("offered", "expected"),
    [(["graphql-ws", "chat"], "graphql-ws"), (["chat"], None), (None, None)],
)
async def test_subprotocol_negotiation(offered: list[str] | None, expected: str | None) -> None:
    communicator = WebsocketCommunicator(subprotocol_app, "/ws/", subprotocols=offered)
    assert await communicator.connect() == (True, expected)
    assert communicator.scope["subprotocols"] == (offered or [])
    await communicator.disconnect()


async def test_path_query_string_and_headers_reach_the_scope() -> None:
    headers = [(b"Origin", b"https://example.com"), (b"cookie", b"a=1")]
    communicator = WebsocketCommunicator(scope_app, "/ws/r%C3%A9m/?token=abc&x=1", headers=headers)
    await communicator.connect()
    report = await communicator.receive_from()
    assert report == repr(
        {
            "path": "/ws/rém/",
            "query_string": b"token=abc&x=1",
            "headers": [(b"origin", b"https://example.com"), (b"cookie", b"a=1")],
            "scheme": "ws",
            "type": "websocket",
        }
    )
    await communicator.disconnect()


def test_scope_is_a_complete_asgi_websocket_scope() -> None:
    scope = WebsocketCommunicator(echo_app, "/ws/", spec_version="2.3").scope
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert scope["query_string"] == b""
    assert scope["client"] == ("127.0.0.1", 50000)
    assert scope["server"] == ("testserver", 80)
    assert scope["subprotocols"] == []
    assert "app" not in scope


def test_path_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="Expected path as str, but got bytes"):
        WebsocketCommunicator(echo_app, b"/ws/")  # type: ignore[arg-type]


def test_headers_must_be_bytes_pairs() -> None:
    with pytest.raises(TypeError, match=r"\(bytes, bytes\) pair, but got \('origin', 'x'\)"):
        WebsocketCommunicator(echo_app, "/ws/", headers=[("origin", "x")])  # type: ignore[list-item]


async def test_receive_nothing_after_connect() -> None:
    communicator = WebsocketCommunicator(echo_app, "/ws/")
    await communicator.connect()
    assert await communicator.receive_nothing() is True
    await communicator.send_to(text_data="x")
    assert await communicator.receive_nothing() is False
    await communicator.disconnect()


async def starlette_endpoint(websocket: WebSocket) -> None:
    room = websocket.path_params["room"]
    await websocket.accept(subprotocol="chat")
    token = websocket.query_params.get("token")
    async for text in websocket.iter_text():
        await websocket.send_json({"room": room, "token": token, "text": text})


def starlette_app() -> Starlette:
    return Starlette(routes=[WebSocketRoute("/ws/{room}/", starlette_endpoint)])


async def test_starlette_websocket_route() -> None:
    communicator = WebsocketCommunicator(
        starlette_app(), "/ws/lobby/?token=abc", subprotocols=["chat"]
    )
    assert await communicator.connect() == (True, "chat")
    await communicator.send_to(text_data="hi")
    reply: dict[str, Any] = await communicator.receive_json_from()
    assert reply == {"room": "lobby", "token": "abc", "text": "hi"}
    await communicator.disconnect()
    assert communicator.future.done()
    assert communicator.future.exception() is None


async def test_starlette_unknown_path_is_closed_before_accept() -> None:
    communicator = WebsocketCommunicator(starlette_app(), "/nowhere/")
    connected, code = await communicator.connect()
    assert connected is False
    assert code == 1000
