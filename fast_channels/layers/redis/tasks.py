"""What the Redis layers' long-running tasks share (receive loops, pullers, subscribers,
sweepers, re-homing): how a loop knows it was asked to stop."""

from __future__ import annotations

import asyncio


def stopping() -> bool:
    """Whether the current task was asked to stop.

    redis-py can swallow a cancellation that lands while it opens a connection; the loops
    check this so that close() still ends them.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
