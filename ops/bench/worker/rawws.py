"""The end-to-end subscriber: a minimal WebSocket client on a raw asyncio socket, with an
Engine.IO v4 / Socket.IO mode for the Socket.IO servers (issue 22).

Why not a library: the 1,001 sockets live in one process, on one core, and must never be what
saturates first. websockets' Sans-I/O protocol cost ~21 µs per frame here, about what the bare
Starlette server costs, and Node Socket.IO spends ~5 µs per delivery. This client parses a
server frame's header by hand (server frames are unmasked), inflates permessage-deflate
messages with zlib, and hands each message's decoded JSON to a callback: a few µs per frame.
It offers permessage-deflate as browsers do (`client_max_window_bits`): each server answers
with its own default (uvicorn compresses; Socket.IO 4 does not), the same offer for every row.

Engine.IO v4 over the websocket transport (no polling): the server's open packet `0{...}` is
answered with the Socket.IO CONNECT `40`, its ack `40{...}` completes the handshake, a ping
`2` is answered with `3`, and an event `42["name",data]` hands `data` to the callback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import zlib
from collections.abc import Callable
from typing import Any

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
SYNC_TAIL = b"\x00\x00\xff\xff"  # RFC 7692: the tail the sender stripped from each message
OFFER = "permessage-deflate; client_max_window_bits"


class HandshakeError(ConnectionError):
    pass


def frame(opcode: int, payload: bytes) -> bytes:
    """One client frame, FIN set, masked (RFC 6455 requires clients to mask)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = int.from_bytes(mask * (n // 4 + 1), "big") >> (8 * (4 - n % 4))
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big") if n else b""
    return head + mask + masked


def parse_frames(buffer: bytearray) -> tuple[list[tuple[int, bool, bool, bytes]], int]:
    """The complete frames at the start of `buffer` as (opcode, fin, rsv1, payload), and how
    many bytes they took; a partial frame at the end stays for the next read."""
    frames, pos, end = [], 0, len(buffer)
    while end - pos >= 2:
        b0, b1 = buffer[pos], buffer[pos + 1]
        length, head = b1 & 0x7F, pos + 2
        if length == 126:
            if end - head < 2:
                break
            length, head = int.from_bytes(buffer[head : head + 2], "big"), head + 2
        elif length == 127:
            if end - head < 8:
                break
            length, head = int.from_bytes(buffer[head : head + 8], "big"), head + 8
        mask = b""
        if b1 & 0x80:  # servers must not mask; tolerated all the same
            mask, head = bytes(buffer[head : head + 4]), head + 4
        if end - head < length:
            break
        payload = bytes(buffer[head : head + length])
        if mask and length:
            key = int.from_bytes(mask * (length // 4 + 1), "big") >> (8 * (4 - length % 4))
            payload = (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big")
        frames.append((b0 & 0x0F, bool(b0 & 0x80), bool(b0 & 0x40), payload))
        pos = head + length
    return frames, pos


def _request(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Extensions: {OFFER}\r\n\r\n"
    ).encode()


class RawClient(asyncio.Protocol):
    """One WebSocket connection; `on_message` gets each text message's decoded JSON (in
    Engine.IO mode: each event's data). `opened` resolves once messages can flow."""

    def __init__(
        self, host: str, port: int, path: str, on_message: Callable[[Any], None], engineio: bool
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.on_message, self.engineio = on_message, engineio
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.inflate: Any = None  # a zlib decompressor when permessage-deflate was agreed
        self.reset_inflate = False  # server_no_context_takeover: a fresh one per message
        self.fragments: list[bytes] = []
        self.compressed = False
        self.pings = 0  # pings answered (Engine.IO `2`, or WebSocket ping frames)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        transport.write(_request(self.host, self.port, self.path))

    def data_received(self, data: bytes) -> None:
        # The common read: one whole small text frame, unmasked, FIN, nothing buffered. Up to
        # 125 bytes its length is in the second byte; up to 64 KiB in the next two (126): a
        # frame with "_pos" (~175 bytes uncompressed) is one of those.
        if not self.buffer and len(data) > 2 and self.upgraded and not self.fragments:
            start = 4 if data[1] == 126 else 2
            size = int.from_bytes(data[2:4], "big") if start == 4 else data[1]
            if size == len(data) - start:
                if data[0] == 0x81:  # a text message, uncompressed
                    self._message(data[start:])
                    return
                if data[0] == 0xC1 and not self.reset_inflate:  # the same, compressed (RSV1)
                    self._message(self.inflate.decompress(data[start:] + SYNC_TAIL))
                    return
        self.buffer += data
        if not self.upgraded and not self._handshake():
            return
        frames, used = parse_frames(self.buffer)
        del self.buffer[:used]
        for opcode, fin, rsv1, payload in frames:
            self._frame(opcode, fin, rsv1, payload)

    def _handshake(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = self.buffer[:end].decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        if not head[0].startswith("HTTP/1.1 101"):
            self._fail(HandshakeError(head[0]))
            return False
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-extensions" and "permessage-deflate" in value:
                self.inflate = zlib.decompressobj(-15)
                self.reset_inflate = "server_no_context_takeover" in value
        self.upgraded = True
        if not self.engineio:
            self._open()
        return True

    def _frame(self, opcode: int, fin: bool, rsv1: bool, payload: bytes) -> None:
        if opcode in (OP_TEXT, OP_BINARY):
            self.compressed = rsv1
        elif opcode == OP_PING:
            self.pings += 1
            self._write(OP_PONG, payload)
            return
        elif opcode == OP_CLOSE:
            self._write(OP_CLOSE, payload[:2])
            assert self.transport is not None
            self.transport.close()
            return
        elif opcode != OP_CONT:
            return  # a pong
        if not fin:
            self.fragments.append(payload)
            return
        if self.fragments:
            payload = b"".join([*self.fragments, payload])
            self.fragments.clear()
        if self.compressed:
            if self.reset_inflate:
                self.inflate = zlib.decompressobj(-15)
            payload = self.inflate.decompress(payload + SYNC_TAIL)
        self._message(payload)

    def _message(self, payload: bytes) -> None:
        if self.engineio:
            self._packet(payload)
        else:
            self.on_message(json.loads(payload))

    def _packet(self, packet: bytes) -> None:
        """One Engine.IO packet (a Socket.IO packet inside a `4` message)."""
        if packet[:2] == b"42":
            self.on_message(json.loads(packet[2:])[1])
        elif packet[:1] == b"2":
            self.pings += 1
            self._write(OP_TEXT, b"3" + packet[1:])
        elif packet[:1] == b"0":  # the open packet: connect to the default namespace
            self._write(OP_TEXT, b"40")
        elif packet.startswith(b"40"):
            self._open()
        elif packet.startswith((b"44", b"1", b"41")):
            self._fail(HandshakeError(f"Socket.IO refused or closed: {packet[:200]!r}"))

    def _open(self) -> None:
        if not self.opened.done():
            self.opened.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(opcode, payload))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, body: Any, event: str = "broadcast") -> None:
        """A text message: `body` as JSON, or in Engine.IO mode the event `event` carrying it."""
        data = json.dumps([event, body] if self.engineio else body).encode()
        self._write(OP_TEXT, b"42" + data if self.engineio else data)

    async def close(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self._write(OP_CLOSE, (1000).to_bytes(2, "big"))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), 5)
        except TimeoutError:
            self.transport.abort()


async def connect_all(
    host: str,
    port: int,
    path: str,
    handlers: list[Callable[[Any], None]],
    engineio: bool = False,
    parallel: int = 20,
) -> list[RawClient]:
    """One client per handler, `parallel` handshakes at a time (a burst of more than ~100
    made fast-channels 1.1.0's group_add fail: the same pace for every server)."""
    limit = asyncio.Semaphore(parallel)
    loop = asyncio.get_running_loop()

    async def one(on_message: Callable[[Any], None]) -> RawClient:
        async with limit:
            _, client = await loop.create_connection(
                lambda: RawClient(host, port, path, on_message, engineio), host, port
            )
            await asyncio.wait_for(client.opened, 60)
            return client

    return list(await asyncio.gather(*(one(handler) for handler in handlers)))
