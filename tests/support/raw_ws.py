"""Raw TCP clients for what a WebSocket library will not do: stop mid-handshake, stop reading,
send unmasked frames or bad opcodes, vanish with a TCP reset."""

from __future__ import annotations

import base64
import os
import select
import socket
import struct
import time

# What a client that never completes its request may have sent.
UNFINISHED_HEADS = (b"", b"GET /ws HT", b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")


def handshake(port: int, path: str, rcvbuf: int | None = None) -> socket.socket:
    """A WebSocket opened by hand (101 checked); `rcvbuf` shrinks its receive buffer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError(f"closed during the handshake: {head!r}")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {head!r}")
    return sock


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0): the client vanishes, no close frame."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def masked_frame(opcode: int, payload: bytes = b"", mask: bool = True) -> bytes:
    """One final client frame (payload under 126 bytes); mask=False breaks RFC 6455 5.1."""
    if len(payload) >= 126:
        raise ValueError(f"payload of at most 125 bytes expected, got {len(payload)}")
    if not mask:
        return bytes([0x80 | opcode, len(payload)]) + payload
    key = os.urandom(4)
    body = bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + body


def closed_within(socks: list[socket.socket], timeout: float) -> dict[socket.socket, float]:
    """When (time.monotonic()) each socket was closed by the server (EOF or reset), reading
    and discarding whatever came first; sockets still open after `timeout` are left out."""
    started, closed = time.monotonic(), {}
    open_socks = list(socks)
    while open_socks and time.monotonic() - started < timeout:
        readable, _, _ = select.select(open_socks, [], [], 0.05)
        for sock in readable:
            try:
                data = sock.recv(1 << 20)
            except ConnectionResetError:
                data = b""
            if not data:
                closed[sock] = time.monotonic()
                open_socks.remove(sock)
    return closed


def extensions_answered(port: int, path: str) -> str:
    """The server's Sec-WebSocket-Extensions to a handshake offering permessage-deflate as
    browsers do ("" if it answers none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, f"closed during the handshake: {head!r}"
            head += chunk
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 101"), lines[0]
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return {name.lower(): value.strip() for name, value in headers.items()}.get(
        "sec-websocket-extensions", ""
    )
