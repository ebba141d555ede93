"""The kit's WebSocket protocol (fast_channels/wsprotocol.py), served by a real uvicorn in the
test's event loop and read by real clients: what every client reads is what uvicorn's own
websockets-sansio protocol gives for the same sends (shared texts, per-socket texts, binary
frames; 7-, 16- and 64-bit lengths; compressed or not), each shared text is framed once, a
send waits while the socket's write buffer is full, and a send to a gone client fails as it
does under uvicorn's protocol."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from uvicorn.protocols.utils import ClientDisconnected
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from fast_channels import frames, wsprotocol
from tests.support import broadcast_app
from tests.support.raw_ws import handshake
from tests.support.uvicorn_server import in_process

PLAIN = "websockets-sansio"  # uvicorn's own protocol, which ours extends
CLIENTS = 3


class Room(broadcast_app.Room):
    """The room of tests/support/broadcast_app.py, telling when its last socket has gone."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await super().__call__(scope, receive, send)
        if not any(self.sends):
            self.closed.set()


async def burst_read_by_all(clients: list[Any]) -> list[str]:
    """The first client asks for a burst; each reads exactly what the room sent it, in order;
    then all close. Returns the extensions each agreed (its Sec-WebSocket-Extensions)."""
    agreed = [c.response.headers.get("Sec-WebSocket-Extensions") or "" for c in clients]
    await clients[0].send("burst")
    for index, client in enumerate(clients):
        want = broadcast_app.expected(index)
        got = [await asyncio.wait_for(client.recv(), 10) for _ in want]
        assert got == want, f"client {index} ({agreed[index]})"
    for client in clients:
        await client.close()
    return agreed


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """Every frame frames.py builds (a spy: the real function runs)."""
    frames.forget()
    seen: list[bytes] = []
    real = frames.text_frame

    def text_frame(payload: bytes, window_bits: int = 0) -> bytes:
        seen.append(payload)
        return real(payload, window_bits)

    monkeypatch.setattr(frames, "text_frame", text_frame)
    yield seen
    frames.forget()


@pytest.mark.parametrize("deflate", [True, False], ids=["deflate", "nodeflate"])
@pytest.mark.parametrize("ws", [PLAIN, wsprotocol.PROTOCOL], ids=["uvicorn", "kit"])
@pytest.mark.timeout(60)
async def test_every_client_reads_what_was_sent_in_order(
    ws: str, deflate: bool, built: list[bytes]
) -> None:
    room = Room()
    async with in_process(room, ws, ws_per_message_deflate=deflate) as port:
        clients = [
            await websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None)
            for _ in range(CLIENTS)
        ]
        agreed = await burst_read_by_all(clients)
        await asyncio.wait_for(room.closed.wait(), 10)
    if not deflate:
        assert agreed == [""] * CLIENTS
    elif ws == PLAIN:
        assert all("permessage-deflate" in a and "no_context" not in a for a in agreed)
    else:  # ours agrees that no message is compressed against an earlier one
        assert all("server_no_context_takeover" in a for a in agreed), agreed
    if ws == PLAIN:
        assert built == []
    else:  # each shared text framed once; each socket's own text once per socket
        own = [f"own {index} {n}".encode() for n in range(len(room.texts)) for index in range(3)]
        shared = [text.encode() for text in room.texts]
        assert sorted(built) == sorted([*shared, *own, b"done"])
    # A send to a client that has closed fails alike on both protocols.
    assert [type(error) for error in room.after_close] == [ClientDisconnected] * CLIENTS


class Flood:
    """Sends numbered 20 KB texts to its one socket for as long as `running`."""

    def __init__(self) -> None:
        self.sent = 0
        self.running = True
        self.protocol: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        self.protocol = getattr(send, "__self__", None)  # uvicorn's protocol: its `writable`
        pad = "x" * 20_000
        while self.running:
            await send({"type": "websocket.send", "text": f"{self.sent:08d}{pad}"})
            self.sent += 1
            await asyncio.sleep(0)  # a send that does not wait never yields: the test's turn
        await receive()  # the client's going (it closes without a close frame)


def read_frames(sock: socket.socket, count: int) -> list[bytes]:
    """`count` unmasked, uncompressed server frames' payloads (no extension was offered)."""
    stream = sock.makefile("rb")
    payloads = []
    for _ in range(count):
        first, second = stream.read(2)
        assert first == 0x81, f"a final text frame expected, got {first:#x}"
        size = second & 0x7F
        if size >= 126:
            size = int.from_bytes(stream.read(2 if size == 126 else 8), "big")
        payloads.append(stream.read(size))
    return payloads


@pytest.mark.parametrize("ws", [PLAIN, wsprotocol.PROTOCOL], ids=["uvicorn", "kit"])
@pytest.mark.timeout(60)
async def test_sends_wait_while_a_client_does_not_read_and_nothing_is_lost(ws: str) -> None:
    """Writing past uvicorn's send would grow the server's buffer without bound and let a text
    overtake one waiting in uvicorn's send: the count of sends done must stop."""
    flood = Flood()
    async with in_process(flood, ws) as port:
        sock = await asyncio.to_thread(handshake, port, "/", 4096)
        try:
            await asyncio.sleep(1.0)  # the buffers fill, the transport pauses writing
            stalled_at = flood.sent
            await asyncio.sleep(1.0)
            assert flood.sent == stalled_at, "sends went on while the client read nothing"
            assert not flood.protocol.writable.is_set()
            # The client reads: everything sent arrives, in order, and the sends resume.
            first = await asyncio.to_thread(read_frames, sock, stalled_at + 50)
            assert [int(p[:8]) for p in first] == list(range(stalled_at + 50))
            async with asyncio.timeout(10):
                while flood.sent <= stalled_at + 50:  # noqa: ASYNC110 -- a counter, no event
                    await asyncio.sleep(0.01)
            flood.running = False
        finally:
            sock.close()


@pytest.mark.timeout(60)
async def test_clients_that_agreed_different_windows_or_none_read_the_same_broadcast(
    built: list[bytes],
) -> None:
    """One frame per text and per agreed window: a client may ask for a smaller window than
    uvicorn's 4 KB (server_max_window_bits, RFC 7692 7.1.2.1) or not compress at all."""
    room = Room()
    offers: list[Any] = [
        "deflate",
        [ClientPerMessageDeflateFactory(server_max_window_bits=9)],
        None,
    ]
    async with in_process(room, wsprotocol.PROTOCOL, ws_per_message_deflate=True) as port:
        clients = []
        for offer in offers:
            options: dict[str, Any] = {"compression": offer}
            if isinstance(offer, list):  # an offer of one's own, not websockets' default
                options = {"compression": None, "extensions": offer}
            clients.append(
                await websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None, **options)
            )
        agreed = await burst_read_by_all(clients)
    assert "server_max_window_bits=9" in agreed[1], agreed
    assert agreed[2] == ""
    # Each shared text framed three times: for the 4 KB window, the 512-byte one, and plain.
    shared = [text.encode() for text in room.texts]
    assert sorted(p for p in built if p in shared) == sorted(shared * 3)
