"""A real uvicorn server in a subprocess, serving an app given by import string."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

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
