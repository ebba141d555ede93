"""/metrics under `uvicorn --workers 2` reports the sum over both workers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import websockets

from tests.support.redis_server import RedisServer, free_port
from tests.support.uvicorn_server import stop, uvicorn_server, wait_for_port


def gauge(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the exposition")


async def test_metrics_sum_over_two_workers(tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with uvicorn_server("tests.support.metrics_app:app", "--workers", "2", env=env) as url:
        ws_url = url.replace("http://", "ws://") + "/ws"
        async with AsyncExitStack() as stack:
            pids: list[int] = []
            # The kernel spreads connections over the workers; open until both served some.
            # A worker still starting (a loaded machine) accepts none: pause between opens.
            for _ in range(150):
                ws = await stack.enter_async_context(websockets.connect(ws_url))
                pids.append(json.loads(await asyncio.wait_for(ws.recv(), 5))["pid"])
                if len(pids) >= 4 and len(set(pids)) == 2:
                    break
                await asyncio.sleep(0.1)
            assert len(set(pids)) == 2, f"all connections went to one worker: {set(pids)}"
            async with httpx.AsyncClient() as client:
                for _ in range(6):  # scrapes land on either worker: each must report the sum
                    text = (await client.get(f"{url}/metrics", timeout=5)).text
                    name = 'fast_channels_websocket_connections{consumer="PidConsumer"}'
                    assert gauge(text, name) == len(pids)
                    members = 'fast_channels_layer_group_members{layer="default"}'
                    assert gauge(text, members) == len(pids)


def test_workers_under_multiprocess_mode_start_and_drain_cleanly(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The chart's set-up (app.workers > 1): the demo app on the Redis layer, 2 workers."""
    port = free_port()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "FAST_CHANNELS_REDIS_URL": redis_server.url,
        "FAST_CHANNELS_DRAIN_TIMEOUT": "2",
    }
    command = [
        sys.executable, "-m", "uvicorn", "fast_channels.demo.app:create_app", "--factory",
        "--workers", "2", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with (tmp_path / "server.log").open("w+b") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, process=process)
            text = ""
            for _ in range(100):  # until both workers are up and registered their layer
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                if len(list(tmp_path.glob("counter_*.db"))) >= 2 and 'layer="default"' in text:
                    break
                time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        finally:
            stop(process)
        log.seek(0)
        output = log.read().decode(errors="replace")
    assert 'layer="default"' in text
    # Zero-valued series of the class name beside the alias's: made before registration.
    assert 'layer="RedisChannelLayer"' not in text
    assert "Warning" not in output, output  # "Removal of labels ... multi-process mode"
    # Counted in the text, not per line: the two workers share stdout, and their lines can
    # land on one line when they write at the same instant.
    drained = re.findall(r"\] drained ", output)
    assert len(drained) == 2, output  # one per worker and SIGTERM, not two
