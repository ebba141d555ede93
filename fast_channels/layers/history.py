"""Group history (README "Recovery"): positions, policies, and the in-memory history.

A group matched by a `group_history` pattern keeps its recent messages; every group_send to it
gets a position, an (epoch, offset) pair. Offsets count the group's messages from 1; the epoch
is a random token that changes whenever the history may have been lost, so that a position
from before the loss can never be taken for one after it (a reader then learns that recovery
is incomplete instead of being handed a silent gap).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from fast_channels.layers.patterns import NamePattern, PatternTable

POSITION_KEY = "__position__"


class Position(NamedTuple):
    """Where a group's stream is: the epoch and the offset of its last message (0: none)."""

    epoch: str
    offset: int


class HistoryPolicy(NamedTuple):
    """How much of a group's history is kept: at most `size` messages, each `ttl` seconds."""

    size: int
    ttl: float


class HistoryRead(NamedTuple):
    """What read_history() found: the messages after the position asked for (oldest first,
    each carrying "__position__"), whether they are all of them, and the group's position."""

    messages: list[dict[str, Any]]
    complete: bool
    position: Position


NO_POSITION = Position("", 0)  # a group without history: no epoch, nothing sent


def no_history() -> HistoryRead:
    """read_history()'s answer for a group without history (a new list each time)."""
    return HistoryRead([], False, NO_POSITION)


GroupHistoryOption = Mapping[NamePattern, "HistoryPolicy | tuple[int, float]"]


def new_epoch() -> str:
    return secrets.token_hex(8)


def _policy(pattern: NamePattern, value: object) -> HistoryPolicy:
    """A `group_history` value, checked: (size >= 1, ttl > 0)."""
    if isinstance(value, tuple) and len(value) == 2:
        size, ttl = value
        if (
            isinstance(size, int)
            and not isinstance(size, bool)
            and size >= 1
            and isinstance(ttl, int | float)
            and not isinstance(ttl, bool)
            and ttl > 0
        ):
            return HistoryPolicy(size, float(ttl))
    raise ValueError(
        f"group_history[{pattern!r}] must be (size: int >= 1, ttl: seconds > 0), got {value!r}"
    )


def history_policies(option: GroupHistoryOption | None) -> PatternTable[HistoryPolicy | None]:
    """`group_history` compiled: group name -> its policy, None for a group without history."""
    return PatternTable(option or {}, "group_history", _policy, None)


def check_since(since: object) -> Position | None:
    """read_history()'s `since`, checked the same way on every layer: None or a (str epoch,
    int offset) pair (a Position), else TypeError."""
    if since is None:
        return None
    if isinstance(since, tuple) and len(since) == 2:
        epoch, offset = since
        if isinstance(epoch, str) and isinstance(offset, int) and not isinstance(offset, bool):
            return Position(epoch, offset)
    raise TypeError(f"since must be a Position(epoch: str, offset: int) or None, got {since!r}")


def position_of(message: dict[str, Any]) -> Position | None:
    """The position a layer put on a message, or None (none, or not of the right shape)."""
    found = message.get(POSITION_KEY)
    if type(found) is dict:
        epoch, offset = found.get("epoch"), found.get("offset")
        if type(epoch) is str and type(offset) is int:
            return Position(epoch, offset)
    return None


