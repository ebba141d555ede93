"""What running one handler in a fan-out costs (consumer/direct.py), for a handler doing nothing.

    python -m ops.bench.direct_handler [--runs 100000]

A DirectHandler, as a consumer's delivery feeder registers it, is called the way a buffer's
put calls it: it takes the consumer's turn, makes the consumer's task the current one, runs
the handler to its end and gives everything back. The figure is the best of 7 timings of
`--runs` calls, in microseconds per call: what a layer's fan-out pays per idle member on top
of the handler itself, instead of a task wake-up. Run it from a tree to compare two commits
(`PYTHONPATH=that/tree python -m ops.bench.direct_handler`). Not a comparison with the peers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import time

from fast_channels.consumer import direct
from fast_channels.layers.buffer import Delivery


class _Turn:
    held = False

    def release(self) -> None:
        self.held = False


async def _nothing(message: dict[str, str]) -> None:
    return None


async def measure(runs: int) -> float:
    """Best of 7: seconds per DirectHandler call."""
    loop = asyncio.get_running_loop()
    consumer_task = loop.create_task(asyncio.sleep(3600))  # the task the handler runs as
    handler = direct.DirectHandler(
        lambda delivery: _nothing(delivery.message),
        lambda: None,
        _Turn(),
        loop.create_future(),
        contextvars.copy_context(),
    )
    handler.task = consumer_task
    delivery = Delivery({"type": "nothing"}, "group_send", None, float("inf"))
    best = float("inf")
    try:
        for _ in range(7):
            started = time.perf_counter()
            for _ in range(runs):
                handler(delivery)
            best = min(best, (time.perf_counter() - started) / runs)
    finally:
        consumer_task.cancel()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    seconds = asyncio.run(measure(args.runs))
    print(f"{seconds * 1e6:.3f} us per handler run in a fan-out (best of 7 x {args.runs:,})")


if __name__ == "__main__":
    main()
