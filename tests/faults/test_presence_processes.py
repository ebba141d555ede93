"""Presence across real processes (issue 20, "Done when").

- Three processes hold members of one group: each reads the same presence. One is
  SIGKILLed: its members leave everyone's presence once its lease ends (no later than two
  leases here: lease + lease/6 by design), and the two others' watchers get a presence.leave
  event with reason "process_dead" for each of them.
- Churn: two processes flip 30,000 entries in all (join or leave, 8 tasks each): the presence
  read at the end is exactly what the two hold, and once they leave no presence key is left.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from typing import Any

import pytest
import redis

from tests.support.redis_server import RedisServer

LEASE = 2.0
KINDS = ["queue", "pubsub"]


class PresenceProcess:
    """One tests.support.presence_process, spoken to line by line."""

    def __init__(self, process: asyncio.subprocess.Process, members: list[str]) -> None:
        self.process, self.members = process, members

    @classmethod
    async def start(cls, url: str, prefix: str, members: int, kind: str) -> PresenceProcess:
        options = json.dumps({"process_lease": LEASE})
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.support.presence_process",
            url, prefix, "room", str(members), kind, options,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=dict(os.environ),
        )  # fmt: skip
        started = cls(process, [])
        started.members = (await started.line())["members"]
        return started

    async def line(self) -> Any:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), 120)
        assert raw, "the presence process ended without answering"
        return json.loads(raw)

    async def ask(self, command: str) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()
        return await self.line()

    async def quit(self) -> None:
        assert await self.ask("quit") == "bye"
        await self.process.wait()


async def until_dead_left(process: PresenceProcess, dead: set[str]) -> list[list[Any]]:
    """The process's events once it got a process_dead leave for each of `dead` (delivery
    takes its own time after the read that reaped them)."""
    deadline = time.monotonic() + 10
    while True:
        events: list[list[Any]] = await process.ask("events")
        got = {channel for _, channel, why in events if why == "process_dead"}
        if got == dead:
            return events
        assert time.monotonic() < deadline, f"leave events missing for {dead - got}"
        await asyncio.sleep(0.1)


def presence_keys(server: RedisServer, prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(server.url)
    try:
        return sorted(client.scan_iter(match=f"{prefix}:{{g:*}}:p*", count=1000))
    finally:
        client.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_killed_process_leaves_everyones_presence(
    redis_server: RedisServer, kind: str
) -> None:
    prefix = f"presence-{uuid.uuid4().hex[:8]}"
    processes = [await PresenceProcess.start(redis_server.url, prefix, 20, kind) for _ in "abc"]
    live, killed = processes[:2], processes[2]
    try:
        everyone = {channel for process in processes for channel in process.members}
        reads = [await process.ask("read") for process in processes]
        assert all(set(read) == everyone for read in reads), "a process reads another presence"
        assert reads[0] == reads[1] == reads[2]
        killed.process.send_signal(signal.SIGKILL)
        await killed.process.wait()
        killed_at, survivors = time.monotonic(), everyone - set(killed.members)
        while set(await live[0].ask("read")) != survivors:
            assert time.monotonic() - killed_at < 2 * LEASE, "its members outlived its lease"
            await asyncio.sleep(0.1)
        assert set(await live[1].ask("read")) == survivors
        for process in live:
            events = await until_dead_left(process, set(killed.members))
            assert not any(why == "process_dead" and c in survivors for _, c, why in events)
    finally:
        for process in live:
            await process.quit()
    assert presence_keys(redis_server, prefix) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_churn_leaves_presence_exact_and_no_key_behind(
    redis_server: RedisServer, kind: str
) -> None:
    prefix = f"churn-{uuid.uuid4().hex[:8]}"
    processes = [await PresenceProcess.start(redis_server.url, prefix, 0, kind) for _ in "ab"]
    try:
        started = time.monotonic()
        held = await asyncio.gather(*(process.ask("churn 15000") for process in processes))
        elapsed = time.monotonic() - started
        print(f"30,000 presence joins/leaves in {elapsed:.1f}s ({30_000 / elapsed:.0f}/s)")
        expected = {channel for channels in held for channel in channels}
        assert expected, "the churn left nobody in: the end state proves little"
        for process in processes:
            assert set(await process.ask("read")) == expected
    finally:
        for process in processes:
            await process.quit()
    assert presence_keys(redis_server, prefix) == []
