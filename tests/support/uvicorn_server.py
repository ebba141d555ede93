"""A real uvicorn server in a subprocess, serving an app given by import string."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import uvicorn

from tests.support.redis_server import free_port


def wait_for_port(
    port: int, timeout: float = 15.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def spawn_uvicorn(
    app: str, *args: str, env: dict[str, str] | None = None, port: int | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `uvicorn APP` on a free loopback port (or `port`: a server replaced in place, as
    behind tests/support/nginx.py) and wait until it listens."""
    port = free_port() if port is None else port
    command = [
        sys.executable, "-m", "uvicorn", app,
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *args,
    ]  # fmt: skip
    process = subprocess.Popen(command, env={**os.environ, **(env or {})})
    try:
        wait_for_port(port, process=process)
    except BaseException:
        stop(process)
        raise
    return process, port


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def uvicorn_server(app: str, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Yields the base URL (http://127.0.0.1:PORT) of `uvicorn APP`; stops it afterwards."""
    process, port = spawn_uvicorn(app, *args, env=env)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@asynccontextmanager
async def in_process(app: Any, ws: str | type[Any], **config: Any) -> AsyncIterator[int]:
    """A real uvicorn serving `app` in the test's own event loop (so the test reaches the
    server's objects) on a free loopback port, which it yields; WebSocket implementation `ws`,
    other uvicorn settings as keywords."""
    port = free_port()
    options: dict[str, Any] = {"log_level": "critical", "lifespan": "off", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, ws=ws, **options))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(15):
            while not server.started:  # noqa: ASYNC110 -- uvicorn offers no event for it
                await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
