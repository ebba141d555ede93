"""running_loop(): asyncio.get_running_loop() for the paths that ask once per message or send.

On Python 3.11, asyncio.get_running_loop() makes a getpid() system call on every call: its C
accelerator checks that the loop it holds was set by this process, so that a forked child
does not take its parent's loop for its own. Python 3.12 keeps the running loop in the thread
state and dropped that call, so there running_loop is asyncio.get_running_loop itself.

On 3.11 each thread remembers the last loop it found running: a thread runs one loop at a
time, so while that loop still runs it is this thread's running loop. A forked child forgets
it (its loop is a new one). What this cannot see, like the per-object caches it replaced: a
loop stopped in this thread and run again by another thread while this thread runs a loop of
its own (asyncio.run() and asgiref's async_to_sync make a new loop each time).

Paths that run once per connection or task keep asyncio.get_running_loop(). This module
imports nothing of ours: any module may use it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable

running_loop: Callable[[], asyncio.AbstractEventLoop]

if sys.version_info >= (3, 12):
    running_loop = asyncio.get_running_loop
else:

    class _LastLoop(threading.local):
        loop: asyncio.AbstractEventLoop | None = None

    _last = _LastLoop()

    def _running_loop() -> asyncio.AbstractEventLoop:
        loop = _last.loop
        if loop is not None and loop.is_running():
            return loop
        loop = _last.loop = asyncio.get_running_loop()  # RuntimeError when none runs
        return loop

    def _forget() -> None:
        _last.loop = None

    os.register_at_fork(after_in_child=_forget)
    running_loop = _running_loop
