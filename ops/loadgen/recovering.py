"""`--recover`: the load run with clients that reconnect and recover (fast_channels.client).

Each client is a RecoveringClient: after any close it reconnects with backoff and jitter and
resumes from its last positions, so a member is expected to get every message sent to its room
while it was a member, across its reconnections (a drain's 1001, a network drop). Sends wait
for a connection; nothing is un-expected when a socket drops. The report adds the fc.recovery
outcomes of reconnections (complete, incomplete): an incomplete one is where loss is allowed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import Counter
from typing import Any

from fast_channels.client import RecoveringClient
from ops.loadgen.runner import MARK, LoadRun
from ops.loadgen.stats import Report


class RecoveringLoadRun(LoadRun):
    _clients: list[RecoveringClient]
    _expected: dict[tuple[int, int], int]  # (sender, seq) -> members expected to get it

    async def _connect_all(self) -> dict[int, Any]:
        async def one(client: int) -> tuple[int, RecoveringClient | None]:
            url = self.config.room_url(self.config.room(client))
            recovering = RecoveringClient(url, open_timeout=self.config.connect_timeout)
            await recovering.start()
            try:
                await recovering.wait_open(self.config.connect_timeout)
            except TimeoutError:
                error = recovering.last_error
                self.stats.connect_failed(f"{type(error).__name__}: {error}")
                await recovering.close()
                return client, None
            self.stats.connected += 1
            self.members[self.config.room(client)] += 1
            return client, recovering

        pairs = await asyncio.gather(*(one(c) for c in range(self.config.clients)))
        opened = {client: ws for client, ws in pairs if ws is not None}
        self._clients = list(opened.values())
        self._expected = {}
        return opened

    async def _send(  # type: ignore[override]
        self, client: int, ws: RecoveringClient, at: float, interval: float, end: float
    ) -> None:
        loop, room, seq = asyncio.get_running_loop(), self.config.room(client), 0
        while at < end:
            await asyncio.sleep(max(0.0, at - loop.time()))
            tag = f"{MARK}:{self.run_id}:{client}:{seq}:{time.time_ns()}"
            self.stats.sent += 1
            self.stats.expected += self.members[room]  # recovering members get it all the same
            self._expected[(client, seq)] = self.members[room]
            await ws.send_json({**self.config.extra, self.config.key: tag})
            seq += 1
            at += interval

    async def _read(self, client: int, ws: RecoveringClient) -> None:  # type: ignore[override]
        async for content in ws:
            if isinstance(content, str | bytes):
                content = json.loads(content)
            self._on_content(client, content)

    def _report(self) -> Report:
        outcomes = [o for c in self._clients for o in c.outcomes if o.connection > 1]
        got = Counter((sender, seq) for sender, seq, _ in self.seen)
        recoveries = {
            "reconnections": sum(c.connections - 1 for c in self._clients),
            "complete": sum(o.recovered for o in outcomes),
            "incomplete": sum(not o.recovered for o in outcomes),
            # A chat frame lost with its sender's connection never reached the server (sends
            # are at most once): no member gets it. Recovery's failures are the messages that
            # reached some members but not all of them.
            "never_delivered": sum(1 for key in self._expected if not got[key]),
            "partly_delivered": sum(1 for k, n in self._expected.items() if 0 < got[k] < n),
        }
        return dataclasses.replace(super()._report(), recoveries=recoveries)
