"""The 1.x README examples behind a real uvicorn, talked to by a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import websockets
from starlette.requests import cookie_parser
from websockets.exceptions import InvalidStatus

from tests.support.uvicorn_server import uvicorn_server


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with uvicorn_server("tests.support.compat_app:app") as url:
        yield url.replace("http://", "ws://")


async def recv(ws: websockets.ClientConnection) -> str:
    return str(await asyncio.wait_for(ws.recv(), 5))


async def test_chat_consumer_with_groups_broadcasts_to_the_room(server: str) -> None:
    async with websockets.connect(f"{server}/ws/chat") as alice:
        assert await recv(alice) == "Someone joined the chat"
        async with websockets.connect(f"{server}/ws/chat") as bob:
            assert await recv(bob) == "Someone joined the chat"
            assert await recv(alice) == "Someone joined the chat"
            await bob.send("hello")
            assert await recv(alice) == "Message: hello"
            assert await recv(bob) == "Message: hello"


async def test_room_consumer_uses_path_params_and_isolates_rooms(server: str) -> None:
    async with (
        websockets.connect(f"{server}/ws/room/blue") as blue1,
        websockets.connect(f"{server}/ws/room/blue") as blue2,
        websockets.connect(f"{server}/ws/room/red") as red,
    ):
        await blue1.send(json.dumps({"text": "hi blue"}))
        assert json.loads(await recv(blue2)) == {"room": "blue", "text": "hi blue"}
        assert json.loads(await recv(blue1)) == {"room": "blue", "text": "hi blue"}
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(red.recv(), 0.3)


async def test_scope_has_user_query_headers_and_cookies(server: str) -> None:
    async with websockets.connect(
        f"{server}/ws/whoami?lang=fr",
        additional_headers={"Authorization": "Bearer ada", "Cookie": "session=s1"},
        user_agent_header="e2e-client",
    ) as ws:
        info = json.loads(await recv(ws))
    assert info == {
        "user": "ada",
        "query": "lang=fr",
        "agent": "e2e-client",
        "cookies": {"session": "s1"},
    }


async def test_cookies_are_read_as_starlette_reads_them(server: str) -> None:
    # What browsers send: a value with a space (document.cookie allows it) and a quoted one.
    header = 'session=s1; name=Ada Lovelace; theme="dark"; lang=fr'
    async with websockets.connect(
        f"{server}/ws/whoami",
        additional_headers={"Authorization": "Bearer ada", "Cookie": header},
    ) as ws:
        cookies = json.loads(await recv(ws))["cookies"]
    assert cookies == cookie_parser(header)
    assert cookies == {"session": "s1", "name": "Ada Lovelace", "theme": "dark", "lang": "fr"}


async def test_missing_token_is_refused_before_accept(server: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(f"{server}/ws/whoami"):
            pass
    assert refused.value.response.status_code == 403


async def test_malformed_json_closes_with_1007_over_the_wire(server: str) -> None:
    async with websockets.connect(f"{server}/ws/room/green") as ws:
        await ws.send("{oops")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1007
