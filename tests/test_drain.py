"""Graceful drain under a real uvicorn: SIGTERM closes every socket with 1001, then exits."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest
import websockets

from tests.support.uvicorn_server import spawn_uvicorn, stop

APP = "tests.support.metrics_app:app"


async def test_sigterm_closes_every_socket_with_1001_and_exits() -> None:
    process, port = spawn_uvicorn(APP, env={"FAST_CHANNELS_DRAIN_TIMEOUT": "5"})
    try:
        url = f"ws://127.0.0.1:{port}/ws"
        clients = [await websockets.connect(url) for _ in range(3)]
        for client in clients:
            await asyncio.wait_for(client.recv(), 5)  # the pid greeting
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        codes = []
        for client in clients:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(client.recv(), 5)
            assert closed.value.rcvd is not None
            codes.append(closed.value.rcvd.code)
        assert codes == [1001, 1001, 1001]
        await asyncio.to_thread(process.wait, 10)
        assert time.monotonic() - started < 5
    finally:
        stop(process)


async def test_readyz_fails_and_new_sockets_are_refused_while_draining() -> None:
    process, port = spawn_uvicorn(APP, env={"FAST_CHANNELS_DRAIN_TIMEOUT": "3"})
    try:
        url = f"ws://127.0.0.1:{port}/ws"
        # This consumer's disconnect() takes 1.5 s: the drain waits for it (bounded).
        holder = await websockets.connect(f"ws://127.0.0.1:{port}/slow")
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.2)
            ready = await http.get(f"http://127.0.0.1:{port}/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "draining"
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(url)
        await holder.close()
        await asyncio.to_thread(process.wait, 10)
    finally:
        stop(process)


async def _until_a_connect_is_under_way(port: int) -> None:
    async with httpx.AsyncClient() as http, asyncio.timeout(10):
        # Another process: polled.
        while (await http.get(f"http://127.0.0.1:{port}/connecting")).json()["connecting"] != 1:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_a_socket_accepted_after_the_drain_began_is_closed_with_1001_too() -> None:
    """Its connect() was under way when SIGTERM came (it passed the draining check): the drain
    closes it once it is accepted, instead of waiting out its timeout with it open."""
    process, port = spawn_uvicorn(APP, env={"FAST_CHANNELS_DRAIN_TIMEOUT": "15"})
    try:
        # Holds the drain open 1.5 s (its disconnect), past the slow connect's accept (1 s).
        holder = await websockets.connect(f"ws://127.0.0.1:{port}/slow")
        url = f"ws://127.0.0.1:{port}/slow-connect"
        opening = asyncio.ensure_future(websockets.connect(url))
        await _until_a_connect_is_under_way(port)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        client = await asyncio.wait_for(opening, 10)
        async with asyncio.timeout(10):
            async for _ in client:  # the greeting, if it was sent before the close
                pass
        assert client.close_code == 1001
        await holder.wait_closed()
        await asyncio.to_thread(process.wait, 20)
        # Without the late close the drain waits its 15 s for this socket.
        assert time.monotonic() - started < 10
    finally:
        stop(process)
