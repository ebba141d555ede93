"""Layer scenarios, written once against the channel-layer API every implementation shares."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tally import Tally, message, percentile

CAPACITY = 1_000_000  # throughput, not back-pressure: no implementation may refuse a message
SETTLE = 0.3  # pub/sub layers lose what is published before the subscription lands


class Layers:
    """Makes layer instances of one implementation and closes them all afterwards."""

    def __init__(self, impl: Any, kind: str, url: str, prefix: str) -> None:
        self.impl, self.kind, self.url, self.prefix = impl, kind, url, prefix
        self.made: list[Any] = []

    def new(self) -> Any:
        layer = self.impl.make_layer(self.kind, self.url, self.prefix, CAPACITY)
        self.made.append(layer)
        return layer

    async def close(self) -> None:
        for layer in self.made:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.impl.close(layer), 5)


def _fresh_heap() -> None:
    """Collect before the timed window, so every run starts it from the same heap state.

    Whether a full (generation 2) collection of the setup's thousands of tasks and channels
    lands inside a window of ~0.2 s otherwise depends on how many objects the imports made:
    a change that only added a module moved one into many_groups' window (p99 6x, rate 0.8x)
    with identical work per message (the same with the collector off). A collection the
    messages' own allocations cause still lands in the window, as it would in production.
    """
    gc.collect()


async def _gather_limited(calls: list[Callable[[], Awaitable[Any]]], limit: int = 50) -> None:
    for start in range(0, len(calls), limit):
        await asyncio.gather(*(call() for call in calls[start : start + limit]))


async def _receive(layer: Any, channel: str, tally: Tally, receiver: int) -> None:
    """Receive and count until cancelled by _drive()."""
    while True:
        try:
            msg = await layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            tally.error("receive", exc)
            await asyncio.sleep(0.01)
            continue
        tally.hit(msg["t"], receiver, msg["seq"])


async def _drive(
    tally: Tally, receivers: list[asyncio.Task[None]], sending: Awaitable[None], bound: Bound
) -> None:
    """Send for at most `bound.send` seconds, then drain; the receivers end with the run."""
    _fresh_heap()
    tally.start()
    try:
        async with asyncio.timeout(bound.send):
            await sending
    except TimeoutError:
        pass
    await tally.drain(bound.drain)
    for task in receivers:
        task.cancel()
    # Bounded: a peer's receive() may swallow the cancellation (fc 1.1.0 with 4 instances does).
    await asyncio.wait(receivers, timeout=5)


class Bound:
    """Each run sends for at most `send` seconds and then waits at most `drain` for delivery."""

    def __init__(self, timeout: float) -> None:
        self.send = timeout
        self.drain = max(2.0, timeout / 3)


# -- point to point --------------------------------------------------------------------------


async def p2p(layers: Layers, messages: int, senders: int, timeout: float) -> dict[str, Any]:
    layer = layers.new()
    channel = await layer.new_channel()
    tally = Tally(messages)
    receivers = [asyncio.create_task(_receive(layer, channel, tally, 0))]
    await asyncio.sleep(SETTLE)
    per_sender = messages // senders

    async def send(first: int) -> None:
        for seq in range(first, first + per_sender):
            await tally.window(tally.sent, 100)
            try:
                await layer.send(channel, message(seq))
                tally.sent += 1
            except Exception as exc:
                tally.error("send", exc)

    sending = asyncio.gather(*(send(i * per_sender) for i in range(senders)))
    await _drive(tally, receivers, sending, Bound(timeout))
    return tally.result(senders=senders)


async def pingpong(layers: Layers, rounds: int, timeout: float) -> dict[str, Any]:
    layer = layers.new()
    ping, pong = await layer.new_channel(), await layer.new_channel()

    async def echo() -> None:
        while True:
            await layer.send(ping, await layer.receive(pong))

    echoer = asyncio.create_task(echo())
    await asyncio.sleep(SETTLE)
    _fresh_heap()
    rtts: list[float] = []
    warmup = 50
    try:
        async with asyncio.timeout(timeout):
            for seq in range(rounds + warmup):
                started = time.perf_counter()
                await layer.send(pong, message(seq))
                await layer.receive(ping)
                if seq >= warmup:
                    rtts.append(time.perf_counter() - started)
    except TimeoutError:
        pass
    echoer.cancel()
    rtts.sort()
    return {
        "expected": rounds,
        "delivered": len(rtts),
        "lost": rounds - len(rtts),
        "rtt_p50_ms": percentile(rtts, 0.5) * 1000,
        "rtt_p99_ms": percentile(rtts, 0.99) * 1000,
        "rate": len(rtts) / max(sum(rtts), 1e-9),
    }


# -- groups ----------------------------------------------------------------------------------


async def _members(
    layers: Layers, instances: int, groups: list[str], per_group: int
) -> list[tuple[Any, str, str]]:
    """(layer, channel, group) for every member; members spread round robin over instances."""
    pool = [layers.new() for _ in range(instances)]
    members: list[tuple[Any, str, str]] = []
    index = 0
    for group in groups:
        for _ in range(per_group):
            layer = pool[index % instances]
            members.append((layer, await layer.new_channel(), group))
            index += 1
    await _gather_limited([lambda m=m: m[0].group_add(m[2], m[1]) for m in members])
    return members


async def fanout(
    layers: Layers, size: int, messages: int, instances: int, timeout: float
) -> dict[str, Any]:
    """One group of `size`; at most two group_sends in flight (window of 2 x size deliveries)."""
    members = await _members(layers, instances, ["bench-fanout"], size)
    sender = members[0][0]
    tally = Tally(size * messages)
    receivers = [
        asyncio.create_task(_receive(layer, channel, tally, i))
        for i, (layer, channel, _) in enumerate(members)
    ]
    await asyncio.sleep(SETTLE + size / 20_000)
    await _drive(
        tally,
        receivers,
        _broadcast(sender, ["bench-fanout"], messages, size, 2, tally),
        Bound(timeout),
    )
    return tally.result(group_size=size, instances=instances, messages=messages)


async def _broadcast(
    sender: Any, groups: list[str], messages: int, size: int, window: int, tally: Tally
) -> None:
    """group_send round robin over `groups` (of `size` members), `window` sends in flight."""
    for seq in range(messages):
        await tally.window(tally.sent, window * size)
        try:
            await sender.group_send(groups[seq % len(groups)], message(seq))
            tally.sent += size
        except Exception as exc:
            tally.error("send", exc)


async def many_groups(
    layers: Layers, groups: int, members: int, sends: int, timeout: float
) -> dict[str, Any]:
    """`groups` groups of `members`; group_send round robin, at most 200 sends in flight."""
    names = [f"bench-many-{i}" for i in range(groups)]
    everyone = await _members(layers, 1, names, members)
    sender = everyone[0][0]
    tally = Tally(sends * members)
    receivers = [
        asyncio.create_task(_receive(layer, channel, tally, i))
        for i, (layer, channel, _) in enumerate(everyone)
    ]
    await asyncio.sleep(SETTLE + len(everyone) / 20_000)
    await _drive(
        tally, receivers, _broadcast(sender, names, sends, members, 200, tally), Bound(timeout)
    )
    return tally.result(groups=groups, members=members)


async def commands(
    layers: Layers, url: str, size: int, instances: int, sends: int
) -> dict[str, Any]:
    """Redis commands per group_send: client-issued ones (MONITOR) and all (commandstats)."""
    import redis.asyncio as aioredis

    members = await _members(layers, instances, ["bench-cmds"], size)
    sender = members[0][0]
    await sender.group_send("bench-cmds", message(-1))  # load scripts, open connections
    admin = aioredis.Redis.from_url(url)
    await admin.config_resetstat()
    # redis-cli prints one line per command: "[db 127.0.0.1:port]" from a client, "[db lua]"
    # from inside a script. (redis-py's monitor() mis-parses multi-kilobyte EVAL lines.)
    port = str(admin.connection_pool.connection_kwargs.get("port", 6379))
    with tempfile.TemporaryFile("w+", errors="replace") as out:  # a pipe would fill and block
        command = ["stdbuf", "-oL", "redis-cli", "-p", port, "monitor"]
        monitor = subprocess.Popen(command, stdout=out)  # noqa: ASYNC220 - returns at once
        await asyncio.sleep(0.3)
        for seq in range(sends):
            await sender.group_send("bench-cmds", message(seq))
        await asyncio.sleep(0.5)
        monitor.terminate()
        monitor.wait()
        out.seek(0)
        lines = out.read().splitlines()
    stats = await admin.info("commandstats")
    await admin.aclose()
    by_command = {
        name.removeprefix("cmdstat_"): value["calls"]
        for name, value in stats.items()
        if not name.startswith(
            ("cmdstat_config", "cmdstat_info", "cmdstat_monitor", "cmdstat_hello")
        )
    }
    client = [line for line in lines if " lua]" not in line and "] " in line]
    names: dict[str, int] = {}
    for line in client:
        name = line.split("] ", 1)[1].split(" ", 1)[0].strip('"').lower()
        if name not in ("hello", "client", "info", "config"):
            names[name] = names.get(name, 0) + 1
    return {
        "group_size": size,
        "instances": instances,
        "client_commands": sum(names.values()) / sends,
        "client_by_command": {k: v / sends for k, v in sorted(names.items())},
        "all_commands": sum(by_command.values()) / sends,
        "all_by_command": {k: v / sends for k, v in sorted(by_command.items())},
        "expected": 0,
        "delivered": 0,
        "lost": 0,
    }