class GroupHistory:
    """One group's stream: its epoch, last offset and the messages still kept, a ring buffer
    bounded by the policy's size, trimmed of messages older than its ttl as it is used."""

    __slots__ = ("entries", "epoch", "idle_at", "offset", "policy")

    def __init__(self, policy: HistoryPolicy, now: float, epoch: str | None = None) -> None:
        self.policy = policy
        self.epoch = epoch or new_epoch()
        self.offset = 0
        # (offset, expires_at, message), oldest first; maxlen trims by size on append.
        self.entries: deque[tuple[int, float, dict[str, Any]]] = deque(maxlen=policy.size)
        self.idle_at = now + policy.ttl  # when it holds nothing any more, unless sent to

    @property
    def position(self) -> Position:
        return Position(self.epoch, self.offset)

    def append(self, group: str, message: dict[str, Any], now: float) -> None:
        """Give `message` the next position (added to it as "__position__") and keep it."""
        self.offset += 1
        message[POSITION_KEY] = {"group": group, "epoch": self.epoch, "offset": self.offset}
        self.idle_at = now + self.policy.ttl
        self.entries.append((self.offset, self.idle_at, message))
        self.trim(now)

    def trim(self, now: float) -> None:
        entries = self.entries
        while entries and entries[0][1] <= now:
            entries.popleft()

    def read(self, since: Position | None, now: float) -> HistoryRead:
        """The messages after `since`, copied (a reader's edits stay its own)."""
        self.trim(now)
        if since is None:
            messages = []
        elif since.epoch != self.epoch:
            # Nothing of this epoch was seen by the reader: all of it is new to it.
            messages = [dict(m) for _, _, m in self.entries]
        else:
            messages = [dict(m) for offset, _, m in self.entries if offset > since.offset]
        oldest = self.entries[0][0] if self.entries else 0
        return history_answer(since, self.position, oldest, messages)


def history_answer(
    since: Position | None, position: Position, oldest: int, messages: list[dict[str, Any]]
) -> HistoryRead:
    """The answer to a read since `since`, the same rules on every layer: `position` is the
    stream's, `oldest` the offset of the oldest message it keeps (0: none), `messages` what
    it holds after `since` (all of it when the epoch differs)."""
    if since is None:
        return HistoryRead([], True, position)  # a fresh join: nothing to recover
    if since.epoch != position.epoch:
        return HistoryRead(messages, False, position)
    if since.offset > position.offset or since.offset < 0:
        return HistoryRead([], False, position)  # not a position this stream gave
    # Complete when nothing was missed, or the oldest kept message is the next one.
    complete = since.offset == position.offset or 0 < oldest <= since.offset + 1
    return HistoryRead(messages, complete, position)


class LocalHistory:
    """The histories of one process's groups (the in-memory layer's).

    A group's stream is forgotten once everything it held has expired, so that histories of
    unboundedly many groups do not accumulate: sent to again, it starts over with a new epoch
    (a reader with a position from before is told its recovery is incomplete).
    """

    def __init__(
        self,
        policy_of: Callable[[str], HistoryPolicy | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy_of = policy_of
        self._clock = clock
        # Least recently sent to first, so that the expired ones are found at the front.
        self._groups: OrderedDict[str, GroupHistory] = OrderedDict()

    def record(self, group: str, message: dict[str, Any]) -> None:
        """Called by group_send with the payload every member receives: a group with a
        policy gets its next position added to it, and keeps it."""
        policy = self._policy_of(group)
        if policy is None:
            return
        now = self._clock()
        self._forget_idle(now)
        stream = self._stream(group, policy, now)
        stream.append(group, message, now)
        self._groups.move_to_end(group)

    def read(self, group: str, since: Position | None) -> HistoryRead:
        policy = self._policy_of(group)
        if policy is None:
            return no_history()
        now = self._clock()
        self._forget_idle(now)
        # Made if missing: a reader gets an epoch to hold a position in, from offset 0.
        return self._stream(group, policy, now).read(since, now)

    def size(self) -> int:
        """Messages kept over every group (the layer_history_messages gauge)."""
        now = self._clock()
        self._forget_idle(now)
        total = 0
        for stream in self._groups.values():
            stream.trim(now)
            total += len(stream.entries)
        return total

    def clear(self) -> None:
        self._groups.clear()

    def _stream(self, group: str, policy: HistoryPolicy, now: float) -> GroupHistory:
        stream = self._groups.get(group)
        if stream is None:
            stream = self._groups[group] = GroupHistory(policy, now)
        return stream

    def _forget_idle(self, now: float) -> None:
        # From the front only: O(1) per call. A group with a shorter ttl behind one with a
        # longer one waits for it (at most the longer ttl), which costs memory, not truth.
        groups = self._groups
        while groups:
            stream = next(iter(groups.values()))
            if stream.idle_at > now:
                return
            groups.popitem(last=False)
