"""`python -m ops.loadgen --recover` against the real demo (a uvicorn subprocess, in-memory
layer with room history), its clients' connections cut by a TCP proxy during the run: every
message that reached the server reaches every member, once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from ops.loadgen import Config, run
from tests.demo.conftest import DemoServer
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoServer]:
    server = DemoServer("--step-delay", "0.01")
    try:
        yield server
    finally:
        server.stop()


async def test_recover_mode_delivers_across_cuts_what_reached_the_server(demo: DemoServer) -> None:
    proxy = TcpProxy(demo.port)
    await proxy.start()
    config = Config(
        url=f"ws://127.0.0.1:{proxy.port}/ws/chat/{{room}}",
        clients=8, rooms=2, rate=20, duration=4, drain=15, recover=True, progress=None,
    )  # fmt: skip
    try:
        running = asyncio.ensure_future(run(config))
        for _ in range(3):
            await asyncio.sleep(1)
            await proxy.cut()  # every client's connection reset; they come straight back
        report = await asyncio.wait_for(running, 60)
    finally:
        await proxy.close()
    assert report.recoveries is not None
    assert report.recoveries["reconnections"] >= 3 * 8
    assert report.recoveries["complete"] == report.recoveries["reconnections"]
    assert (report.recoveries["incomplete"], report.recoveries["partly_delivered"]) == (0, 0)
    assert report.duplicates == 0
    # Only frames lost on the way in (with their sender's connection) may be missing: by all.
    assert report.lost == report.recoveries["never_delivered"] * 4
    assert report.sent >= 60
    assert "recovery" in report.summary()
