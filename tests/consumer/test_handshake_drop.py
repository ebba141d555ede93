"""A client that drops while the consumer is still in connect(): uvicorn's sans-I/O WebSocket
protocols (websockets-sansio, wsproto, and the kit's on the former) skip a `websocket.accept`
whose transport is already closing, without error, and raise RuntimeError("Expected ASGI
message 'websocket.accept'...") at the next send. That is a gone client, not a handler error:
it must not count in fast_channels_consumer_errors_total (the consumer-errors alert would fire
on network drops).

The window is one event-loop turn (between the transport closing and uvicorn's
connection_lost), so the test holds connect() on an event and releases it in the very turn in
which the client's reset is read: a real uvicorn in this process (so it runs in the test's
loop), a real TCP socket reset with SO_LINGER 0.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from fast_channels import wsprotocol
from fast_channels.consumer.websocket import AsyncJsonWebsocketConsumer
from fast_channels.observability import metrics
from tests.support.uvicorn_server import in_process

WAIT = 10.0


class Gate:
    """connect() waits on `go`; `arrived` says it got there; `done` is set by disconnect()."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.go = asyncio.Event()
        self.done = asyncio.Event()
        self.codes: list[int] = []


class HeldConsumer(AsyncJsonWebsocketConsumer):
    gate: Gate

    async def connect(self) -> None:
        self.gate.arrived.set()
        await self.gate.go.wait()
        await self.accept()
        await self.send_json({"type": "welcome"})

    async def disconnect(self, code: int) -> None:
        self.gate.codes.append(code)
        self.gate.done.set()


def errors(consumer: str) -> float:
    """fast_channels_consumer_errors_total of one consumer class, every handler."""
    return sum(
        sample.value
        for family in metrics.REGISTRY.collect()
        for sample in family.samples
        if sample.name == "fast_channels_consumer_errors_total"
        and sample.labels.get("consumer") == consumer
    )


async def handshake_then_reset(port: int, gate: Gate) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    async with asyncio.timeout(WAIT):
        await gate.arrived.wait()
    # The reset reaches the server's socket at once (loopback); `go` is set in the next loop
    # turn, before the server reads the reset, so connect() resumes after the transport is
    # closing but before uvicorn has learnt the connection is lost.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    loop.call_soon(gate.go.set)
    async with asyncio.timeout(WAIT):
        await gate.done.wait()


@pytest.mark.parametrize("ws", ["websockets-sansio", "wsproto", wsprotocol.PROTOCOL])
async def test_a_client_gone_during_the_handshake_is_not_a_consumer_error(ws: str) -> None:
    if ws == "wsproto":
        pytest.importorskip("wsproto")
    gate = Gate()
    name = f"HeldConsumer{''.join(filter(str.isalnum, ws))}"
    consumer = type(name, (HeldConsumer,), {"gate": gate})
    before = errors(name)
    async with in_process(consumer.as_asgi(), ws) as port:
        await handshake_then_reset(port, gate)
    assert errors(name) == before
    assert gate.codes == [1006]  # closed abnormally: the client vanished
