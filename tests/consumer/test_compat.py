"""What fast_channels/_compat.py and fast_channels/handshake.py take from uvicorn
beyond ASGI, checked against the installed release so that a change names itself here."""

from __future__ import annotations

import asyncio

import pytest
import uvicorn
import websockets
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from tests.support.uvicorn_server import uvicorn_server


@pytest.mark.parametrize("ws", ["websockets-sansio", "websockets", "auto"])
async def test_uvicorn_connections_can_be_aborted(ws: str) -> None:
    with uvicorn_server("tests.support.close_app:app", "--ws", ws) as url:
        async with websockets.connect(f"{url.replace('http', 'ws')}/ws/probe") as client:
            said = await asyncio.wait_for(client.recv(), 5)
    assert said == "abortable", (
        f"uvicorn {uvicorn.__version__} (--ws {ws}) no longer passes its protocol's bound "
        "receive with a .transport: update fast_channels/_compat.py"
    )


def test_uvicorn_http_protocols_keep_cycle_and_loop() -> None:
    # fast_channels.handshake reads `cycle` (None until a request head is parsed) and `loop`.
    source = AutoHTTPProtocol.__init__.__code__.co_names
    assert {"cycle", "loop"} <= set(source), (
        f"uvicorn {uvicorn.__version__}'s {AutoHTTPProtocol.__name__} changed: "
        "update fast_channels/handshake.py"
    )
