"""Done when (issue 19), Redis restarted empty: recovery reports incomplete (the epoch changed)
and never claims completeness; end to end, with the Python client.

Two demo servers on one Redis behind nginx, clients behind a TCP proxy. The clients are cut
off; Redis restarts without its data (no persistence: every group's history and epoch gone);
messages are sent meanwhile; the clients come back with positions of the old epoch. Each must
be told "not recovered", with the new epoch, be handed what the new epoch holds, and resume
from there: the next drop recovers completely again.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.demo.stack import Stack, demo_stack
from tests.recovery.crowd import all_back, members, wait_until
from tests.recovery.test_network_drops import proxy_to
from tests.support.nginx import NGINX, SKIP_REASON
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.skipif(NGINX is None, reason=SKIP_REASON)
CLIENTS = 6
ROOM = "amnesia"
GROUP = f"chat.{ROOM}"


def send(stack: Stack, text: str, timeout: float = 30.0) -> None:
    """Posts until a server accepts it: right after Redis restarts, the servers answer 503
    until their connections are back (nothing was sent then)."""
    deadline = time.monotonic() + timeout
    while True:
        port = stack.servers[0].port
        url = f"http://127.0.0.1:{port}/api/rooms/{ROOM}/broadcast"
        try:
            if httpx.post(url, json={"message": text}, timeout=5).status_code == 202:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{text} never accepted"
        time.sleep(0.1)


def incomplete_recoveries(stack: Stack) -> float:
    """fast_channels_recoveries_total{outcome="incomplete"} over every server."""
    total = 0.0
    for server in stack.servers:
        text = httpx.get(f"{server.http}/metrics", timeout=5).text
        total += sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith('fast_channels_recoveries_total{outcome="incomplete"}')
        )
    return total


@pytest.mark.timeout(180)
async def test_a_redis_restarted_empty_is_never_taken_for_a_complete_recovery(
    own_redis_server: RedisServer,
) -> None:
    with demo_stack("redis", own_redis_server.url) as stack:
        async with proxy_to(stack.proxy.port) as proxy:
            url = f"ws://127.0.0.1:{proxy.port}/ws/chat/{ROOM}"
            async with members(url, CLIENTS, backoff_cap=1.0) as group:
                await wait_until(lambda: all(m.outcomes for m in group), "every client joined")
                for text in ("a1", "a2", "a3"):
                    await asyncio.to_thread(send, stack, text)
                await wait_until(lambda: all(len(m.received) == 3 for m in group), "a1..a3")
                (old_position,) = {m.client.positions[GROUP] for m in group}  # one for all
                assert old_position.offset == 3

                await proxy.drop()  # cut off, reconnections refused
                await asyncio.to_thread(own_redis_server.restart)  # back, empty
                for text in ("b1", "b2"):
                    await asyncio.to_thread(send, stack, text)
                await proxy.restore()
                await all_back(group)
                await wait_until(lambda: all(len(m.received) == 5 for m in group), "b1, b2")

                for member in group:
                    answer = member.outcomes[-1]
                    assert (answer.connection, answer.fresh) == (2, False)
                    assert answer.recovered is False  # never claimed: the history is gone
                    assert answer.position.epoch != old_position.epoch
                    assert answer.replayed == 2  # what the new epoch holds, shown all the same
                    assert member.received == ["a1", "a2", "a3", "b1", "b2"]
                    assert member.client.positions[GROUP].epoch == answer.position.epoch
                assert await asyncio.to_thread(incomplete_recoveries, stack) == CLIENTS

                # Resumed from the new epoch: the next drop recovers completely.
                await proxy.drop()
                await asyncio.to_thread(send, stack, "c1")
                await proxy.restore()
                await wait_until(lambda: all(len(m.received) == 6 for m in group), "c1")
                for member in group:
                    assert member.outcomes[-1].recovered is True
                    assert member.received[-1] == "c1"
