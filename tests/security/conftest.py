from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.redis_server import free_port
from tests.support.uvicorn_server import stop, wait_for_port


@dataclass
class Server:
    base: str  # host:port
    output: Path  # the server's stdout and stderr, for the log checks

    def log(self) -> str:
        return self.output.read_text(errors="replace")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """tests.security.app under uvicorn at its default log level, its output in a file."""
    output = tmp_path_factory.mktemp("uvicorn") / "output.log"
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "tests.security.app:app",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with output.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process=process)
        yield Server(f"127.0.0.1:{port}", output)
    finally:
        stop(process)
