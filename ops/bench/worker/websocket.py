"""End-to-end scenarios: a real uvicorn (server.py, its own process) and real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tally import PAD, Tally

HERE = Path(__file__).resolve().parent


def raise_fd_limit() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Server:
    def __init__(self, impl: str, kind: str, url: str) -> None:
        self.port = free_port()
        env = dict(os.environ, PYTHONPATH=str(HERE))
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "server.py"), impl, kind, str(self.port), url], env=env
        )
        self.url = f"ws://127.0.0.1:{self.port}/ws"

    async def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise RuntimeError("server did not listen in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def _connect(url: str, count: int, parallel: int = 20) -> list[Any]:
    from websockets.asyncio.client import connect

    limit = asyncio.Semaphore(parallel)

    async def one() -> Any:
        async with limit:
            return await connect(url, ping_interval=None, max_queue=None, open_timeout=60)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _close_all(sockets: list[Any]) -> None:
    for start in range(0, len(sockets), 500):
        await asyncio.gather(
            *(ws.close() for ws in sockets[start : start + 500]), return_exceptions=True
        )


def _sansio() -> None:
    """Import what LeanClient uses per frame once, as globals: an import statement in
    data_received costs a microsecond per call (and websockets stays optional for run.py)."""
    global _FRAME, _TEXT_OPCODES
    from websockets.frames import Frame, Opcode

    _FRAME, _TEXT_OPCODES = Frame, (Opcode.TEXT, Opcode.CONT)


_FRAME: Any = None
_TEXT_OPCODES: tuple[Any, ...] = ()


class LeanClient(asyncio.Protocol):
    """One client socket driven by websockets' Sans-I/O protocol, frames handled as they are
    read. websockets.asyncio gives each socket a reader task, an assembler and a queue: at
    ~25 µs of Python per frame, 1,000 of them in one process were what limited the bare
    server's ceiling (the client at 100% of a core, the server at ~80%). Same handshake and
    permessage-deflate as `websockets.asyncio.client.connect`, for every implementation."""

    def __init__(self, url: str, on_text: Callable[[bytes], None]) -> None:
        from websockets.client import ClientProtocol
        from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
        from websockets.uri import parse_uri

        self.protocol = ClientProtocol(
            parse_uri(url), extensions=enable_client_permessage_deflate(None), max_size=None
        )
        self.on_text = on_text
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._fragments: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._write()

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, _FRAME):
                if event.opcode not in _TEXT_OPCODES:
                    continue  # pings are answered by the protocol; close is handled by it
                if event.fin and not self._fragments:
                    self.on_text(event.data)
                elif event.fin:
                    self.on_text(b"".join([*self._fragments, event.data]))
                    self._fragments.clear()
                else:
                    self._fragments.append(event.data)
            elif not self.opened.done():  # the handshake's response
                if protocol.handshake_exc is not None:
                    self.opened.set_exception(protocol.handshake_exc)
                else:
                    self.opened.set_result(None)
        self._write()

    def _write(self) -> None:
        assert self.transport is not None
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send_text(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self._write()

    async def close(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.protocol.send_close()
        self._write()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), 5)
        except TimeoutError:
            self.transport.abort()


async def _connect_lean(
    url: str, handlers: list[Callable[[bytes], None]], parallel: int = 20
) -> list[LeanClient]:
    from websockets.uri import parse_uri

    _sansio()
    uri = parse_uri(url)
    limit = asyncio.Semaphore(parallel)
    loop = asyncio.get_running_loop()

    async def one(on_text: Callable[[bytes], None]) -> LeanClient:
        async with limit:
            _, client = await loop.create_connection(
                lambda: LeanClient(url, on_text), uri.host, uri.port
            )
            await asyncio.wait_for(client.opened, 60)
            return client

    return list(await asyncio.gather(*(one(handler) for handler in handlers)))


async def e2e(
    impl: str, kind: str, url: str, clients: int, messages: int, timeout: float
) -> dict[str, Any]:
    """`clients` sockets in one group plus a broadcaster; at most 2 broadcasts in flight."""
    raise_fd_limit()
    server = Server(impl, kind, url)
    try:
        await server.wait_ready()
        audience = clients + 1  # the broadcaster is a member too
        tally = Tally(audience * messages)

        def reader(index: int) -> Callable[[bytes], None]:
            def on_text(frame: bytes) -> None:
                body = json.loads(frame.decode())  # a str skips json's encoding detection
                tally.hit(body["t"], index, body["seq"])

            return on_text

        sockets = await _connect_lean(server.url, [reader(i) for i in range(audience)])
        await asyncio.sleep(1.0 + clients / 2000)  # memberships and subscriptions land
        broadcaster = sockets[-1]
        cpu_before = cpu_seconds(server.process.pid)
        tally.start()
        try:
            async with asyncio.timeout(timeout):
                for seq in range(messages):
                    await tally.window(tally.sent, 2 * audience)
                    broadcaster.send_text(json.dumps({"seq": seq, "t": time.time(), "pad": PAD}))
                    tally.sent += audience
        except TimeoutError:
            pass
        await tally.drain(max(2.0, timeout / 3))
        # The server's CPU per delivery: a figure the machine's other load moves less than
        # the rate (on 2 shared cores, the rate follows whatever else runs).
        cpu = cpu_seconds(server.process.pid) - cpu_before
        await _close_all(sockets)
        return tally.result(
            clients=clients, server_cpu_us=cpu / tally.delivered * 1e6 if tally.delivered else 0
        )
    finally:
        server.stop()


async def memory(impl: str, kind: str, url: str, connections: int) -> dict[str, Any]:
    """Server RSS growth per idle connection (consumer joined to a group, layer attached)."""
    hard = raise_fd_limit()
    connections = min(connections, hard - 500)
    server = Server(impl, kind, url)
    try:
        await server.wait_ready()
        warm = await _connect(server.url, 100)  # imports, pools, first-connection caches
        await asyncio.sleep(1.0)
        before = rss_kb(server.process.pid)
        sockets = await _connect(server.url, connections)
        await asyncio.sleep(3.0)
        after = rss_kb(server.process.pid)
        await _close_all(sockets + warm)
        return {
            "connections": connections,
            "rss_before_kb": before,
            "rss_after_kb": after,
            "kb_per_connection": (after - before) / connections,
            "expected": 0,
            "delivered": 0,
            "lost": 0,
        }
    finally:
        server.stop()
