"""A process with presence members in one group, driven by commands on stdin (issue 20 tests).

`python -m tests.support.presence_process URL PREFIX GROUP MEMBERS KIND OPTIONS_JSON`: KIND is
"queue" or "pubsub". Makes a watcher channel in the group's events group (recording every
event it gets) and MEMBERS channels that join the group's presence, then prints one JSON line
{"members": [...]}. Then, one JSON line per command:

  read           the group's presence as read here: {channel: info}
  events         the events the watcher got: [[type, channel, reason], ...]
  churn N        N joins or leaves (each flips a random channel of a pool of 64, 8 tasks at
                 once); then the pool channels this process holds: [channel, ...]
  quit           leave every presence, close the layer: "bye"
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from typing import Any

from fast_channels.layers.presence import events_group
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.layers.redis.common import RedisLayerBase

POOL, TASKS = 64, 8


class Member:
    def __init__(self, layer: RedisLayerBase, group: str) -> None:
        self.layer, self.group = layer, group
        self.events: list[list[Any]] = []
        self.name = f"p{os.getpid()}"

    async def watch(self, channel: str) -> None:
        while True:
            event = await self.layer.receive(channel)
            self.events.append([event["type"], event["channel"], event.get("reason")])

    async def churn(self, count: int, pool: list[str]) -> list[str]:
        held: set[str] = set()

        async def flip(channels: list[str], flips: int) -> None:
            for _ in range(flips):
                channel = random.choice(channels)
                if channel in held:
                    held.discard(channel)
                    await self.layer.presence_leave(self.group, channel)
                else:
                    held.add(channel)
                    await self.layer.presence_join(self.group, channel, {"name": channel[-6:]})

        share = len(pool) // TASKS
        parts = [pool[i * share : (i + 1) * share] for i in range(TASKS)]
        await asyncio.gather(*(flip(part, count // TASKS) for part in parts))
        return sorted(held)

    async def command(self, line: str, pool: list[str]) -> Any:
        name, _, argument = line.strip().partition(" ")
        if name == "read":
            return await self.layer.read_presence(self.group)
        if name == "events":
            return self.events
        if name == "churn":
            return await self.churn(int(argument), pool)
        raise ValueError(f"unknown command {line!r}")


async def main(url: str, prefix: str, group: str, count: int, kind: str, options: Any) -> None:
    cls = RedisChannelLayer if kind == "queue" else RedisPubSubChannelLayer
    layer = cls(hosts=[url], prefix=prefix, **options)
    layer.bind_alias("presence")
    member = Member(layer, group)
    watcher = await layer.new_channel()
    await layer.group_add(events_group(group), watcher)
    watching = asyncio.create_task(member.watch(watcher))
    members = [await layer.new_channel() for _ in range(count)]
    for index, channel in enumerate(members):
        await layer.presence_join(group, channel, {"name": f"{member.name}-{index}"})
    pool = [await layer.new_channel() for _ in range(POOL)]
    print(json.dumps({"members": members}), flush=True)
    loop = asyncio.get_running_loop()
    while (line := await loop.run_in_executor(None, sys.stdin.readline)).strip() != "quit":
        print(json.dumps(await member.command(line, pool)), flush=True)
    for channel in members + pool:
        await layer.presence_leave(group, channel)
    watching.cancel()
    await layer.close()
    print(json.dumps("bye"), flush=True)


if __name__ == "__main__":
    url, prefix, group, count, kind, options = sys.argv[1:7]
    asyncio.run(main(url, prefix, group, int(count), kind, json.loads(options)))
