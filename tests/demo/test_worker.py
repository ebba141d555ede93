"""The job worker against an in-memory layer, in this process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from fast_channels.demo.worker import JOBS_CHANNEL, job_request, run_job, run_worker
from fast_channels.layers import InMemoryChannelLayer


@pytest.fixture
async def worker_layer() -> AsyncIterator[InMemoryChannelLayer]:
    layer = InMemoryChannelLayer()
    task = asyncio.create_task(run_worker(layer, step_delay=0))
    try:
        yield layer
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_malformed_requests_are_dropped_and_the_worker_goes_on(
    worker_layer: InMemoryChannelLayer,
) -> None:
    reply = await worker_layer.new_channel()
    await worker_layer.send(JOBS_CHANNEL, {"type": "job.request", "steps": "lots"})
    await worker_layer.send(JOBS_CHANNEL, {"type": "job.request", "job": "j", "steps": 3})
    await worker_layer.send(JOBS_CHANNEL, job_request(reply, 1))
    async with asyncio.timeout(5):
        first = await worker_layer.receive(reply)
        second = await worker_layer.receive(reply)
    assert (first["percent"], second["percent"]) == (0, 100)


def test_job_request_refuses_out_of_range_steps() -> None:
    with pytest.raises(ValueError, match="steps must be between 1 and 100, got 0"):
        job_request("specific.x!y", 0)


async def test_a_job_stops_when_the_socket_stops_reading() -> None:
    # Capacity 2: the third progress message finds the channel full and the job gives up
    # instead of working (and waiting) for a socket that is gone.
    layer = InMemoryChannelLayer(capacity=2)
    reply = await layer.new_channel()
    async with asyncio.timeout(5):
        await run_job(layer, "j1", reply, steps=10, step_delay=0)
    assert len(layer.channels[reply]) == 2
    assert [(await layer.receive(reply))["percent"] for _ in range(2)] == [0, 10]
