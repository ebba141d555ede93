"""The queue layer's group_send: two strategies, one per kind of deployment.

A layer takes one from its shards when it is built (RedisChannelLayer.__init__), beside its
key scheme (keys.py):

- `ScriptGroupSend`, on Redis servers: one GROUP_SEND script call per shard, which reads the
  group's members and delivers to each of them in the same call (atomic per shard), and
  refuses to send when the shard's memberships may be incomplete (memberships.py).
- `PipelinedGroupSend`, on a Redis Cluster, where a script touches one slot and a group's
  members' queues live in other slots: GROUP_MEMBERS in the group's slot (it prunes lapsed
  members and returns members and capacities), then one DELIVER per member process and one
  SEND_LIST per plain channel in one cluster pipeline: redis-py sends each node its share at
  once, one round trip per node involved, and follows MOVED/ASK.

Both count what they delivered, found full or pruned in one place (`count_group_send`). What
a group_send must also do in Redis, atomically with the delivery, goes in GROUP_SEND (or, on
a Cluster, GROUP_MEMBERS: the group's own slot) and its keys and arguments here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, NoReturn

import structlog
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisError

from fast_channels.layers.history import HistoryPolicy
from fast_channels.layers.redis._types import GroupSendLayer
from fast_channels.layers.redis.envelope import positioned_head
from fast_channels.layers.redis.history import policy_args
from fast_channels.layers.redis.memberships import LOST, MembershipMarker
from fast_channels.layers.redis.scripts import Scripts
from fast_channels.observability.instruments import LayerInstruments
from fast_channels.observability.logging import RateLimitedLog

logger = structlog.get_logger("fast_channels.layers.redis")

Call = tuple[str, list[str], list[Any]]  # EVALSHA sha, keys, args


class ScriptGroupSend:
    """group_send as one GROUP_SEND call per shard (Redis servers)."""

    def __init__(self, layer: GroupSendLayer, scripts: Scripts, marker: MembershipMarker) -> None:
        self.layer = layer
        self.scripts = scripts
        self.marker = marker
        self._refusal_log = RateLimitedLog(logger, "fast_channels.layer.groups_restoring")

    async def send(self, group: str, message: dict[str, Any]) -> None:
        layer = self.layer
        payload, sent_at = layer.codec.encode(message, "group_send", group)
        args = [
            layer.prefix,
            sent_at,
            b"%.3f" % (sent_at + layer.expiry),
            layer.capacity,
            layer.group_expiry,
            payload,
            layer.key_ttl,
        ]
        keys = [*layer.group_keys(group), self.marker.key, layer.index_key, layer.leases_key]
        policy = layer.history_policy(group) if layer.group_history else None
        results: list[Any]
        if policy is not None:
            results = await self._send_positioned(group, keys, args, policy)
        elif layer.shards.size == 1:
            results = [await self._send_shard(0, keys, args, group)]
        else:
            shards = range(layer.shards.size)
            results = await asyncio.gather(
                *(self._send_shard(index, keys, args, group) for index in shards),
                return_exceptions=True,
            )
        count_group_send(layer.metrics, results)

    async def _send_positioned(
        self, group: str, keys: list[str], args: list[Any], policy: HistoryPolicy
    ) -> list[Any]:
        """group_send to a group with history (history.py): the group's shard appends it to
        the history in its GROUP_SEND and delivers; then (a layer sharding over several
        servers) the other shards deliver, told the position it got."""
        layer = self.layer
        home = layer.shards.index(group)
        history_keys = layer.history_keys(group)
        extra = ["a", *policy_args(policy), group]
        first = await self._send_shard(home, [*keys, *history_keys], args, group, extra)
        layer.history.sent_to(group, home, history_keys[0])
        others = [index for index in range(layer.shards.size) if index != home]
        if not others:
            return [first]
        extra = ["p", first[5], first[6], group]
        results = await asyncio.gather(
            *(self._send_shard(index, keys, args, group, extra) for index in others),
            return_exceptions=True,
        )
        return [first, *results]

    async def _send_shard(
        self, index: int, keys: list[str], args: list[Any], group: str, extra: Any = ()
    ) -> list[Any]:
        layer, seen = self.layer, self.marker.seen
        with layer.redis_op("group_send"):
            result = await self.scripts.group_send(
                layer.shards.batched(index), keys, [*args, seen[index], *extra]
            )
        if result[0] < 0:
            await self._refuse(index, result[0], group)
        if result[3]:
            seen[index] = b"1"
        return result

    async def _refuse(self, index: int, code: int, group: str) -> NoReturn:
        """GROUP_SEND sent nothing, as the shard's memberships may be incomplete: restore
        ours first if we are the first to notice, then raise (see memberships.py)."""
        marker = self.marker
        if code == LOST and index not in marker.restoring:
            marker.restoring.add(index)
            try:
                # Swallowed: this group_send is refused below either way; a receive loop or
                # the next group_send to notice restores the memberships.
                with self.layer.redis_op("group_refresh", swallow=True):
                    await self._restore(index)
            finally:
                marker.restoring.discard(index)
        error = marker.refusal(code, group)
        self.layer.metrics.redis_error("group_send")
        self._refusal_log(layer=self.layer.alias, op="group_send", error=str(error))
        raise error

    async def _restore(self, index: int) -> None:
        layer = self.layer
        if index == layer.shards.index(layer.process_id):
            await layer.refresh_memberships(restoring=True)
        else:
            marker = self.marker
            await layer.shards.batched(index).execute_command(
                "SET", marker.key, marker.restoring_value(), "NX"
            )


class PipelinedGroupSend:
    """group_send as members, then deliveries in one cluster pipeline (a Redis Cluster)."""

    def __init__(self, layer: GroupSendLayer, scripts: Scripts) -> None:
        self.layer = layer
        self.scripts = scripts

    async def send(self, group: str, message: dict[str, Any]) -> None:
        layer = self.layer
        payload, sent_at = layer.codec.encode(message, "group_send", group)
        client = layer.shards.cluster_client()
        keys = layer.group_keys(group)
        args: list[Any] = [sent_at, layer.group_expiry]
        head = b"%.3f" % (sent_at + layer.expiry)
        policy = layer.history_policy(group) if layer.group_history else None
        if policy is not None:  # appended in GROUP_MEMBERS, in the group's slot (history.py)
            keys = [*keys, *layer.history_keys(group)]
            args += [*policy_args(policy), payload]
        with layer.redis_op("group_send"):
            members, flat_caps, *position = await self.scripts.group_members(client, keys, args)
            if position:
                epoch, offset = position[0].decode(), int(position[1])
                head = positioned_head(sent_at + layer.expiry, epoch, offset, group)
                layer.history.sent_to(group, 0, keys[2])
            calls = self._deliveries(members, flat_caps, payload, sent_at, head)
            replies = await self._evalsha_pipelined(client, calls) if calls else []
        results: list[Any] = []
        for (sha, _, _), reply in zip(calls, replies, strict=True):
            if isinstance(reply, RedisError):
                layer.count_error("group_send", reply)
                results.append(reply)
            elif sha == self.scripts.send_list_sha():  # {accepted, pruned}
                results.append([reply[0], 1 - reply[0], reply[1]])
            else:
                results.append(reply)
        count_group_send(layer.metrics, results or [[0, 0, 0]])

    def _deliveries(
        self,
        members: Iterable[bytes],
        flat_caps: list[bytes],
        payload: bytes,
        sent_at: float,
        head: bytes,
    ) -> list[Call]:
        """One DELIVER per member process, one SEND_LIST per plain channel; `head` is the
        frames' head (the expires-at, and the position of a group with history)."""
        layer = self.layer
        caps = dict(zip(flat_caps[::2], flat_caps[1::2], strict=True))
        frame = b"%s\n\n%s" % (head, payload)  # make_frame's, for a plain channel
        by_process: dict[str, list[Any]] = {}
        calls: list[Call] = []
        for raw in members:
            channel = raw.decode()
            process = layer.process_of(channel)
            if process is None:
                capacity = int(caps.get(raw, layer.capacity))
                args = [capacity, frame, sent_at, layer.key_ttl]
                calls.append((self.scripts.send_list_sha(), [layer.list_key(channel)], args))
            else:
                by_process.setdefault(process, []).extend((channel, int(caps.get(raw, 0))))
        deliver = self.scripts.deliver_sha()
        for process, pairs in by_process.items():
            args = [sent_at, head, layer.capacity, payload, layer.key_ttl, *pairs]
            calls.append((deliver, list(layer.process_keys(process)), args))
        return calls

    async def _evalsha_pipelined(self, client: RedisCluster, calls: list[Call]) -> list[Any]:
        """Run the calls in one cluster pipeline; load scripts a node lacks and rerun those."""
        replies: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for attempt in range(2):
            pipe = client.pipeline(transaction=False)
            for index in pending:
                sha, keys, args = calls[index]
                pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)
            for index, reply in zip(pending, await pipe.execute(raise_on_error=False), strict=True):
                replies[index] = reply
            pending = [index for index in pending if isinstance(replies[index], NoScriptError)]
            if not pending or attempt:
                break
            for sha in {calls[index][0] for index in pending}:
                await self.scripts.load(client, sha)  # on every primary
        return replies


def count_group_send(metrics: LayerInstruments, results: list[Any]) -> None:
    """Count one group_send's results (one per shard or delivery call); raise the first error
    among them once all are counted."""
    delivered = full = pruned = reaped = 0
    error: BaseException | None = None
    for result in results:
        if isinstance(result, BaseException):
            error = error or result
            continue
        delivered, full, pruned = delivered + result[0], full + result[1], pruned + result[2]
        if len(result) > 4:
            reaped += result[4]
    if reaped:
        metrics.reaped("process_dead", reaped)
    if pruned:
        metrics.dropped("expired", pruned)
    if full:
        metrics.channel_full("group_send", full)
    metrics.sent("group_send", delivered)
    metrics.fanout.observe(delivered)
    if error is not None:
        raise error
