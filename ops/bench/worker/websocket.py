"""End-to-end scenarios: a real uvicorn (server.py, its own process) and real WebSocket clients."""

from __future__ import annotations

import asyncio
import importlib
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rawws import connect_all
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


def cpu_split(pid: int) -> tuple[float, float]:
    """CPU time a process has used so far, (user, system) seconds, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick  # utime, stime


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def pinning() -> tuple[int | None, set[int]]:
    """The CPU the server is pinned to and the CPUs left for the clients (issue 22: "the
    server pinned to one core", every server alike, Node's threads included): the last CPU
    this process may use goes to the server, the others to this process. One CPU: no pinning."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, set(cpus)
    return cpus[-1], set(cpus[:-1])


class Server:
    """One server process: server.py under uvicorn, or the implementation's own command
    (`server_command`, Node Socket.IO's). `path` and `engineio` say how clients connect."""

    def __init__(self, impl: str, kind: str, url: str, cpu: int | None = None) -> None:
        self.port = free_port()
        module = None if impl in ("bare", "preframed") else importlib.import_module(f"impl_{impl}")
        command = getattr(module, "server_command", None)
        argv = (
            command(kind, self.port, url)
            if command
            else [sys.executable, str(HERE / "server.py"), impl, kind, str(self.port), url]
        )
        # The worker's own PYTHONPATH kept after HERE: ops.bench.compare puts the fast_channels
        # tree under test there, and the server must import that tree, not the venv's.
        inherited = os.environ.get("PYTHONPATH")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), inherited])))
        # preexec_fn: the affinity is set before exec, so every thread the server starts
        # (Node's, too) inherits it.
        pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
        self.process = subprocess.Popen(argv, env=env, preexec_fn=pin)
        self.path = getattr(module, "WS_PATH", "/ws")
        self.engineio = bool(getattr(module, "ENGINEIO", False))
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


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def e2e(
    impl: str, kind: str, url: str, clients: int, messages: int, timeout: float
) -> dict[str, Any]:
    """`clients` sockets in one group plus a broadcaster; at most 2 broadcasts in flight.
    The server is pinned to one CPU and this process (the clients) to the others."""
    raise_fd_limit()
    server_cpu, client_cpus = pinning()
    os.sched_setaffinity(0, client_cpus)
    load = os.getloadavg()[0]
    server = Server(impl, kind, url, server_cpu)
    try:
        await server.wait_ready()
        audience = clients + 1  # the broadcaster is a member too
        tally = Tally(audience * messages)

        def reader(index: int) -> Callable[[Any], None]:
            def on_message(body: Any) -> None:
                if body.get("type") == "fc.recovery":  # join_group's answer (history variants)
                    return
                tally.hit(body["t"], index, body["seq"])

            return on_message

        handlers = [reader(i) for i in range(audience)]
        sockets = await connect_all(
            "127.0.0.1", server.port, server.path, handlers, server.engineio
        )
        await asyncio.sleep(1.0 + clients / 2000)  # memberships and subscriptions land
        broadcaster = sockets[-1]
        split_before, own_before = cpu_split(server.process.pid), own_cpu_seconds()
        tally.start()
        try:
            async with asyncio.timeout(timeout):
                for seq in range(messages):
                    await tally.window(tally.sent, 2 * audience)
                    broadcaster.send({"seq": seq, "t": time.time(), "pad": PAD})
                    tally.sent += audience
        except TimeoutError:
            pass
        await tally.drain(max(2.0, timeout / 3))
        # The server's CPU per delivery: a figure the machine's other load moves less than
        # the rate (on 2 shared cores, the rate follows whatever else runs). The clients' own
        # CPU per delivery beside it: they must stay cheaper than any server, or they measure
        # themselves.
        split = [
            after - before
            for after, before in zip(cpu_split(server.process.pid), split_before, strict=True)
        ]
        cpu = sum(split)
        own = own_cpu_seconds() - own_before
        await _close_all(sockets)
        per = 1e6 / tally.delivered if tally.delivered else 0.0
        return tally.result(
            clients=clients,
            server_cpu_us=cpu * per,
            # Its system part apart: the socket writes, and waking clients that wait to read
            # (more of them the slower a server sends: a rate-dependent cost per delivery).
            server_sys_us=split[1] * per,
            client_cpu_us=own * per,
            server_cpu=-1 if server_cpu is None else server_cpu,
            load_before=load,
            deflate=int(broadcaster.inflate is not None),  # permessage-deflate agreed
            client_loop=type(asyncio.get_running_loop()).__module__.split(".")[0],
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
