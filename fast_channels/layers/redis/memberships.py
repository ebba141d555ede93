"""The queue layer notices that Redis lost its group memberships, and refuses to send to an
incomplete group.

A Redis restarted without persistence comes back empty: every process's memberships are gone
until that process's receive loop reconnects and registers its own again, which takes up to
its reconnect backoff (2 s). A group_send in between would reach nobody and return as if it
had. So each shard holds a marker key, `P:memberships`, whose value is the Unix time from which
the memberships stored there are complete:

- a receive loop's first start creates it with 0 (a fresh Redis: nothing to restore);
- a process that finds it missing where it had seen it (its receive loop reconnecting, or a
  group_send) knows the memberships were lost: it registers its own again and creates it with
  now + RESTORE_GRACE, the longest the other live processes' loops take to do the same;
- GROUP_SEND reads it first (one GET, no extra round trip): missing where the caller had seen
  it, or still within its grace, the script sends nothing and group_send raises
  GroupsRestoring, which the caller may retry.

Times are the processes' clocks, as for `expiry`. A process that never saw the marker (it
started during the outage) cannot tell a fresh Redis from an emptied one; it sends to whoever is
registered. No TTL: the marker lives as long as the data it vouches for (with persistence, it
comes back with it).
"""

from __future__ import annotations

import time
from typing import Any

from redis.exceptions import RedisError

from fast_channels.layers.redis.connection import Backoff

# Every live process's receive loop retries Redis at least once per Backoff cap (2 s) and
# registers its memberships on its first success; 0.5 s more for that round trip itself.
RESTORE_GRACE = Backoff().cap + 0.5

# GROUP_SEND's first reply element when it sent nothing.
LOST, RESTORING = -1, -2


class GroupsRestoring(RedisError):  # a RedisError: callers already handle those
    """group_send sent nothing: Redis lost the group memberships (restarted empty) and the
    processes are registering them again. Retry in a moment (within ~RESTORE_GRACE)."""


class MembershipMarker:
    """The marker key and what this layer instance knows of it, per shard."""

    __slots__ = ("key", "restoring", "seen")

    def __init__(self, key: str, shards: int) -> None:
        self.key = key
        # b"1" once this instance saw the marker on that shard (sent as GROUP_SEND's ARGV).
        self.seen: list[Any] = [b"0"] * shards
        self.restoring: set[int] = set()  # shards whose restore this instance is running

    def forget(self) -> None:
        """After flush(): the marker is deleted on purpose, nothing was lost."""
        self.seen = [b"0"] * len(self.seen)

    @staticmethod
    def fresh_value() -> float:
        return 0.0

    @staticmethod
    def restoring_value() -> float:
        return time.time() + RESTORE_GRACE

    def refusal(self, code: int, group: str) -> GroupsRestoring:
        what = "lost" if code == LOST else "are being restored after a loss"
        return GroupsRestoring(
            f"group_send to {group!r} sent nothing: Redis's group memberships {what} "
            f"(Redis restarted empty?); retry within {RESTORE_GRACE:.1f}s"
        )
