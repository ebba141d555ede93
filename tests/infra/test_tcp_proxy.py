"""tests/support/tcp_proxy.py's network drop: every connection reset, new ones refused for the
length of the cut, then forwarding again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage

from tests.support.tcp_proxy import TcpProxy
from tests.support.uvicorn_server import spawn_uvicorn, stop

APP = "tests.support.whoami_app:app"


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    process, port = spawn_uvicorn(APP, env={"SERVER_ID": "behind-proxy"})
    tcp = TcpProxy(port)
    await tcp.start()
    try:
        yield tcp
    finally:
        await tcp.close()
        stop(process)


async def test_drop_resets_connections_and_refuses_new_ones(proxy: TcpProxy) -> None:
    url = f"ws://127.0.0.1:{proxy.port}/ws"
    async with connect(url, open_timeout=5) as ws:
        assert await ws.recv() == "behind-proxy"
        assert proxy.connections == 1
        await proxy.drop()
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert proxy.connections == 0
    with pytest.raises(ConnectionRefusedError):
        await connect(url, open_timeout=5)
    await proxy.restore()
    async with connect(url, open_timeout=5) as ws:
        assert await ws.recv() == "behind-proxy"
        await ws.send("after")
        assert await ws.recv() == "after"


async def test_cut_is_a_drop_then_a_restore(proxy: TcpProxy) -> None:
    url = f"ws://127.0.0.1:{proxy.port}/ws"
    async with connect(url, open_timeout=5) as ws:
        assert await ws.recv() == "behind-proxy"
        await proxy.cut(0.2)
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    async with connect(url, open_timeout=5) as ws:
        assert await ws.recv() == "behind-proxy"


async def test_cut_without_seconds_resets_and_refusing_closes_new_ones(proxy: TcpProxy) -> None:
    url = f"ws://127.0.0.1:{proxy.port}/ws"
    async with connect(url, open_timeout=5) as ws:
        assert await ws.recv() == "behind-proxy"
        proxy.refusing = True
        await proxy.cut()
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    with pytest.raises((ConnectionClosed, OSError, InvalidMessage)):
        await connect(url, open_timeout=5)  # accepted, then closed before the handshake
    proxy.refusing = False
    async with connect(url, open_timeout=5) as ws:
        assert await ws.recv() == "behind-proxy"
