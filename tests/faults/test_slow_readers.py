"""Clients that connect and never read, under a real uvicorn: with the "close" policy each is
closed once a send to it has blocked for send_timeout, counted reason="slow_consumer", while a
client that reads gets every broadcast; with "drop" they stay, their overflow counted. The
close policy on every layer kind: a send that blocks never holds up the reader, whatever feeds
the consumers (the sender's group_send, the queue layer's receive loop, the pub/sub reader)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import websockets

from fast_channels import wsprotocol
from tests.support.close_app import SEND_TIMEOUT
from tests.support.raw_ws import closed_within, handshake
from tests.support.scrape import get, post, sample, sample_once_at
from tests.support.uvicorn_server import uvicorn_server

READERS, SLOW = 1, 20
BURST, SIZE = 20, 20_000  # per POST /blast: 400 KB to each member


# uvicorn's own WebSocket protocol, and the kit's (which writes shared frames past its send
# while the buffer has room, and through it when full: wsprotocol.py).
WS = {"uvicorn": "websockets-sansio", "kit": wsprotocol.PROTOCOL}


@pytest.fixture(params=list(WS))
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    with uvicorn_server("tests.support.close_app:app", "--ws", WS[request.param]) as url:
        yield url, int(url.rsplit(":", 1)[1])


@pytest.fixture(params=["memory", "queue", "pubsub"])
def any_layer_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    env = {"CLOSE_APP_LAYER": request.param}
    if request.param != "memory":
        env["CLOSE_APP_REDIS"] = request.getfixturevalue("redis_server").url
    with uvicorn_server("tests.support.close_app:app", "--ws", WS["kit"], env=env) as url:
        yield url, int(url.rsplit(":", 1)[1])


class Blaster(threading.Thread):
    """Broadcasts bursts to a group until stopped; `sent` messages in all, numbered."""

    def __init__(self, url: str, group: str) -> None:
        super().__init__(daemon=True)
        self.url, self.group, self.sent = url, group, 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            post(f"{self.url}/blast?group={self.group}&n={BURST}&size={SIZE}&first={self.sent}")
            self.sent += BURST
            time.sleep(0.05)

    def stop(self) -> int:
        self.stopping.set()
        self.join()
        return self.sent


async def read_all(ws_url: str, ready: asyncio.Event, done: asyncio.Event) -> list[int]:
    """A client that reads everything until `done` is set and nothing came for 1 s."""
    got: list[int] = []
    async with websockets.connect(ws_url, max_size=None) as ws:
        ready.set()
        while True:
            try:
                frame = await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                if done.is_set():
                    return got
                continue
            got.append(int(str(frame).split(" ", 1)[0]))


async def run(
    url: str, port: int, consumer: str, seconds: float
) -> tuple[list[socket.socket], list[int], int, float]:
    """SLOW non-reading sockets and a reader on the path of `consumer` (a class of
    tests/support/close_app.py), broadcast to for `seconds` (or until every slow socket was
    closed): the sockets, what the reader got, how many were sent, how long it took."""
    path, group = f"/ws/{consumer.lower()}", consumer.lower()
    ready, done = asyncio.Event(), asyncio.Event()
    reader = asyncio.create_task(read_all(f"ws://127.0.0.1:{port}{path}", ready, done))
    await ready.wait()
    slow = [handshake(port, path, rcvbuf=4096) for _ in range(SLOW)]
    blaster = Blaster(url, group)
    started = time.monotonic()
    blaster.start()
    while time.monotonic() - started < seconds:
        await asyncio.sleep(0.2)
        closed = await asyncio.to_thread(
            sample, url, "websocket_connections_closed_total", consumer=consumer
        )
        if closed >= SLOW:
            break
    took = time.monotonic() - started
    sent = await asyncio.to_thread(blaster.stop)
    done.set()
    return slow, await reader, sent, took


@pytest.mark.timeout(90)
async def test_clients_that_never_read_are_closed_as_slow_consumers(
    any_layer_server: tuple[str, int],
) -> None:
    url, port = any_layer_server
    slow, got, sent, took = await run(url, port, "Closing", 20)
    try:
        # The reader, once done, closes with reason="normal"; its client may see the close
        # finish a moment before the server's disconnect handler counts it.
        closed = sample_once_at(
            url, "websocket_connections_closed_total", SLOW + READERS, 5, consumer="Closing"
        )
        assert closed == SLOW + READERS, closed
        counted = sample(
            url, "websocket_connections_closed_total", consumer="Closing", reason="slow_consumer"
        )
        assert counted == SLOW
        assert get(f"{url}/codes").count(["Closing", 1013]) == SLOW  # disconnect()'s code
        assert sample(url, "consumer_errors_total", consumer="Closing") == 0
        # Their sockets are gone on the server side (aborted: the client sees a reset).
        assert len(closed_within(slow, 10)) == SLOW
        assert got == list(range(sent))  # the reader got every broadcast, in order
        print(
            f"\n{SLOW} non-reading clients closed {took:.2f} s after the broadcasts began "
            f"(send_timeout {SEND_TIMEOUT} s); the reader got {len(got)}/{sent}"
        )
    finally:
        for sock in slow:
            sock.close()


@pytest.mark.timeout(90)
async def test_the_drop_policy_keeps_slow_clients_and_counts_their_overflow(
    server: tuple[str, int],
) -> None:
    url, port = server
    refused_before = sample(url, "layer_channel_full_total", op="group_send")
    slow, got, sent, _ = await run(url, port, "Dropping", 3)
    try:
        open_now = sample_once_at(url, "websocket_connections", SLOW, 5, consumer="Dropping")
        assert open_now == SLOW  # the reader is done
        closed = sample_once_at(
            url, "websocket_connections_closed_total", READERS, 5, consumer="Dropping"
        )
        assert closed == READERS
        # Their overflow is counted: the in-memory layer refuses a full member's message.
        refused = sample(url, "layer_channel_full_total", op="group_send") - refused_before
        assert refused > 0
        assert closed_within(slow, 0.5) == {}  # still open
        assert got == list(range(sent))
    finally:
        for sock in slow:
            sock.close()


@pytest.mark.timeout(90)
async def test_without_the_transport_a_slow_consumer_is_still_stopped(
    server: tuple[str, int],
) -> None:
    # Behind a middleware that wraps `receive`, the connection cannot be aborted: the
    # consumer is cancelled out of its send instead, and counted all the same.
    url, port = server
    slow, got, sent, _ = await run(url, port, "Wrapped", 20)
    try:
        counted = sample(
            url, "websocket_connections_closed_total", consumer="Wrapped", reason="slow_consumer"
        )
        assert counted == SLOW
        assert get(f"{url}/codes").count(["Wrapped", 1013]) == SLOW
        assert sample(url, "consumer_errors_total", consumer="Wrapped") == 0
        assert sample_once_at(url, "websocket_connections", 0, 5, consumer="Wrapped") == 0
        assert got == list(range(sent))
    finally:
        for sock in slow:
            sock.close()


class SlowReader(threading.Thread):
    """Reads its socket, but at most `rate` bytes/s: far slower than the broadcasts."""

    def __init__(self, sock: socket.socket, rate: int) -> None:
        super().__init__(daemon=True)
        self.sock, self.rate, self.read, self.stopping = sock, rate, 0, threading.Event()

    def run(self) -> None:
        chunk = self.rate // 20
        while not self.stopping.wait(0.05):
            try:
                data = self.sock.recv(chunk)
            except OSError:
                return
            if not data:
                return
            self.read += len(data)


@pytest.mark.timeout(90)
async def test_clients_that_read_too_slowly_are_closed_too(server: tuple[str, int]) -> None:
    # They read, but at half the rate they are sent to: their sends are held back all the
    # time and their buffers keep overflowing, so they are slow consumers too.
    url, port = server
    socks = [handshake(port, "/ws/closing") for _ in range(5)]
    readers = [SlowReader(sock, rate=3_000_000) for sock in socks]
    for reader in readers:
        reader.start()
    blaster = Blaster(url, "closing")
    blaster.start()
    try:
        started = time.monotonic()
        counted = 0.0
        while time.monotonic() - started < 20 and counted < len(socks):
            await asyncio.sleep(0.2)
            counted = await asyncio.to_thread(
                sample, url, "websocket_connections_closed_total", reason="slow_consumer"
            )
        took = time.monotonic() - started
        assert counted == len(socks)
        print(f"\n{len(socks)} clients reading ~3 MB/s of more closed after {took:.2f} s")
        assert all(reader.read > 0 for reader in readers)  # they did read
    finally:
        blaster.stop()
        for reader in readers:
            reader.stopping.set()
        for sock in socks:
            sock.close()
