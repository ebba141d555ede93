"""One (implementation, scenario) in this interpreter's venv; prints one JSON line on stdout.

Run as a script (python ops/bench/worker/run.py ...), never as `-m ops.bench...`: the repository
root must not be on sys.path, or our fast_channels would shadow the peer's.
Usage: run.py IMPL KIND SCENARIO REDIS_URL PARAMS_JSON
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
from typing import Any

import scenarios
import websocket
from ceilings import AdjacentCeiling, redis_loops
from server import ws_unavailable

MARK = "BENCH-RESULT "


async def _flush(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    await client.flushall()
    await client.aclose()


async def _one(
    impl_name: str, kind: str, scenario: str, url: str, p: dict[str, Any], rep: int
) -> dict[str, Any]:
    if scenario == "ceilings":
        return await redis_loops(url, p["count"])
    if scenario == "e2e":
        return await websocket.e2e(impl_name, kind, url, p["clients"], p["messages"], p["timeout"])
    if scenario == "memory":
        return await websocket.memory(impl_name, kind, url, p["connections"])
    impl = importlib.import_module(f"impl_{impl_name}")
    layers = scenarios.Layers(impl, kind, url, f"bench{rep}")
    try:
        if scenario == "p2p":
            senders = p.get("senders", 1)
            if senders != 1:
                return await scenarios.p2p(layers, p["messages"], senders, p["timeout"])
            # One sender is held to the awaited-command ceiling, measured around the run.
            ceiling = AdjacentCeiling(url, kind)
            await ceiling.measure(warm_up=AdjacentCeiling.WARM_UP)
            result = await scenarios.p2p(layers, p["messages"], senders, p["timeout"])
            await ceiling.measure()
            return {**result, **ceiling.result(result["rate"])}
        if scenario == "pingpong":
            return await scenarios.pingpong(layers, p["rounds"], p["timeout"])
        if scenario == "fanout":
            return await scenarios.fanout(
                layers, p["size"], p["messages"], p["instances"], p["timeout"]
            )
        if scenario == "many_groups":
            return await scenarios.many_groups(
                layers, p["groups"], p["members"], p["sends"], p["timeout"]
            )
        if scenario == "commands":
            return await scenarios.commands(layers, url, p["size"], p["instances"], p["sends"])
        raise ValueError(f"unknown scenario {scenario!r}")
    finally:
        await layers.close()


async def main() -> None:
    impl_name, kind, scenario, url, params = sys.argv[1:6]
    p = json.loads(params)
    why = ws_unavailable()
    if impl_name not in ("raw", "bare", "preframed"):
        why = why or importlib.import_module(f"impl_{impl_name}").available(kind)
    if why:
        print(MARK + json.dumps({"skipped": why}), flush=True)
        return
    runs = []
    for rep in range(p.get("repeat", 3)):
        await _flush(url)
        started = time.perf_counter()
        result = await _one(impl_name, kind, scenario, url, p, rep)
        result["wall_seconds"] = round(time.perf_counter() - started, 3)
        runs.append(result)
        print(
            f"  {impl_name}-{kind} {scenario} run {rep + 1}: {_brief(result)}",
            file=sys.stderr,
            flush=True,
        )
    print(MARK + json.dumps({"runs": runs}), flush=True)


def _brief(result: dict[str, Any]) -> str:
    keys = (
        "rate",
        "p50_ms",
        "p99_ms",
        "rtt_p50_ms",
        "kb_per_connection",
        "client_commands",
        "lost",
    )
    return " ".join(f"{k}={result[k]:.4g}" for k in keys if isinstance(result.get(k), (int, float)))


def loop_factory() -> Any:
    """uvloop for the end-to-end clients when this venv has it (the project's does: uvicorn's
    "standard" extra): the 1,001 client sockets are read on one core, and the default loop's
    per-read overhead alone came near a fast server's cost per delivery. The layer scenarios
    keep asyncio's loop, which every peer runs on."""
    if len(sys.argv) > 3 and sys.argv[3] == "e2e":
        try:
            import uvloop
        except ImportError:
            return None
        return uvloop.new_event_loop
    return None


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main())
