"""Done when (issue 19), rolling restart: two demo servers on one Redis behind a real nginx,
CLIENTS Python clients (fast_channels.client) in one room and a broadcaster at 25 messages/s;
SIGTERM one server (its drain closes every socket with 1001), start it again once it has
exited, then the other: every client receives every accepted message exactly once, in order.

Needs the Redis layers' group history: skipped, with its reason, until RedisChannelLayer takes
`group_history`. Reconnect-to-recovered times (client side: from the close to the fc.recovery
answer of the next connection) are printed (`pytest -s`), not asserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from fast_channels.client import RecoveringClient, RecoveryOutcome, State
from tests.demo.stack import (
    REDIS_HISTORY_MISSING,
    Broadcaster,
    Stack,
    broadcasting,
    demo_stack,
    redis_history_available,
)
from tests.support.nginx import NGINX, SKIP_REASON
from tests.support.redis_server import RedisServer

pytestmark = [
    pytest.mark.skipif(NGINX is None, reason=SKIP_REASON),
    pytest.mark.skipif(not redis_history_available(), reason=REDIS_HISTORY_MISSING),
]
CLIENTS = int(os.environ.get("FAST_CHANNELS_ROLLING_CLIENTS", "500"))
PER_SECOND = 25
ROOM = "rolling"
GROUP = f"chat.{ROOM}"
TIMEOUT = 120.0


@dataclass
class Member:
    """One client and what it saw: chat messages in order, answers, when it lost its socket."""

    url: str
    client: RecoveringClient = field(init=False)
    received: list[str] = field(default_factory=list)
    outcomes: list[RecoveryOutcome] = field(default_factory=list)
    lost_at: float | None = None
    recovery_seconds: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = RecoveringClient(self.url, on_state=self.on_state)

    def on_state(self, state: State) -> None:
        if state is State.RECONNECTING and self.lost_at is None:
            self.lost_at = time.monotonic()

    async def follow(self) -> None:
        async for message in self.client:
            if isinstance(message, dict) and message.get("type") == "chat.message":
                self.received.append(message["message"])

    async def answers(self) -> None:
        async for outcome in self.client.recoveries():
            self.outcomes.append(outcome)
            if self.lost_at is not None:
                self.recovery_seconds.append(time.monotonic() - self.lost_at)
                self.lost_at = None


@asynccontextmanager
async def members(stack: Stack, count: int) -> AsyncIterator[list[Member]]:
    group: list[Member] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        for index in range(count):
            member = Member(f"{stack.proxy.ws}/ws/chat/{ROOM}?name=c{index}")
            group.append(member)
            await member.client.start()
            tasks += [asyncio.create_task(member.follow()), asyncio.create_task(member.answers())]
        yield group
    finally:
        for member in group:
            await member.client.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def wait_until(check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Polls: the condition spans hundreds of clients, no one event says it became true."""
    try:
        async with asyncio.timeout(timeout):
            while not check():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"not within {timeout}s: {what}") from None


def assert_exactly_once_in_order(member: Member, broadcaster: Broadcaster) -> None:
    assert len(member.received) == len(set(member.received)), "a message arrived twice"
    got = [m for m in member.received if m not in broadcaster.unsure]
    assert got == broadcaster.accepted


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


async def test_every_client_gets_every_message_once_in_order_across_a_rolling_restart(
    own_redis_server: RedisServer,
) -> None:
    with demo_stack("redis", own_redis_server.url) as stack:
        async with members(stack, CLIENTS) as group:
            await wait_until(lambda: all(m.outcomes for m in group), "every client joined")
            with broadcasting(stack, ROOM, PER_SECOND) as broadcaster:
                for index in range(len(stack.servers)):
                    await asyncio.sleep(3)
                    # In a thread: the clients must keep running while the server drains.
                    await asyncio.to_thread(stack.restart, index)
                await asyncio.sleep(3)
            last = broadcaster.accepted[-1]
            await wait_until(lambda: all(last in m.received for m in group), "the last message")
            for member in group:
                assert_exactly_once_in_order(member, broadcaster)
                again = [o for o in member.outcomes if o.connection > 1]
                assert again, "every client was moved by the restarts"
                assert all(o.recovered for o in again), again
    seconds = [s for m in group for s in m.recovery_seconds]
    print(
        f"\n{CLIENTS} clients, {len(broadcaster.accepted)} messages accepted, "
        f"{len(seconds)} recoveries: reconnect to recovered p50 {percentile(seconds, 50):.3f} s, "
        f"p99 {percentile(seconds, 99):.3f} s"
    )
