"""The consumer + layer path alone: CPU per delivery of a group_send to N consumers, no sockets.

    python -m ops.bench.consumer_path                  # in memory, 1,000 consumers
    python -m ops.bench.consumer_path --kind pubsub --redis redis://127.0.0.1:6379
    python -m ops.bench.consumer_path --history        # the group keeps history: "_pos" frames

N consumers of the end-to-end scenario (worker/impl_ours.py's room_consumer: receive_json
does a group_send, chat_message a send_json) run on uvloop with an ASGI send that only counts. One
client frame at a time: each waits until all N deliveries were sent. The figure is this
process's CPU time per delivery (best of 3 runs); it leaves out uvicorn and the socket writes,
which cost bare Starlette the same, so it shows what a change to our code saves. With
--history the group keeps a history (100 messages, 600 s unless SIZE:TTL is given) and the
consumers join it with join_group(), as a recovering client's would: each frame carries "_pos"
and each group_send records the message. A profiler
(py-spy) over it shows where the time goes. Not a comparison with the peers (ops.bench is).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from typing import Any

import structlog
import uvloop

from fast_channels.layers import register_channel_layer
from ops.bench.worker.impl_ours import group_history, make_layer, room_consumer

PAD = "x" * 56  # as ops/bench/worker/tally.py: a frame of ~100 bytes
GROUP = "consumer-path"


class Counter:
    """The consumers' ASGI send: counts frames and wakes the driver once a burst is out."""

    def __init__(self) -> None:
        self.frames = 0
        self.until = 0
        self.reached: asyncio.Future[None] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] != "websocket.send":
            return
        self.frames += 1
        if self.reached is not None and self.frames >= self.until and not self.reached.done():
            self.reached.set_result(None)

    async def burst(self, size: int) -> None:
        self.until = self.frames + size
        self.reached = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(30):
                await self.reached
        except TimeoutError:
            lost = self.until - self.frames
            raise RuntimeError(f"{lost} of {size} deliveries never reached a socket") from None


async def measure(
    kind: str, url: str, consumers: int, broadcasts: int, history: str = ""
) -> list[float]:
    policy = group_history(GROUP, history)
    layer = make_layer(kind, url, "cpath", 100_000, policy)
    register_channel_layer("consumer-path", layer)
    counter = Counter()
    app = room_consumer(GROUP, "consumer-path", recover=policy is not None).as_asgi()
    inboxes: list[asyncio.Queue[dict[str, Any]]] = []
    scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b""}
    tasks = []
    for _ in range(consumers):
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        inbox.put_nowait({"type": "websocket.connect"})
        inboxes.append(inbox)
        tasks.append(asyncio.create_task(app(dict(scope), inbox.get, counter.send)))
    await asyncio.sleep(1.0 + consumers / 2000)  # joined, subscribed
    runs = []
    for rounds in (max(1, broadcasts // 10), broadcasts, broadcasts, broadcasts):  # warm-up
        started = time.process_time()
        for seq in range(rounds):
            frame = json.dumps({"seq": seq, "t": time.time(), "pad": PAD})
            inboxes[0].put_nowait({"type": "websocket.receive", "text": frame})
            await counter.burst(consumers)
        runs.append((time.process_time() - started) / (rounds * consumers) * 1e6)
    for inbox in inboxes:
        inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.gather(*tasks, return_exceptions=True)
    await layer.close()
    return runs[1:]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.bench.consumer_path")
    parser.add_argument("--kind", default="memory", choices=["memory", "queue", "pubsub"])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--consumers", type=int, default=1000)
    parser.add_argument("--broadcasts", type=int, default=200)
    parser.add_argument(
        "--history",
        nargs="?",
        const="100:600",
        default="",
        metavar="SIZE:TTL",
        help="the group keeps history and the consumers join it with recovery",
    )
    args = parser.parse_args()
    # Connection logs would be most of the output (and of the time spent connecting).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    runs = uvloop.run(measure(args.kind, args.redis, args.consumers, args.broadcasts, args.history))
    history = f", history {args.history}" if args.history else ""
    print(
        f"{args.kind}: {min(runs):.2f} us of CPU per delivery, best of "
        f"{' '.join(f'{run:.2f}' for run in runs)} ({args.consumers} consumers{history})"
    )


if __name__ == "__main__":
    main()
