"""Demo servers behind a real nginx, restartable in place, and a broadcaster that knows what
was accepted: the set-up of the recovery "Done when" tests (browser and Python clients).

The layer kind is a parameter: "in-memory" is one server (its layer cannot be shared between
processes); "redis" is two servers on one Redis, and needs the Redis layers' group history.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from tests.demo.conftest import DemoServer
from tests.support.nginx import Nginx

REDIS_HISTORY_MISSING = (
    "needs group history in the Redis layers (issue 19, after issue 18): "
    "RedisChannelLayer does not take group_history yet"
)


def redis_history_available() -> bool:
    """Whether RedisChannelLayer takes `group_history` (it forwards **kwargs, so its signature
    does not say: build one; nothing connects until it is used)."""
    from fast_channels.layers.redis import RedisChannelLayer

    try:
        RedisChannelLayer(hosts=["redis://127.0.0.1:1/0"], group_history={"x": (1, 1.0)})
    except TypeError:
        return False
    return True


@dataclass
class Stack:
    """Demo servers (one per port, replaceable in place) behind one nginx."""

    layer: str
    servers: list[DemoServer]
    proxy: Nginx
    extra: tuple[str, ...]

    def restart(self, index: int) -> None:
        """SIGTERM (the drain closes sockets with 1001), wait for the exit, start it again."""
        old = self.servers[index]
        old.stop()
        self.servers[index] = DemoServer(*self.extra, port=old.port)

    def stop_proxy(self) -> None:
        """Every client connection cut at once, new ones refused; the servers stay."""
        self.proxy.stop()

    def start_proxy(self) -> None:
        self.proxy = Nginx([s.port for s in self.servers], port=self.proxy.port)


@dataclass
class Broadcaster:
    """Posts numbered messages straight to the servers (a backend service, not behind the
    clients' proxy), in turn, until stopped. `accepted`: answered 202, so sent; `unsure`: the
    request failed after it may have reached the server (may or may not have been sent)."""

    room: str
    ports: list[int]
    interval: float
    accepted: list[str] = field(default_factory=list)
    unsure: set[str] = field(default_factory=set)
    stopping: threading.Event = field(default_factory=threading.Event)
    progress: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            for number in itertools.count(1):
                if self.stopping.wait(self.interval):
                    return
                self._post(client, number)

    def _post(self, client: httpx.Client, number: int) -> None:
        text = f"m-{number:05d}"
        for port in self.ports[number % 2 :] + self.ports[: number % 2]:
            url = f"http://127.0.0.1:{port}/api/rooms/{self.room}/broadcast"
            try:
                response = client.post(url, json={"message": text})
            except httpx.ConnectError:
                continue  # refused: nothing was sent, try the other server
            except httpx.TransportError:
                self.unsure.add(text)
                return
            if response.status_code == 202:
                self.accepted.append(text)
                self.progress.set()
                return
            # 503 while draining: not sent; try the other server.


@contextlib.contextmanager
def demo_stack(layer: str, redis_url: str | None = None) -> Iterator[Stack]:
    """in-memory: one server; redis: two servers on the Redis at `redis_url`."""
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
            servers.append(DemoServer(*extra))
        built = Stack(layer, servers, Nginx([s.port for s in servers]), extra)
        yield built
    finally:
        if built is not None:
            built.proxy.stop()
        for server in servers:
            server.stop()


@contextlib.contextmanager
def broadcasting(stack: Stack, room: str, per_second: float = 20) -> Iterator[Broadcaster]:
    broadcaster = Broadcaster(room, [s.port for s in stack.servers], 1 / per_second)
    thread = threading.Thread(target=broadcaster.run, daemon=True)
    thread.start()
    try:
        yield broadcaster
    finally:
        broadcaster.stopping.set()
        thread.join(timeout=30)
