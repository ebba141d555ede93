"""/metrics under `uvicorn --workers 2` reports the sum over both workers."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import websockets

from tests.support.uvicorn_server import uvicorn_server


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
            for _ in range(60):
                ws = await stack.enter_async_context(websockets.connect(ws_url))
                pids.append(json.loads(await asyncio.wait_for(ws.recv(), 5))["pid"])
                if len(pids) >= 4 and len(set(pids)) == 2:
                    break
            assert len(set(pids)) == 2, f"all connections went to one worker: {set(pids)}"
            async with httpx.AsyncClient() as client:
                for _ in range(6):  # scrapes land on either worker: each must report the sum
                    text = (await client.get(f"{url}/metrics", timeout=5)).text
                    name = 'fast_channels_websocket_connections{consumer="PidConsumer"}'
                    assert gauge(text, name) == len(pids)
                    members = 'fast_channels_layer_group_members{layer="default"}'
                    assert gauge(text, members) == len(pids)
