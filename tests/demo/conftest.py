"""The demo as users run it: `python -m fast_channels demo` under a real uvicorn, on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.redis_server import free_port
from tests.support.uvicorn_server import stop

START_TIMEOUT = 20.0


class DemoProcess:
    """One `python -m fast_channels <args>` subprocess, its output kept in a file for failures."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.log = Path(tempfile.mkstemp(prefix="fc-demo-", suffix=".log")[1])
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fast_channels", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env} if env else None,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        stop(self.process)
        self.log.unlink(missing_ok=True)


class DemoServer(DemoProcess):
    def __init__(
        self, *extra: str, port: int | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port() if port is None else port
        super().__init__(
            "demo", "--port", str(self.port), "--log-level", "warning", *extra, env=env
        )
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"demo exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.http}/api/info", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"demo did not answer within {START_TIMEOUT}s:\n{self.output()}")


@pytest.fixture(scope="module")
def demo_server() -> Iterator[DemoServer]:
    """The in-memory demo with its in-process worker; fast job steps keep the tests short."""
    server = DemoServer("--step-delay", "0.01")
    try:
        yield server
    finally:
        server.stop()
