"""Connections that never finish their first request are closed by the server the kit ships
(`fast-channels demo`, whose settings the Dockerfile entrypoint and the chart share through
fast_channels.handshake): uvicorn alone keeps them open for good."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.support.raw_ws import UNFINISHED_HEADS, closed_within, handshake
from tests.support.redis_server import free_port
from tests.support.uvicorn_server import stop, wait_for_port

TIMEOUT = 1.0
PER_KIND = 100  # 300 connections that never finish the handshake


@pytest.fixture
def demo_port() -> Iterator[int]:
    port = free_port()
    command = [
        sys.executable, "-m", "fast_channels", "demo", "--host", "127.0.0.1",
        "--port", str(port), "--no-worker", "--log-level", "warning",
        "--handshake-timeout", str(TIMEOUT),
    ]  # fmt: skip
    process = subprocess.Popen(command)
    try:
        wait_for_port(port, process=process)
        time.sleep(TIMEOUT + 0.5)  # wait_for_port's own probe connection is closed by now
        yield port
    finally:
        stop(process)


def unfinished(port: int) -> dict[socket.socket, float]:
    """Connections that stop before their request head is complete, and when each opened."""
    socks = {}
    for head in UNFINISHED_HEADS:
        for _ in range(PER_KIND):
            sock = socket.create_connection(("127.0.0.1", port))
            if head:
                sock.sendall(head)
            socks[sock] = time.monotonic()
    return socks


@pytest.mark.timeout(60)
def test_the_demo_server_closes_connections_that_never_finish_the_handshake(
    demo_port: int,
) -> None:
    stalled = unfinished(demo_port)
    finished = handshake(demo_port, "/ws/chat/lobby")
    try:
        closed = closed_within(list(stalled), TIMEOUT + 5)
        assert len(closed) == len(stalled), f"{len(stalled) - len(closed)} still open"
        lived = [closed[sock] - opened for sock, opened in stalled.items()]
        print(f"\n{len(stalled)} unfinished handshakes closed {min(lived):.2f}-{max(lived):.2f} s"
              f" after they opened (bound {TIMEOUT} s)")  # fmt: skip
        assert min(lived) >= TIMEOUT - 0.01  # the bound, not before it
        # A connection that finished its handshake is not touched by the bound.
        assert closed_within([finished], TIMEOUT + 0.5) == {}
    finally:
        for sock in [*stalled, finished]:
            sock.close()
