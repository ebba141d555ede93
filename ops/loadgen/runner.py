"""The load run: N WebSocket clients in M rooms, sending at a total rate, measuring deliveries.

Each message carries `loadgen:<run>:<sender>:<seq>:<wall-clock ns>` in its payload key, so every
receiver computes the client → client delivery latency and which delivery it was. A message is
expected once by every member of the sender's room (the sender included) connected when it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from ops.loadgen.stats import Report, Stats, latency_summary, percentile

MARK = "loadgen"


@dataclass(frozen=True)
class Config:
    url: str  # a template with "{room}"
    clients: int
    rooms: int
    rate: float  # messages per second, all clients together
    duration: float
    key: str = "message"
    extra: dict[str, Any] = field(default_factory=dict)
    room_prefix: str = "loadgen"
    drain: float = 2.0
    connect_timeout: float = 10.0
    progress: TextIO | None = sys.stderr
    # Clients that reconnect and recover (fast_channels.client, ops/loadgen/recovering.py):
    # every member is expected to get every message of its room, across its reconnections.
    recover: bool = False

    def room(self, client: int) -> int:
        return client % self.rooms

    def room_url(self, room: int) -> str:
        return self.url.format(room=f"{self.room_prefix}-{room}")


class LoadRun:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.run_id = secrets.token_hex(4)
        self.stats = Stats(clients=config.clients)
        self.members = [0] * config.rooms
        self.seen: set[tuple[int, int, int]] = set()
        self.started = time.monotonic()
        self.closing = False
        self.sending_done = False
        self.all_delivered = asyncio.Event()

    async def run(self) -> Report:
        config = self.config
        budget = config.connect_timeout + config.duration + config.drain + 10
        async with asyncio.timeout(budget):
            sockets = await self._connect_all()
            readers = [asyncio.create_task(self._read(c, ws)) for c, ws in sockets.items()]
            progress = asyncio.create_task(self._report_progress())
            try:
                await self._send_all(sockets)
                await self._drain()
            finally:
                self.closing = True
                progress.cancel()
                await asyncio.gather(*(ws.close() for ws in sockets.values()))
                await asyncio.gather(*readers, progress, return_exceptions=True)
        self._print_progress()
        return self._report()

    async def _connect_all(self) -> dict[int, ClientConnection]:
        limit = asyncio.Semaphore(50)

        async def one(client: int) -> tuple[int, ClientConnection | None]:
            async with limit:
                url = self.config.room_url(self.config.room(client))
                try:
                    ws = await connect(url, open_timeout=self.config.connect_timeout)
                except (OSError, TimeoutError, WebSocketException) as error:
                    self.stats.connect_failed(f"{type(error).__name__}: {error}")
                    return client, None
                self.stats.connected += 1
                self.members[self.config.room(client)] += 1
                return client, ws

        pairs = await asyncio.gather(*(one(c) for c in range(self.config.clients)))
        return {client: ws for client, ws in pairs if ws is not None}

    async def _send_all(self, sockets: dict[int, ClientConnection]) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        end = start + self.config.duration
        if self.config.rate <= 0 or not sockets:
            await asyncio.sleep(self.config.duration)
            return
        interval = len(sockets) / self.config.rate
        await asyncio.gather(
            *(
                self._send(client, ws, start + index / self.config.rate, interval, end)
                for index, (client, ws) in enumerate(sockets.items())
            )
        )

    async def _send(
        self, client: int, ws: ClientConnection, at: float, interval: float, end: float
    ) -> None:
        loop, room, seq = asyncio.get_running_loop(), self.config.room(client), 0
        while at < end:
            await asyncio.sleep(max(0.0, at - loop.time()))
            tag = f"{MARK}:{self.run_id}:{client}:{seq}:{time.time_ns()}"
            expected = self.members[room]
            self.stats.sent += 1
            self.stats.expected += expected
            try:
                await ws.send(json.dumps({**self.config.extra, self.config.key: tag}))
            except ConnectionClosed:
                self.stats.sent -= 1
                self.stats.expected -= expected
                return
            seq += 1
            at += interval

    async def _read(self, client: int, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                self._on_frame(client, frame)
        except ConnectionClosed:
            pass
        if not self.closing:
            self.stats.disconnects += 1
            self.members[self.config.room(client)] -= 1

    def _on_frame(self, receiver: int, frame: str | bytes) -> None:
        try:
            content = json.loads(frame)
        except ValueError:
            return
        self._on_content(receiver, content)

    def _on_content(self, receiver: int, content: Any) -> None:
        tag = content.get(self.config.key) if isinstance(content, dict) else None
        if not isinstance(tag, str) or not tag.startswith(f"{MARK}:{self.run_id}:"):
            if isinstance(content, dict) and "error" in content:  # the server refused a frame
                self.stats.error_reply(str(content["error"]))
            return
        _, _, sender, seq, sent_ns = tag.split(":")
        key = (int(sender), int(seq), receiver)
        if key in self.seen:
            self.stats.duplicates += 1
            return
        self.seen.add(key)
        self.stats.delivered(max(0.0, (time.time_ns() - int(sent_ns)) / 1e9))
        if self.sending_done and self.stats.received >= self.stats.expected:
            self.all_delivered.set()

    async def _drain(self) -> None:
        """Waits for deliveries still in flight, at most `drain` seconds."""
        self.sending_done = True
        if self.stats.received >= self.stats.expected:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_delivered.wait(), self.config.drain)

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._print_progress()

    def _print_progress(self) -> None:
        if self.config.progress is None:
            return
        s, window = self.stats, self.stats.take_window()
        print(
            f"[{time.monotonic() - self.started:6.1f}s] clients {s.connected}/{s.clients}"
            f"  sent {s.sent}  received {s.received}/{s.expected}"
            f"  last 1s p50 {percentile(window, 0.5) * 1000:.2f} ms"
            f" p99 {percentile(window, 0.99) * 1000:.2f} ms",
            file=self.config.progress,
            flush=True,
        )

    def _report(self) -> Report:
        s, config = self.stats, self.config
        return Report(
            url=config.url,
            clients=config.clients,
            rooms=config.rooms,
            rate=config.rate,
            duration=config.duration,
            elapsed=round(time.monotonic() - self.started, 3),
            connected=s.connected,
            connect_errors=s.connect_errors,
            disconnects=s.disconnects,
            sent=s.sent,
            expected=s.expected,
            received=s.received,
            lost=max(0, s.expected - s.received),
            duplicates=s.duplicates,
            error_replies=s.error_replies,
            connect_failures=s.connect_failures,
            error_samples=s.error_samples,
            latency_s=latency_summary(s.latencies),
        )


async def run(config: Config) -> Report:
    """Runs one bounded load run against `config.url` and returns its report."""
    if config.recover:
        from ops.loadgen.recovering import RecoveringLoadRun

        return await RecoveringLoadRun(config).run()
    return await LoadRun(config).run()
