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


async def e2e(
    impl: str, kind: str, url: str, clients: int, messages: int, timeout: float
) -> dict[str, Any]:
    """`clients` sockets in one group plus a broadcaster; at most 2 broadcasts in flight."""
    raise_fd_limit()
    server = Server(impl, kind, url)
    try:
        await server.wait_ready()
        sockets = await _connect(server.url, clients + 1)
        audience = clients + 1  # the broadcaster is a member too
        tally = Tally(audience * messages)

        async def read(index: int, ws: Any) -> None:
            async for frame in ws:
                body = json.loads(frame)
                tally.hit(body["t"], (index, body["seq"]))

        readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
        await asyncio.sleep(1.0 + clients / 2000)  # memberships and subscriptions land
        broadcaster = sockets[-1]
        tally.start()
        try:
            async with asyncio.timeout(timeout):
                for seq in range(messages):
                    await tally.window(tally.sent, 2 * audience)
                    await broadcaster.send(json.dumps({"seq": seq, "t": time.time(), "pad": PAD}))
                    tally.sent += audience
        except TimeoutError:
            pass
        await tally.drain(max(2.0, timeout / 3))
        for reader in readers:
            reader.cancel()
        await _close_all(sockets)
        return tally.result(clients=clients)
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
