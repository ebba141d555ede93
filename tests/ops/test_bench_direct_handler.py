"""ops.bench.direct_handler: what one handler run in a fan-out costs, run as consumers run it."""

from __future__ import annotations

import asyncio
import math

from ops.bench import direct_handler


async def test_it_measures_handler_runs_and_gives_the_loop_its_task_back() -> None:
    me = asyncio.current_task()
    seconds = await direct_handler.measure(200)
    assert math.isfinite(seconds)
    assert 0 < seconds < 1e-3
    # Each run made the consumer's task current, then this one again.
    assert asyncio.current_task() is me
