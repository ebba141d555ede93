"""Group history in Redis (README "Recovery"), for the queue and pub/sub layers alike.

A group with a `group_history` policy keeps two keys in its slot (keys.py names them):
  stream  entries `<offset>-0` {e: expires-at (sent-at + ttl), p: the serialized envelope,
          the same bytes as the live frame's payload}, trimmed to `size` entries (XADD MAXLEN)
          and of expired ones (from the head) on every append and read
  hash    {epoch, offset}: the epoch, a random token from Python written only when missing
          (Redis lost the history: restarted empty, flushed, failed over without it, or
          the group was idle for ttl), and the group's last offset
Both get PEXPIRE ttl on every append, so an idle group's history goes by itself.

The append is part of the script that delivers (GROUP_SEND; GROUP_MEMBERS on a Cluster;
HISTORY_PUBLISH for the pub/sub layer) and is its first write: refused under maxmemory, the
whole group_send is, with nothing written. Every frame of a positioned message carries its
position in the head (envelope.positioned_head). READ_HISTORY answers read_history(), the
complete/incomplete rules being those of history.GroupHistory.read, the in-memory reference.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from fast_channels.layers.history import (
    POSITION_KEY,
    HistoryPolicy,
    HistoryRead,
    Position,
    check_since,
    history_answer,
    new_epoch,
    no_history,
)
from fast_channels.layers.redis.envelope import Codec, UndecodableMessage

if TYPE_CHECKING:
    from fast_channels.layers.redis._types import ScriptHost
    from fast_channels.layers.redis.scripts import Scripts

# Groups whose history size the gauge sums (the most recently sent to by this process).
MEASURED_GROUPS = 1000


def policy_args(policy: HistoryPolicy) -> list[Any]:
    """size, ttl, ttl in ms (PEXPIRE) and a fresh epoch token, for the append scripts."""
    return [policy.size, policy.ttl, math.ceil(policy.ttl * 1000), new_epoch()]


def to_str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisHistory:
    """One layer's side of its groups' histories: arguments for the scripts, the reads, and
    the groups it sent to lately (for the history_messages gauge)."""

    def __init__(self, codec: Codec, scripts: Scripts) -> None:
        self.codec = codec
        self.scripts = scripts
        self.recent: OrderedDict[str, tuple[int, str]] = OrderedDict()  # group -> where
        self.size = 0  # the gauge's value, measured at scrape (measure())
        self.undecodable = 0  # history entries skipped as undecodable (counted by the layer)

    def sent_to(self, group: str, shard: int, stream_key: str) -> None:
        recent = self.recent
        recent[group] = (shard, stream_key)
        recent.move_to_end(group)
        if len(recent) > MEASURED_GROUPS:
            recent.popitem(last=False)

    async def read(
        self,
        client: ScriptHost,
        keys: list[str],
        group: str,
        policy: HistoryPolicy,
        since: Position | None,
    ) -> HistoryRead:
        """READ_HISTORY, then GroupHistory.read's rules on its answer."""
        args: list[Any] = [
            time.time(),
            math.ceil(policy.ttl * 1000),
            new_epoch(),
            since.epoch if since is not None else "",
            since.offset if since is not None else 0,
            1 if since is None else 0,
        ]
        raw_epoch, offset, oldest, flat = await self.scripts.run("read_history", client, keys, args)
        epoch = to_str(raw_epoch)
        messages = [] if since is None else self._decode(group, epoch, flat)
        return history_answer(since, Position(epoch, int(offset)), int(oldest), messages)

    def _decode(self, group: str, epoch: str, flat: list[Any]) -> list[dict[str, Any]]:
        messages = []
        for index in range(0, len(flat), 2):
            try:
                message = self.codec.decode(flat[index + 1]).message
            except UndecodableMessage:
                self.undecodable += 1
                continue
            message[POSITION_KEY] = {"group": group, "epoch": epoch, "offset": int(flat[index])}
            messages.append(message)
        return messages


__all__ = ["RedisHistory", "check_since", "no_history", "policy_args"]
