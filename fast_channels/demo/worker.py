"""The job worker: takes job requests from a named layer channel, streams progress back.

It runs as its own process (`fast-channels worker --redis-url URL`) when the layer is Redis,
or as a task inside the demo server when the layer is in-memory (which cannot cross processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from typing import Any

import structlog

from fast_channels.exceptions import ChannelFull
from fast_channels.layers import BaseChannelLayer

logger = structlog.get_logger("fast_channels.demo.worker")

JOBS_CHANNEL = "demo-jobs"
MAX_STEPS = 100
DEFAULT_STEP_DELAY = 0.1
# Requests beyond this many running jobs wait in the layer channel (whose capacity then
# pushes back on submitters with ChannelFull) instead of piling up in this process.
MAX_CONCURRENT_JOBS = 100


def job_request(reply_channel: str, steps: int) -> dict[str, Any]:
    """The message a server sends to JOBS_CHANNEL to start a job for one socket."""
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps!r}")
    return {
        "type": "job.request",
        "job": uuid.uuid4().hex[:12],
        "reply_channel": reply_channel,
        "steps": steps,
    }


def _parse_request(message: dict[str, Any]) -> tuple[str, str, int] | None:
    job, reply, steps = message.get("job"), message.get("reply_channel"), message.get("steps")
    if not (isinstance(job, str) and isinstance(reply, str) and isinstance(steps, int)):
        return None
    if not 1 <= steps <= MAX_STEPS:
        return None
    return job, reply, steps


async def run_job(
    layer: BaseChannelLayer, job: str, reply_channel: str, steps: int, step_delay: float
) -> None:
    """Pretend to work; after each step tell the requesting socket how far along we are."""
    for step in range(steps + 1):
        if step:
            await asyncio.sleep(step_delay)
        progress = {"type": "job.progress", "job": job, "percent": step * 100 // steps}
        try:
            await layer.send(reply_channel, progress)
        except (ChannelFull, TypeError) as error:
            # A full channel means the socket is gone or not reading: stop working for it.
            logger.info("job abandoned", job=job, reason=repr(error))
            return
    logger.info("job done", job=job, steps=steps)


async def run_worker(
    layer: BaseChannelLayer,
    *,
    channel: str = JOBS_CHANNEL,
    step_delay: float = DEFAULT_STEP_DELAY,
) -> None:
    """Serve job requests until cancelled; running jobs are cancelled with it."""
    logger.info("worker ready", channel=channel, layer=type(layer).__name__)
    # Each job runs in the task that received it, which asks for the next request only once
    # the job is over: with delivery="at_least_once" that acknowledges the job, so a worker
    # killed mid-job leaves it to be redelivered. Requests beyond these slots wait in the
    # layer channel.
    slots = [
        asyncio.create_task(_serve_requests(layer, channel, step_delay))
        for _ in range(MAX_CONCURRENT_JOBS)
    ]
    try:
        await asyncio.gather(*slots)
    finally:
        for task in slots:
            task.cancel()
        await asyncio.gather(*slots, return_exceptions=True)


async def _serve_requests(layer: BaseChannelLayer, channel: str, step_delay: float) -> None:
    while True:
        message = await _next_request(layer, channel)
        parsed = _parse_request(message)
        if parsed is None:
            logger.warning("malformed job request dropped", message=repr(message)[:200])
            continue
        try:
            await run_job(layer, *parsed, step_delay)
        except Exception as error:
            logger.error("job failed", error=repr(error))


async def _next_request(layer: BaseChannelLayer, channel: str) -> dict[str, Any]:
    # The layer reconnects by itself; this only keeps an unexpected error from busy-looping.
    delay = 0.1
    while True:
        try:
            return await layer.receive(channel)
        except Exception as error:
            logger.warning("receiving job requests failed", error=repr(error), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def serve(
    layer: BaseChannelLayer, step_delay: float = DEFAULT_STEP_DELAY, parent: int | None = None
) -> None:
    """Run the worker as a process's main task: SIGINT/SIGTERM stop it and close the layer,
    and so does the end of process `parent` when one is given."""
    loop = asyncio.get_running_loop()
    worker = asyncio.create_task(run_worker(layer, step_delay=step_delay))
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, worker.cancel)
    watcher = asyncio.create_task(_watch_parent(parent, worker)) if parent else None
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    finally:
        if watcher is not None:
            watcher.cancel()
        await layer.close()
        logger.info("worker stopped")


async def _watch_parent(parent: int, worker: asyncio.Task[None]) -> None:
    # An orphan is re-parented, so a changed parent pid means the demo server is gone.
    # Polling: there is no portable event for "my parent died".
    while True:
        if os.getppid() != parent:
            break
        await asyncio.sleep(0.5)
    logger.info("parent process gone, stopping", parent=parent)
    worker.cancel()
