"""A job worker in its own process, for the crash tests: `python -m tests.support.job_worker
URL PREFIX LOG DELIVERY`.

TASKS receivers take jobs from the named channel "jobs", each job handled slowly (JOB_TIME)
so that some are always in flight. Every job is logged twice, one line each (a single
os.write on an O_APPEND file, so a SIGKILL leaves only whole lines): `r <n>` when received,
`d <n>` when done. On SIGTERM the worker stops, closes its layer and prints
`redelivered <count>`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from prometheus_client import REGISTRY

from fast_channels.layers.redis import RedisChannelLayer

TASKS = 16
JOB_TIME = 0.05
VISIBILITY_TIMEOUT = 1.5


async def receive_jobs(layer: RedisChannelLayer, log: int) -> None:
    while True:
        n = (await layer.receive("jobs"))["n"]
        os.write(log, b"r %d\n" % n)
        await asyncio.sleep(JOB_TIME)
        os.write(log, b"d %d\n" % n)


async def main(url: str, prefix: str, log_path: str, delivery: str) -> None:
    # Default options given as none at all: the at-most-once run works on any version.
    options: dict[str, Any] = {}
    if delivery == "at_least_once":
        options = {"delivery": delivery, "visibility_timeout": VISIBILITY_TIMEOUT}
    layer = RedisChannelLayer(hosts=[url], prefix=prefix, **options)
    layer.bind_alias("worker")
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks = [asyncio.create_task(receive_jobs(layer, log)) for _ in range(TASKS)]
    os.write(log, b"ready\n")
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await layer.close()
    sample = "fast_channels_layer_messages_redelivered_total"
    redelivered = REGISTRY.get_sample_value(sample, {"layer": "worker"}) or 0.0
    print(f"redelivered {int(redelivered)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
