"""Done when (issue 19), rolling restart: two demo servers on one Redis behind a real nginx,
CLIENTS Python clients (fast_channels.client) in one room and a broadcaster at 25 messages/s;
SIGTERM one server (its drain closes every socket with 1001), start it again once it has
exited, then the other: every client receives every accepted message exactly once, in order.

CLIENTS is FAST_CHANNELS_ROLLING_CLIENTS, 500 by default (the "Done when" count; ~30 s here
when the machine is idle). Reconnect-to-recovered times, client side (from the close seen to
the fc.recovery answer of the next connection and its last replayed message), are printed
(`pytest -s`), not asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.demo.stack import broadcasting, demo_stack
from tests.recovery.crowd import (
    all_back,
    assert_exactly_once_in_room_order,
    everyone_saw,
    members,
    missing_report,
    percentile,
    wait_until,
)
from tests.support.nginx import NGINX, SKIP_REASON
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.skipif(NGINX is None, reason=SKIP_REASON)
CLIENTS = int(os.environ.get("FAST_CHANNELS_ROLLING_CLIENTS", "500"))
PER_SECOND = 25
# Posts that may overlap: one at a time, a post answered in ~45 ms by a loaded server (2 cores,
# 500 sockets) held the rate near 10/s; 8 ride through the slow posts of a drain too.
IN_FLIGHT = 8
ROOM = "rolling"
# The demo's rooms keep 100 messages: 4 s at 25/s. 500 clients reconnecting on a busy 2-core
# machine take longer than that (p99 5-11 s measured): those recoveries were, rightly,
# reported incomplete. A deployment sizes history to rate x time away (chart README), and so
# does this test, through the deployment's own setting (FAST_CHANNELS_GROUP_HISTORY).
HISTORY = {"FAST_CHANNELS_GROUP_HISTORY": "chat.*=5000:600"}


def record(figures: dict[str, float]) -> None:
    """FAST_CHANNELS_RECOVERY_RESULTS=path: the figures appended there, one JSON line a run."""
    path = os.environ.get("FAST_CHANNELS_RECOVERY_RESULTS")
    if path:
        with Path(path).open("a") as out:
            out.write(json.dumps(figures) + "\n")


@pytest.mark.timeout(900)  # 500 clients on 2 shared cores: minutes when the machine is busy
async def test_every_client_gets_every_message_once_in_order_across_a_rolling_restart(
    own_redis_server: RedisServer,
) -> None:
    with demo_stack("redis", own_redis_server.url, env=HISTORY) as stack:
        async with members(f"{stack.proxy.ws}/ws/chat/{ROOM}", CLIENTS) as group:
            await wait_until(lambda: all(m.outcomes for m in group), "every client joined")
            with broadcasting(stack, ROOM, PER_SECOND, IN_FLIGHT) as broadcaster:
                await asyncio.sleep(2)
                for index in range(len(stack.servers)):
                    # In a thread: the clients must keep running while the server drains.
                    await asyncio.to_thread(stack.restart, index)
                    await all_back(group)
                    await asyncio.sleep(2)  # live traffic on the new layout
            accepted = set(broadcaster.accepted)
            await wait_until(
                lambda: all(accepted <= set(m.received) for m in group),
                lambda: missing_report(group, accepted, everyone_saw(group)),
            )
            room_order: dict[str, int] = {}
            for member in group:
                assert_exactly_once_in_room_order(member, broadcaster, room_order)
                again = [o for o in member.outcomes if o.connection > 1]
                assert again, "every client was moved by the restarts"
                assert all(o.recovered for o in again), again
    seconds = [s for m in group for s in m.recovery_seconds()]
    figures = {
        "clients": CLIENTS,
        "accepted": len(broadcaster.accepted),
        "accepted_per_second": round(broadcaster.rate, 1),
        "unsure": len(broadcaster.unsure),
        "deliveries_checked": len(group) * len(broadcaster.accepted),
        "recoveries": len(seconds),
        "replayed": sum(r.outcome.replayed for m in group for r in m.recoveries),
        "recovered_p50_s": round(percentile(seconds, 50), 3),
        "recovered_p99_s": round(percentile(seconds, 99), 3),
        "recovered_max_s": round(max(seconds), 3),
    }
    print(f"\nrolling restart (close seen -> fc.recovery answer + replay done): {figures}")
    record(figures)
