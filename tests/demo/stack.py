"""Demo servers behind a real nginx, restartable in place, and a broadcaster that knows what
was accepted: the set-up of the recovery "Done when" tests (browser and Python clients).

The layer kind is a parameter: "in-memory" is one server (its layer cannot be shared between
processes); "redis" is two servers on one Redis.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.demo.conftest import DemoServer
from tests.support.nginx import Nginx


@dataclass
class Stack:
    """Demo servers (one per port, replaceable in place) behind one nginx."""

    layer: str
    servers: list[DemoServer]
    proxy: Nginx
    extra: tuple[str, ...]
    env: dict[str, str] | None = None  # the servers' extra environment

    def restart(self, index: int) -> None:
        """SIGTERM (the drain closes sockets with 1001), wait for the exit, start it again."""
        old = self.servers[index]
        old.stop()
        self.servers[index] = DemoServer(*self.extra, port=old.port, env=self.env)

    def stop_proxy(self) -> None:
        """Every client connection cut at once, new ones refused; the servers stay."""
        self.proxy.stop()

    def start_proxy(self) -> None:
        self.proxy = Nginx([s.port for s in self.servers], port=self.proxy.port)


@dataclass
class Broadcaster:
    """Posts numbered messages straight to the servers (a backend service, not behind the
    clients' proxy), in turn, until stopped: tests/support/broadcaster.py in its own process,
    its report read here as it comes. `accepted`: answered 202, so sent, in order; `unsure`:
    the request failed after it may have reached the server (may or may not have been sent)."""

    room: str
    ports: list[int]
    per_second: float
    in_flight: int = 1  # above 1: `accepted` is in no particular order (see the broadcaster)
    accepted: list[str] = field(default_factory=list)
    unsure: set[str] = field(default_factory=set)
    progress: threading.Event = field(default_factory=threading.Event)
    post_seconds: list[float] = field(default_factory=list)  # how long each post took
    refused = 0  # posts no server took (all refusing or draining): not sent, not expected
    started: float = 0.0
    stopped: float = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        command = [sys.executable, "-m", "tests.support.broadcaster", self.room,
                   str(self.per_second), str(self.in_flight), *map(str, self.ports)]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """The process's report, as it comes (in a thread), until it exits."""
        assert self.process.stdout is not None
        with self.process.stdout as report:
            for line in report:
                outcome, text, seconds = line.split()
                self.post_seconds.append(float(seconds))
                if outcome == "accepted":
                    self.accepted.append(text)
                    self.progress.set()
                elif outcome == "unsure":
                    self.unsure.add(text)
                else:
                    self.refused += 1
        self.stopped = time.monotonic()

    def stop(self) -> None:
        self.process.terminate()  # the post in flight is finished and reported
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)

    @property
    def rate(self) -> float:
        """Messages accepted per second while it ran."""
        return len(self.accepted) / max(self.stopped - self.started, 1e-9)


@contextlib.contextmanager
def demo_stack(
    layer: str, redis_url: str | None = None, env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """in-memory: one server; redis: two servers on the Redis at `redis_url`. `env`: the
    servers' extra environment (e.g. FAST_CHANNELS_GROUP_HISTORY)."""
    if layer == "in-memory":
        extra: tuple[str, ...] = ("--step-delay", "0.01")
        count = 1
    else:
        assert redis_url is not None
        extra, count = ("--redis-url", redis_url, "--no-worker"), 2
    servers: list[DemoServer] = []
    built = None
    try:
        for _ in range(count):
            servers.append(DemoServer(*extra, env=env))
        built = Stack(layer, servers, Nginx([s.port for s in servers]), extra, env)
        yield built
    finally:
        if built is not None:
            built.proxy.stop()
        for server in servers:
            server.stop()


@contextlib.contextmanager
def broadcasting(
    stack: Stack, room: str, per_second: float = 20, in_flight: int = 1
) -> Iterator[Broadcaster]:
    broadcaster = Broadcaster(room, [s.port for s in stack.servers], per_second, in_flight)
    broadcaster.start()
    try:
        yield broadcaster
    finally:
        broadcaster.stop()
