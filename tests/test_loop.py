"""running_loop() is always the loop running in the calling thread: after a loop ended, in two
threads running loops at once, and in a child forked from inside a running loop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fast_channels._loop import running_loop

ROOT = Path(__file__).resolve().parents[1]


async def _asks() -> tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop]:
    return running_loop(), asyncio.get_running_loop()


async def test_it_is_the_running_loop() -> None:
    assert running_loop() is asyncio.get_running_loop()
    assert running_loop() is asyncio.get_running_loop()  # remembered, still right


def test_no_loop_is_running_once_the_last_one_ended() -> None:
    found, first = asyncio.run(_asks())
    assert found is first
    with pytest.raises(RuntimeError):
        running_loop()
    found, second = asyncio.run(_asks())
    assert found is second
    assert second is not first


def test_two_threads_running_loops_at_once_each_get_their_own() -> None:
    both_running = threading.Barrier(2, timeout=10)
    seen: dict[str, tuple[set[int], int]] = {}

    async def ask(name: str) -> None:
        both_running.wait()  # the other thread's loop runs too from here on
        found = set()
        for _ in range(200):
            found.add(id(running_loop()))
            await asyncio.sleep(0)
        seen[name] = (found, id(asyncio.get_running_loop()))

    threads = [threading.Thread(target=asyncio.run, args=(ask(name),)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen["a"][1] != seen["b"][1]
    for found, own in seen.values():
        assert found == {own}


FORK_CHILD = """
import asyncio, os, sys
from fast_channels._loop import running_loop

async def child() -> bool:
    return running_loop() is asyncio.get_running_loop()

async def main() -> int:
    running_loop()  # the parent's loop, remembered by this thread
    pid = os.fork()
    if pid == 0:  # still inside the parent's loop callback, as after a fork in a handler
        os._exit(0 if asyncio.new_event_loop().run_until_complete(child()) else 1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

sys.exit(asyncio.run(main()))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork here")
def test_a_forked_child_finds_its_own_loop() -> None:
    # In a subprocess: forking the test process (threads, a running loop) is asking for trouble.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", FORK_CHILD], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
