"""Connect/disconnect churn with presence on and off: what presence costs a connection.

    python -m ops.bench.presence_churn                       # in memory, queue and pub/sub
    python -m ops.bench.presence_churn --kinds queue --connections 4000 --rounds 5

CONCURRENCY tasks each connect a WebSocket consumer (in process, through the testing
communicator: no sockets, so the figure is our code and Redis), wait for its accept, and
disconnect, CONNECTIONS times in all, into one room. "off": the consumer joins the room's group
in connect(). "quiet": it calls join_presence() instead, without event handlers (the entry and
the events sent, none delivered: nobody opted in). "on": join_presence() with both handlers
defined (a watcher: every join and leave in the room is delivered to every connected member, as
in the demo; with CONCURRENCY members, ~2 x CONCURRENCY deliveries per connection). The modes
alternate round by round (same machine state); the figure per mode is the median of the
rounds' connections per second, and its CPU time per connection. The end of each presence
round checks that the room's presence is empty again.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from typing import Any

import structlog

from fast_channels.consumer.websocket import AsyncJsonWebsocketConsumer
from fast_channels.layers import BaseChannelLayer, InMemoryChannelLayer, register_channel_layer
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.testing import WebsocketCommunicator
from ops.bench.harness import RedisServer

ROOM = "churn"
CONCURRENCY = 50


class Plain(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "bench"

    async def connect(self) -> None:
        assert self.channel_layer is not None
        self.groups.append(ROOM)
        await self.channel_layer.group_add(ROOM, self.channel_name)
        await self.accept()


class Quiet(AsyncJsonWebsocketConsumer):
    """Presence without event handlers: the entry only, no events delivered to it."""

    channel_layer_alias = "bench"

    async def connect(self) -> None:
        await self.join_presence(ROOM, {"name": "bench-user"})
        await self.accept()


class WithPresence(Quiet):
    async def presence_join(self, event: dict[str, Any]) -> None:
        pass

    async def presence_leave(self, event: dict[str, Any]) -> None:
        pass


async def churn(consumer: type[AsyncJsonWebsocketConsumer], connections: int) -> None:
    app = consumer.as_asgi()

    async def task(count: int) -> None:
        for _ in range(count):
            communicator = WebsocketCommunicator(app, "/")
            connected, _ = await communicator.connect(timeout=30)
            assert connected
            await communicator.disconnect(timeout=30)

    await asyncio.gather(*(task(connections // CONCURRENCY) for _ in range(CONCURRENCY)))


MODES: dict[str, type[AsyncJsonWebsocketConsumer]] = {
    "off": Plain,
    "quiet": Quiet,
    "on": WithPresence,
}


async def one_round(layer: BaseChannelLayer, mode: str, connections: int) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    await churn(MODES[mode], connections)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    if mode != "off":
        left = await layer.read_presence(ROOM)
        assert left == {}, f"{len(left)} presence entries left after the round"
    return {"per_second": connections / wall, "cpu_us": cpu / connections * 1e6}


def make_layer(kind: str, url: str | None) -> BaseChannelLayer:
    if kind == "memory":
        return InMemoryChannelLayer()
    cls = RedisChannelLayer if kind == "queue" else RedisPubSubChannelLayer
    return cls(hosts=[url], prefix=f"churn-{kind}")


async def measure(kind: str, url: str | None, connections: int, rounds: int) -> dict[str, Any]:
    layer = make_layer(kind, url)
    register_channel_layer("bench", layer)
    await churn(Plain, CONCURRENCY * 2)  # warm up: connections, scripts loaded
    await churn(WithPresence, CONCURRENCY * 2)
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for index in range(rounds):
        order = list(MODES) if index % 2 == 0 else list(reversed(MODES))
        for mode in order:
            results[mode].append(await one_round(layer, mode, connections))
    await layer.close()
    return {
        mode: {key: statistics.median(run[key] for run in runs) for key in ("per_second", "cpu_us")}
        for mode, runs in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kinds", default="memory,queue,pubsub")
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    redis = RedisServer()
    try:
        print("| layer | mode | connections/s | ÷ off | CPU µs per connection |")
        print("| --- | --- | --- | --- | --- |")
        for kind in args.kinds.split(","):
            found = asyncio.run(measure(kind, redis.url, args.connections, args.rounds))
            for mode, figures in found.items():
                ratio = figures["per_second"] / found["off"]["per_second"]
                print(
                    f"| {kind} | {mode} | {figures['per_second']:.0f} | {ratio:.3f} | "
                    f"{figures['cpu_us']:.0f} |",
                    flush=True,
                )
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
