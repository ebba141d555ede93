"""A worker process SIGKILLed in the middle of 1,000 jobs on a named channel, a second one
started: with delivery="at_least_once" every job is done and every duplicate is counted; by
default (at most once) the jobs the dead worker held are gone.

Run with -s for the figures the README quotes.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as aioredis

from fast_channels.layers.redis import RedisChannelLayer
from tests.support.job_worker import JOB_TIME, TASKS
from tests.support.redis_server import RedisServer

JOBS = 1000
KILL_AFTER = 300  # jobs done by the first worker before it is killed
ROOT = Path(__file__).resolve().parents[2]


class Worker:
    def __init__(self, server: RedisServer, prefix: str, log: Path, delivery: str) -> None:
        self.log = log
        command = [sys.executable, "-m", "tests.support.job_worker", server.url, prefix]
        self.process = subprocess.Popen(
            [*command, str(log), delivery], cwd=ROOT, stdout=subprocess.PIPE
        )

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def jobs(self, kind: str) -> list[int]:
        return [int(line[2:]) for line in self.lines() if line.startswith(kind + " ")]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"worker: condition not met; log tail {self.lines()[-5:]}")
            await asyncio.sleep(0.01)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return out.decode()


async def send_jobs(server: RedisServer, prefix: str) -> RedisChannelLayer:
    producer = RedisChannelLayer(hosts=[server.url], prefix=prefix, capacity=JOBS)
    await asyncio.gather(*(producer.send("jobs", {"type": "job", "n": n}) for n in range(JOBS)))
    return producer


async def in_flight(producer: RedisChannelLayer, client: aioredis.Redis) -> set[int]:
    """The jobs held in Redis for receivers that have not acknowledged them."""
    frames = await client.hgetall(producer.list_key("jobs") + ":frames")
    held = set()
    for field, frame in frames.items():
        if field != b"n":
            decoded = producer.decode_frame(frame, time.time())
            assert decoded is not None
            held.add(decoded[0].message["n"])
    return held


async def test_at_least_once_worker_sigkilled_mid_batch_loses_nothing(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    prefix = f"crash-{uuid.uuid4().hex[:8]}"
    producer = await send_jobs(redis_server, prefix)
    client = aioredis.Redis.from_url(redis_server.url)
    first = Worker(redis_server, prefix, tmp_path / "first.log", "at_least_once")
    second = None
    try:
        await first.wait_for(lambda: len(first.jobs("d")) >= KILL_AFTER)
        first.kill()
        await asyncio.sleep(0.1)  # Redis has run whatever the dead worker had sent
        held = await in_flight(producer, client)  # what the dead worker had taken
        second = Worker(redis_server, prefix, tmp_path / "second.log", "at_least_once")
        done_first = set(first.jobs("d"))
        await second.wait_for(lambda: len(done_first | set(second.jobs("d"))) == JOBS, 60)
        output = second.stop()
        received = Counter(first.jobs("r") + second.jobs("r"))
        done = done_first | set(second.jobs("d"))
        found = re.search(r"^redelivered (\d+)$", output, re.MULTILINE)
        assert found is not None, output
        redelivered = int(found.group(1))
        duplicates = sum(count - 1 for count in received.values())
        # A job the dead worker had claimed in Redis but not yet logged (killed while the
        # claim's reply was on its way: 0 or 1 a run here) is redelivered and counted, yet
        # seen only once.
        unseen = held - set(first.jobs("r"))
        print(
            f"\nat_least_once: {len(done)}/{JOBS} done, held at kill {len(held)}, "
            f"redelivered {redelivered}, duplicates seen {duplicates}, claimed unseen {unseen}"
        )
        assert done == set(range(JOBS))
        assert held, "the first worker held no job when killed: the test proved nothing"
        assert redelivered == len(held) == duplicates + len(unseen)
        assert await client.zcard(producer.list_key("jobs") + ":inflight") == 0
    finally:
        first.stop()
        if second is not None:
            second.stop()
        await producer.flush()
        await producer.close()
        await client.aclose()


async def test_at_most_once_worker_sigkilled_loses_what_it_held(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """The default, unchanged: what a killed worker popped is gone (and nothing stays in
    flight in Redis)."""
    prefix = f"crash-{uuid.uuid4().hex[:8]}"
    producer = await send_jobs(redis_server, prefix)
    client = aioredis.Redis.from_url(redis_server.url)
    first = Worker(redis_server, prefix, tmp_path / "first.log", "at_most_once")
    second = None
    try:
        await first.wait_for(lambda: len(first.jobs("d")) >= KILL_AFTER)
        first.kill()
        second = Worker(redis_server, prefix, tmp_path / "second.log", "at_most_once")
        while True:  # the second worker takes what is left
            if not await client.llen(producer.list_key("jobs")):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(JOB_TIME * 10)  # the last jobs taken finish
        second.stop()
        done = set(first.jobs("d")) | set(second.jobs("d"))
        lost = JOBS - len(done)
        print(f"\nat_most_once: {len(done)}/{JOBS} done, lost with the killed worker {lost}")
        assert 0 < lost <= TASKS + 1  # its receivers' jobs (plus one popped for a waiting one)
        assert not await client.exists(producer.list_key("jobs") + ":inflight")
    finally:
        first.stop()
        if second is not None:
            second.stop()
        await producer.flush()
        await producer.close()
        await client.aclose()
