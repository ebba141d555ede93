"""RedisChannelLayer: the reliable queue layer (lists + Lua), channels_redis compatible.

Process-local channels (`specific.<process>!<local>`) of one layer instance share one Redis
list, read by one loop (receiver.py) that pops many frames per round trip and fans them out
into local buffers. `send` and `group_send` (per shard) are one EVALSHA each (scripts.py).

Capacity: a channel is full when `capacity` frames for it wait in Redis; once the process loop
has taken them, its local buffer holds at most `capacity` more and drops (and counts) the rest.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, ClassVar, NoReturn

from redis.exceptions import RedisError

from fast_channels.exceptions import ChannelFull
from fast_channels.layers.buffer import Delivery
from fast_channels.layers.redis._types import ScriptHost
from fast_channels.layers.redis.common import RedisLayerBase, logger
from fast_channels.layers.redis.envelope import make_frame
from fast_channels.layers.redis.legacy import ForeignChannelError
from fast_channels.layers.redis.memberships import LOST, MembershipMarker
from fast_channels.layers.redis.receiver import ProcessReceiver
from fast_channels.layers.redis.reliable import DeliveryMode, ReliableReceiver, check_options
from fast_channels.layers.redis.scripts import Scripts
from fast_channels.observability.logging import RateLimitedLog

SWEEP_KEYS = 20  # data keys one SWEEP looks at (up to 1000 frames each): bounded work per call
SWEEPS_PER_BEAT = 10
LEASE_ENDED = 2  # HEARTBEAT's answer when our lease had ended (1: we had none)


class RedisChannelLayer(RedisLayerBase):
    # Whether keys spanning the whole prefix (the memberships marker, the expiry index, the
    # leases) may be used: not on a Redis Cluster, where a script touches one slot, so no key
    # is one every group's script could read.
    prefix_wide_keys: ClassVar[bool] = True

    def __init__(
        self,
        *args: Any,
        delivery: DeliveryMode = "at_most_once",
        visibility_timeout: float | None = None,
        process_lease: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.delivery, timeout = check_options(delivery, visibility_timeout, self.expiry)
        if isinstance(process_lease, bool) or not isinstance(process_lease, int | float):
            raise TypeError(f"process_lease must be a number of seconds, got {process_lease!r}")
        if not 0 < process_lease < math.inf:
            raise ValueError(f"process_lease must be above 0 seconds, got {process_lease!r}")
        self.scripts = Scripts()
        self._receiver = ProcessReceiver(self)
        self.process_lease = float(process_lease)
        self.heartbeat_interval = self.process_lease / 6
        self._group_ttl = math.ceil(self.group_expiry)
        self._ttl = math.ceil(self.expiry) + 1  # a key outlives its newest frame by 1 s at most
        self.index_key, self.leases_key = f"{self.prefix}:exp", f"{self.prefix}:leases"
        self._index: list[str] = []
        if self.prefix_wide_keys:
            # Frames nobody reads are counted by a sweep (sweep()), not deleted unseen by Redis:
            # the TTL is only a backstop for a prefix no receive loop runs on for group_expiry.
            self._ttl += self._group_ttl
            self._index = [self.index_key]
        self.marker = MembershipMarker(f"{self.prefix}:memberships", self.shards.size)
        self._refusal_log = RateLimitedLog(logger, "fast_channels.layer.groups_restoring")
        # Named channels only: a new_channel() channel dies with its process anyway.
        self._reliable = (
            ReliableReceiver(self, timeout) if self.delivery == "at_least_once" else None
        )

    # -- keys ------------------------------------------------------------------------------

    def process_keys(self, process: str) -> tuple[str, str]:
        return f"{self.prefix}:q:{process}", f"{self.prefix}:n:{process}"

    def list_key(self, channel: str) -> str:
        return f"{self.prefix}:ch:{channel}"

    def group_keys(self, group: str) -> list[str]:
        return [f"{self.prefix}:g:{group}", f"{self.prefix}:gc:{group}"]

    # -- send / receive --------------------------------------------------------------------

    async def _send(self, channel: str, message: dict[str, Any]) -> None:
        payload, sent_at = self.codec.encode(message, "send", channel)
        expires_at, capacity = sent_at + self.expiry, self.get_capacity(channel)
        client = self.shards.batched(self.shard_of_channel(channel))
        process = self.process_of(channel)
        try:
            if process is None:
                frame = make_frame(expires_at, "", payload)
                args = [capacity, frame, sent_at, self._ttl]
                accepted, pruned = await self.scripts.send_list(
                    client, [self.list_key(channel), *self._index], args
                )
            else:
                frame = make_frame(expires_at, channel, payload)
                args = [channel, capacity, frame, sent_at, self._ttl]
                keys = [*self.process_keys(process), *self._index]
                accepted, pruned = await self.scripts.send_local(client, keys, args)
        except RedisError as exc:
            self._count_error("send", exc)
            raise
        if pruned:
            self.metrics.dropped("expired", pruned)
        if not accepted:
            self.metrics.channel_full("send")
            raise ChannelFull(f"Channel {channel!r} is at capacity ({capacity})")
        self.metrics.sent("send")

    def _receiving_owned(self) -> None:
        self._receiver.ensure_running()

    async def _receive_delivery(self, channel: str) -> Delivery:
        self.require_valid_channel_name(channel, receive=True)
        process = self.process_of(channel)
        if process is None:
            return await self._receive_plain(channel)
        if process != self.process_id:
            raise ForeignChannelError(
                f"Channel {channel!r} belongs to another layer instance: this one receives "
                f"only on channels it made with new_channel() (process id {self.process_id!r})"
            )
        local = self.local.channel(channel)
        self._receiver.ensure_running()
        return await self._get(local)

    async def _receive_plain(self, channel: str) -> Delivery:
        if self._reliable is not None:
            return await self._reliable.receive(channel)
        local = self.local.channel(channel)
        if not len(local):
            self._receiver.ensure_puller(channel, local)
        delivery = await self._get(local)
        if not self._receiver.has_puller(channel):
            self.local.forget_if_idle(channel, local)  # plain names must not accumulate
        return delivery

    async def release_channel(self, channel: str) -> None:
        groups = self.local.forget(channel)
        if not groups:
            return
        commands: list[tuple[Any, ...]] = []
        for group in groups:
            group_key, caps_key = self.group_keys(group)
            commands += [("ZREM", group_key, channel), ("HDEL", caps_key, channel)]
        try:
            await self.shards.batched(self.shard_of_channel(channel)).execute_commands(commands)
        except RedisError as exc:  # a consumer's cleanup must not fail: group_expiry reaps it
            self._count_error("group_discard", exc)

    # -- groups ----------------------------------------------------------------------------

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        group_key, caps_key = self.group_keys(group)
        # Batched with whatever else is in flight: a burst of connections (a deploy, a
        # reconnect storm) shares round trips and one connection instead of exhausting the pool.
        commands: list[tuple[Any, ...]] = [
            ("ZADD", group_key, time.time(), channel),
            ("EXPIRE", group_key, self._group_ttl),
        ]
        capacity = self.get_capacity(channel)
        if capacity != self.capacity:
            commands += [
                ("HSET", caps_key, channel, capacity),
                ("EXPIRE", caps_key, self._group_ttl),
            ]
        try:
            await self.shards.batched(self.shard_of_channel(channel)).execute_commands(commands)
        except RedisError as exc:
            self._count_error("group_add", exc)
            raise
        if self.is_ours(channel):
            self.local.add_member(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        group_key, caps_key = self.group_keys(group)
        commands = [("ZREM", group_key, channel), ("HDEL", caps_key, channel)]
        try:
            await self.shards.batched(self.shard_of_channel(channel)).execute_commands(commands)
        except RedisError as exc:
            self._count_error("group_discard", exc)
            raise
        self.local.remove_member(group, channel)

    async def _group_send(self, group: str, message: dict[str, Any]) -> None:
        payload, sent_at = self.codec.encode(message, "group_send", group)
        args = [
            self.prefix,
            sent_at,
            b"%.3f" % (sent_at + self.expiry),
            self.capacity,
            self.group_expiry,
            payload,
            self._ttl,
        ]
        keys = [*self.group_keys(group), self.marker.key, self.index_key, self.leases_key]
        if self.shards.size == 1:
            results: list[Any] = [await self._group_send_shard(0, keys, args, group)]
        else:
            shards = range(self.shards.size)
            results = await asyncio.gather(
                *(self._group_send_shard(index, keys, args, group) for index in shards),
                return_exceptions=True,
            )
        self._count_group_send(results)

    async def _group_send_shard(
        self, index: int, keys: list[str], args: list[Any], group: str
    ) -> list[int]:
        seen = self.marker.seen
        try:
            result = await self.scripts.group_send(
                self.shards.batched(index), keys, [*args, seen[index]]
            )
        except RedisError as exc:
            self._count_error("group_send", exc)
            raise
        if result[0] < 0:
            await self._refuse(index, result[0], group)
        if result[3]:
            seen[index] = b"1"
        return result

    async def _refuse(self, index: int, code: int, group: str) -> NoReturn:
        """GROUP_SEND sent nothing, as the shard's memberships may be incomplete: restore
        ours first if we are the first to notice, then raise (see memberships.py)."""
        if code == LOST and index not in self.marker.restoring:
            self.marker.restoring.add(index)
            try:
                await self._restore(index)
            except RedisError as exc:
                self._count_error("group_refresh", exc)
            finally:
                self.marker.restoring.discard(index)
        error = self.marker.refusal(code, group)
        self.metrics.redis_error("group_send")
        self._refusal_log(layer=self.alias, op="group_send", error=str(error))
        raise error

    async def _restore(self, index: int) -> None:
        if index == self.shards.index(self.process_id):
            await self.refresh_memberships(restoring=True)
        else:
            marker = self.marker
            await self.shards.batched(index).execute_command(
                "SET", marker.key, marker.restoring_value(), "NX"
            )

    def _count_group_send(self, results: list[Any]) -> None:
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
            self.metrics.reaped("process_dead", reaped)
        if pruned:
            self.metrics.dropped("expired", pruned)
        if full:
            self.metrics.channel_full("group_send", full)
        self.metrics.sent("group_send", delivered)
        self.metrics.fanout.observe(delivered)
        if error is not None:
            raise error

    async def refresh_memberships(self, restoring: bool = False) -> None:
        """Re-ZADD the memberships of live local channels, in one pipelined round trip;
        `restoring` after a lost connection: Redis may have lost them all (memberships.py)."""
        now, now_mono = time.time(), time.monotonic()
        home = self.shards.index(self.process_id)
        client = self.shards.client(home)
        pipe = client.pipeline(transaction=False)
        if restoring and self.prefix_wide_keys:
            pipe.set(self.marker.key, self.marker.restoring_value(), nx=True)
        for group, channels in self._groups.items():
            live = [channel for channel in channels if self.local.is_live(channel, now_mono)]
            if live:
                group_key = self.group_keys(group)[0]
                # Scores a microsecond apart in join order: equal ones would sort the members
                # by name, and a fan-out wakes receivers in the order GROUP_SEND lists them
                # (join order is allocation order: see LocalChannels.groups).
                pipe.zadd(group_key, {c: now + rank * 1e-6 for rank, c in enumerate(live)})
                pipe.expire(group_key, self._group_ttl)
        if len(pipe):
            await pipe.execute()
        if restoring:
            self.marker.seen[home] = b"1"

    async def mark_memberships(self) -> None:
        """At a receive loop's start: the marker of a fresh Redis (memberships.py)."""
        if not self.prefix_wide_keys:
            return
        home = self.shards.index(self.process_id)
        marker = self.marker
        # Seen before and started again (a loop that ended): a missing marker is a loss.
        value = marker.fresh_value() if marker.seen[home] == b"0" else marker.restoring_value()
        await self.shards.batched(home).execute_command("SET", marker.key, value, "NX")
        marker.seen[home] = b"1"

    # -- liveness: leases and the sweep ----------------------------------------------------

    async def heartbeat(self, first: bool = False) -> None:
        """Renew this process's lease (group_send reaps the members of a process whose lease
        ended), then sweep what nobody read. Run by the receive loops every heartbeat_interval,
        over the layer's shared connections (no connection of its own)."""
        if not self.prefix_wide_keys:
            return
        client = self.shards.batched(self.shards.index(self.process_id))
        ttl = max(self._group_ttl, math.ceil(2 * self.process_lease))
        lost = await self.scripts.heartbeat(
            client, [self.leases_key], [self.process_id, self.process_lease, ttl]
        )
        if lost == LEASE_ENDED or (lost and not first):
            # We stalled past our lease and may have been reaped as dead, or Redis lost its
            # data since our last beat: write our memberships again now.
            await self.refresh_memberships()
        for index in range(self.shards.size):
            await self._sweep(self.shards.batched(index))

    async def _sweep(self, client: ScriptHost) -> None:
        keys = [self.index_key, self.leases_key]
        for _ in range(SWEEPS_PER_BEAT):
            args = [self.prefix, time.time(), SWEEP_KEYS, self.group_expiry]
            dropped, more = await self.scripts.sweep(client, keys, args)
            if dropped:
                self.metrics.dropped("expired", dropped)
            if not more:
                return

    # -- lifecycle -------------------------------------------------------------------------

    async def refresh_backlog(self) -> None:
        """Also the frames waiting in Redis for this process, into queue_depth{where="redis"}."""
        await super().refresh_backlog()
        queue_key, _ = self.process_keys(self.process_id)
        client = self.shards.client(self.shards.index(self.process_id))
        self.metrics.redis_depth.set(await client.llen(queue_key))

    async def flush(self) -> None:
        try:
            await self._delete_prefixed_keys()
        except RedisError as exc:
            self._count_error("flush", exc)
            raise
        self.local.forget_everything()
        self.marker.forget()

    async def close(self) -> None:
        if self._reliable is not None:
            await self._reliable.close()
        await super().close()
        self._receiver.reset()
