"""What group history costs a group_send (README "Recovery"), history off against on.

    PYTHONPATH=$PWD .venv/bin/python -m ops.bench.history_cost [--rounds 5] [--members 1000]

For each layer kind (queue, pub/sub), rounds alternate off and on; each round builds a fresh
layer on a throwaway redis-server with `--members` local members in one group, group_sends
`--sends` 200-byte messages one after the other, and reads Redis's own time per script or
PUBLISH call (INFO commandstats, usec_per_call: the server's CPU, which drifts less than wall
time on a shared machine) and the sender's wall time per group_send. Prints the medians and the
median of the rounds' on/off ratios (report.paired_ratio's method). The receivers are not
read: what is measured is the send side, where history adds its work.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import redis

from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from ops.bench.harness import RedisServer

KINDS = {"queue": RedisChannelLayer, "pubsub": RedisPubSubChannelLayer}
COMMANDS = {"queue": "evalsha", "pubsub": "evalsha|publish"}


def server_usec_per_call(client: redis.Redis, commands: str) -> float:
    stats = client.info("commandstats")
    calls = usec = 0.0
    for name in commands.split("|"):
        entry = stats.get(f"cmdstat_{name}", {})
        calls += float(entry.get("calls", 0))
        usec += float(entry.get("usec", 0))
    return usec / calls if calls else 0.0


async def one_round(
    kind: str, url: str, history: bool, members: int, sends: int
) -> tuple[float, float]:
    """(Redis usec per call, sender's usec per group_send)."""
    options: dict[str, Any] = {"hosts": [url], "prefix": f"hc-{uuid.uuid4().hex[:6]}"}
    options["capacity"] = sends + 10
    if history:
        options["group_history"] = {"room": (1000, 300)}
    layer = KINDS[kind](**options)
    client = redis.Redis.from_url(url)
    try:
        for _ in range(members):
            await layer.group_add("room", await layer.new_channel())
        message = {"type": "chat.message", "user": "alice-1234", "text": "x" * 150}
        await layer.group_send("room", message)  # load the scripts, open the connections
        client.config_resetstat()
        started = time.perf_counter()
        for _ in range(sends):
            await layer.group_send("room", message)
        wall = (time.perf_counter() - started) / sends * 1e6
        usec = server_usec_per_call(client, COMMANDS[kind])
        await layer.flush()
    finally:
        client.close()
        await layer.close()
    return usec, wall


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--sends", type=int, default=300)
    options = parser.parse_args()
    server = RedisServer()
    try:
        print(
            f"G={options.members}, {options.sends} group_sends per round, {options.rounds} rounds"
        )
        print(f"{'layer':7} {'redis us/call off':>18} {'on':>8} {'ratio':>6} "
              f"{'send us off':>12} {'on':>8} {'ratio':>6}")  # fmt: skip
        for kind in KINDS:
            off: list[tuple[float, float]] = []
            on: list[tuple[float, float]] = []
            for index in range(options.rounds):
                for history in (False, True) if index % 2 == 0 else (True, False):
                    result = await one_round(
                        kind, server.url, history, options.members, options.sends
                    )
                    (on if history else off).append(result)
            redis_ratio = statistics.median(b[0] / a[0] for a, b in zip(off, on, strict=True))
            wall_ratio = statistics.median(b[1] / a[1] for a, b in zip(off, on, strict=True))
            print(
                f"{kind:7} {statistics.median(r[0] for r in off):>18.1f} "
                f"{statistics.median(r[0] for r in on):>8.1f} {redis_ratio:>6.2f} "
                f"{statistics.median(r[1] for r in off):>12.1f} "
                f"{statistics.median(r[1] for r in on):>8.1f} {wall_ratio:>6.2f}"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
