"""The consumer-path micro benchmark runs and reports a figure (never a timed assertion)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", ["memory", "queue"])
def test_every_delivery_reaches_a_socket_and_a_cpu_figure_is_printed(
    kind: str, redis_server: RedisServer
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops.bench.consumer_path", "--kind", kind,
         "--redis", redis_server.url, "--consumers", "50", "--broadcasts", "20"],
        cwd=REPO, capture_output=True, text=True, timeout=100, check=True,
    )  # fmt: skip
    found = re.search(r"^(\w+): ([\d.]+) us of CPU per delivery", done.stdout, re.MULTILINE)
    assert found, done.stdout + done.stderr
    assert found.group(1) == kind
    assert float(found.group(2)) > 0
