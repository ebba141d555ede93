"""A process SIGKILLed with 100 group members (issue 16, item 6).

Three real processes hold 100 members each; one is SIGKILLed. Before, its members stayed for
`group_expiry` (24 h) and every later group_send counted 100 more `channel_full` (and, once its
queue's frames aged, dropped `expired`), firing alerts for a day with no consumer at fault. Now
its receive loop's lease ends within `process_lease`, the next group_send reaps its 100 members
(`layer_group_members_reaped_total{reason="process_dead"}`) and counts nothing for them; the
frames already queued for it are counted once, as expired, by whichever live process sweeps
first; the live processes' members receive every message.
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

from prometheus_client import REGISTRY

from fast_channels.layers.redis import RedisChannelLayer
from tests.support.redis_server import RedisServer

LEASE, EXPIRY = 4.0, 5.0
# Only the channels of the process that dies are small ("doomed.*"), so that they fill within a
# few sends; a live process that a loaded machine stalls for half a second must not count
# `channel_full` too, which would make the survivors' exact counts depend on the machine.
OPTIONS = {
    "capacity": 100, "channel_capacity": {"doomed.*": 5},
    "expiry": EXPIRY, "process_lease": LEASE,
}  # fmt: skip


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"fast_channels_{name}", labels) or 0.0


async def spawn_member(url: str, prefix: str, name: str = "specific") -> asyncio.subprocess.Process:
    args = [url, prefix, "room", "100", json.dumps(OPTIONS), name]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.member_process", *args,
        stdout=asyncio.subprocess.PIPE, env=dict(os.environ),
    )  # fmt: skip
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert line.strip() == b"ready", line
    return process


class Sender:
    def __init__(self, layer: RedisChannelLayer) -> None:
        self.layer, self.pings = layer, 0

    def count(self, name: str, **labels: str) -> float:
        return metric(name, layer=self.layer.alias, **labels)

    async def ping(self) -> None:
        await self.layer.group_send("room", {"type": "ping"})
        self.pings += 1


async def until_reaped(sender: Sender) -> None:
    """group_send every 0.1 s until the dead process's members are reaped (or 3 leases pass)."""
    deadline = time.monotonic() + 3 * LEASE
    while not sender.count("layer_group_members_reaped_total", reason="process_dead"):
        assert time.monotonic() < deadline, "the dead process's members were never reaped"
        await sender.ping()
        await asyncio.sleep(0.1)


async def report(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    await process.wait()
    result: dict[str, Any] = json.loads(line)
    return result


async def test_a_killed_process_is_reaped_within_its_lease(redis_server: RedisServer) -> None:
    prefix = f"death-{uuid.uuid4().hex[:8]}"
    layer = RedisChannelLayer(hosts=[redis_server.url], prefix=prefix, **OPTIONS)
    layer.bind_alias(f"death-{uuid.uuid4().hex[:8]}")
    sweeping = asyncio.create_task(layer.receive(await layer.new_channel()))
    members = [await spawn_member(redis_server.url, prefix, name) for name in ("doomed", "a", "b")]
    sender = Sender(layer)
    try:
        await sender.ping()
        assert sender.count("layer_messages_sent_total", op="group_send") == 300
        await asyncio.sleep(0.3)  # every process has taken and acknowledged it
        members[0].send_signal(signal.SIGKILL)
        await members[0].wait()
        killed_at = time.monotonic()
        for _ in range(10):
            await sender.ping()
        # The failure this fixes: the dead process's full channels are counted at every send.
        assert sender.count("layer_channel_full_total", op="group_send") > 0
        await until_reaped(sender)
        reaped_after = time.monotonic() - killed_at
        print(f"\nmembers of the killed process reaped {reaped_after:.2f} s after SIGKILL")
        assert reaped_after < LEASE + 1.0
        assert sender.count("layer_group_members_reaped_total", reason="process_dead") == 100

        full = sender.count("layer_channel_full_total", op="group_send")
        expired = sender.count("layer_messages_dropped_total", reason="expired")
        for _ in range(5):
            await sender.ping()
        assert sender.count("layer_channel_full_total", op="group_send") == full
        assert sender.count("layer_messages_dropped_total", reason="expired") == expired
        assert sender.count("layer_group_members_reaped_total", reason="process_dead") == 100
        assert await layer.shards.client(0).zcard(f"{prefix}:g:room") == 200

        # Frames that reached the dead process's queue expire and are swept: counted once.
        await asyncio.sleep(EXPIRY + 1.0)
        sent = sender.count("layer_messages_sent_total", op="group_send")
        to_dead = sent - 300 - 200 * (sender.pings - 1)
        await layer.group_send("room", {"type": "stop"})
        reports = [await report(process) for process in members[1:]]
        assert [r["pings"] for r in reports] == [100 * sender.pings] * 2
        swept = sum(r["expired"] for r in reports)
        swept += sender.count("layer_messages_dropped_total", reason="expired")
        print(f"frames for the dead process: {to_dead:.0f} deliveries, counted expired {swept:.0f}")
        assert to_dead > 0
        assert swept == to_dead
    finally:
        for process in members:
            if process.returncode is None:
                process.kill()
                await process.wait()
        sweeping.cancel()
        await layer.flush()
        await layer.close()


async def test_a_stalled_process_reaped_as_dead_rejoins_its_groups(
    redis_server: RedisServer,
) -> None:
    prefix = f"stall-{uuid.uuid4().hex[:8]}"
    layer = RedisChannelLayer(hosts=[redis_server.url], prefix=prefix, **OPTIONS)
    layer.bind_alias(f"stall-{uuid.uuid4().hex[:8]}")
    member = await spawn_member(redis_server.url, prefix, "doomed")
    sender = Sender(layer)
    group_key = f"{prefix}:g:room"
    try:
        member.send_signal(signal.SIGSTOP)  # its event loop stops, as in a long stall
        await until_reaped(sender)
        assert await layer.shards.client(0).zcard(group_key) == 0
        member.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + LEASE
        while await layer.shards.client(0).zcard(group_key) < 100:
            assert time.monotonic() < deadline, "the process did not rejoin after its stall"
            await asyncio.sleep(0.05)
        sent = sender.count("layer_messages_sent_total", op="group_send")
        await sender.ping()
        assert sender.count("layer_messages_sent_total", op="group_send") == sent + 100
        await layer.group_send("room", {"type": "stop"})
        result = await report(member)
        # Every delivery accepted for it arrived or was counted: none lost silently.
        assert result["pings"] + result["expired"] == sent + 100
    finally:
        if member.returncode is None:
            member.send_signal(signal.SIGCONT)
            member.kill()
            await member.wait()
        await layer.flush()
        await layer.close()
