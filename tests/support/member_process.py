"""A process holding group members on the queue layer, for tests that SIGKILL one.

`python -m tests.support.member_process URL PREFIX GROUP MEMBERS LAYER_OPTIONS_JSON [NAME]`:
makes MEMBERS channels (named `NAME.…`, "specific" by default), adds them to GROUP, prints
"ready" and receives on every channel. When every channel has received a "stop" message it
prints one JSON line — pings received, and the layer's expired drops counted here (its sweep may
count another process's frames) — and exits.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from prometheus_client import REGISTRY

from fast_channels.layers.redis import RedisChannelLayer


async def receive_until_stop(layer: RedisChannelLayer, channel: str, counts: list[int]) -> None:
    while True:
        message = await layer.receive(channel)
        if message["type"] == "stop":
            return
        counts[0] += 1


async def main(
    url: str, prefix: str, group: str, members: int, options: dict[str, Any], name: str
) -> None:
    layer = RedisChannelLayer(hosts=[url], prefix=prefix, **options)
    layer.bind_alias("member")
    channels = [await layer.new_channel(name) for _ in range(members)]
    for channel in channels:
        await layer.group_add(group, channel)
    counts = [0]
    tasks = [asyncio.create_task(receive_until_stop(layer, c, counts)) for c in channels]
    await asyncio.sleep(0.1)  # the receive loop runs and its first heartbeat is in
    print("ready", flush=True)
    await asyncio.gather(*tasks)
    labels = {"layer": "member", "reason": "expired"}
    expired = REGISTRY.get_sample_value("fast_channels_layer_messages_dropped_total", labels)
    print(json.dumps({"pings": counts[0], "expired": expired or 0}), flush=True)
    await layer.close()


if __name__ == "__main__":
    url, prefix, group, members, options = sys.argv[1:6]
    name = sys.argv[6] if len(sys.argv) > 6 else "specific"
    asyncio.run(main(url, prefix, group, int(members), json.loads(options), name))
