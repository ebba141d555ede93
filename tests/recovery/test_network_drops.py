"""Done when (issue 19), network drops: the clients' connections cut by a proxy for 2 s, ten
times, while a broadcaster sends: 100% delivered, 0 duplicates, in order.

Clients -> a TCP proxy (tests/support/tcp_proxy.py: resets every connection, refuses new ones
for the 2 s) -> nginx -> the demo servers; the broadcaster posts to the servers directly (a
backend service, not on the clients' network). The layer kind is a parameter: Redis (two
servers on one Redis) and in-memory (one server).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.demo.stack import broadcasting, demo_stack
from tests.recovery.crowd import (
    Member,
    all_back,
    assert_exactly_once_in_room_order,
    everyone_saw,
    members,
    missing_report,
    wait_until,
)
from tests.support.nginx import NGINX, SKIP_REASON
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.skipif(NGINX is None, reason=SKIP_REASON)
CLIENTS = int(os.environ.get("FAST_CHANNELS_DROP_CLIENTS", "50"))
DROPS, DROP_SECONDS = 10, 2.0
PER_SECOND = 20


@asynccontextmanager
async def proxy_to(port: int) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


def delivered(group: list[Member], accepted: list[str]) -> float:
    """Of every (client, accepted message) pair, the share that arrived."""
    wanted = set(accepted)
    return sum(len(wanted & set(m.received)) for m in group) / (len(group) * len(wanted))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("layer", ["redis", "in-memory"])
async def test_ten_drops_of_two_seconds_lose_and_repeat_nothing(
    layer: str, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("own_redis_server").url if layer == "redis" else None
    room = f"drops-{layer}"
    with demo_stack(layer, redis_url) as stack:
        async with proxy_to(stack.proxy.port) as proxy:
            url = f"ws://127.0.0.1:{proxy.port}/ws/chat/{room}"
            # A phone's client: reconnection attempts back off up to 2 s, not the default 10.
            async with members(url, CLIENTS, backoff_cap=2.0) as group:
                await wait_until(lambda: all(m.outcomes for m in group), "every client joined")
                with broadcasting(stack, room, PER_SECOND) as broadcaster:
                    for _ in range(DROPS):
                        await asyncio.sleep(1)
                        await proxy.cut(DROP_SECONDS)
                        await all_back(group)
                    await asyncio.sleep(1)
                accepted = set(broadcaster.accepted)
                await wait_until(
                    lambda: all(accepted <= set(m.received) for m in group),
                    lambda: missing_report(group, accepted, everyone_saw(group)),
                )
    room_order: dict[str, int] = {}
    for member in group:
        assert_exactly_once_in_room_order(member, broadcaster, room_order)
        sure = [text for text in member.received if text not in broadcaster.unsure]
        assert sure == broadcaster.accepted  # one post at a time: the order they were accepted
        again = [o for o in member.outcomes if o.connection > 1]
        assert len(again) >= DROPS, "each drop cut every client"
        assert all(o.recovered for o in again), again
    share = delivered(group, broadcaster.accepted)
    assert share == 1.0
    replayed = sum(r.outcome.replayed for m in group for r in m.recoveries)
    print(
        f"\n{layer}: {CLIENTS} clients, {DROPS} drops of {DROP_SECONDS:g} s, "
        f"{len(broadcaster.accepted)} messages accepted, {len(group) * len(accepted)} "
        f"deliveries: {share:.1%} delivered, 0 duplicates, {replayed} replayed"
    )
