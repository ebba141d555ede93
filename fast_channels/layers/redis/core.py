"""RedisChannelLayer: the reliable queue layer (lists + Lua), channels_redis compatible.

Process-local channels (`specific.<process>!<local>`) of one layer instance share one Redis
list, read by one loop (receiver.py) that pops many frames per round trip and fans them out
into local buffers. `send` and `group_send` (per shard) are one EVALSHA each (scripts.py).

Capacity: a channel is full when `capacity` frames for it wait in Redis; once the process loop
has taken them, its local buffer holds at most `capacity` more and drops (and counts) the rest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable
from typing import Any

from fast_channels.exceptions import ChannelFull
from fast_channels.layers.buffer import Delivery
from fast_channels.layers.history import GroupHistoryOption
from fast_channels.layers.redis._types import ScriptHost
from fast_channels.layers.redis.common import RedisLayerBase
from fast_channels.layers.redis.envelope import make_frame
from fast_channels.layers.redis.groupsend import PipelinedGroupSend, ScriptGroupSend
from fast_channels.layers.redis.keys import key_scheme
from fast_channels.layers.redis.legacy import ForeignChannelError
from fast_channels.layers.redis.memberships import MembershipMarker
from fast_channels.layers.redis.receiver import ProcessReceiver
from fast_channels.layers.redis.reliable import DeliveryMode, ReliableReceiver, check_options
from fast_channels.layers.redis.scripts import Scripts

SWEEP_KEYS = 20  # data keys one SWEEP looks at (up to 1000 frames each): bounded work per call
SWEEPS_PER_BEAT = 10
LEASE_ENDED = 2  # HEARTBEAT's answer when our lease had ended (1: we had none)


class RedisChannelLayer(RedisLayerBase):
    def __init__(
        self,
        *args: Any,
        delivery: DeliveryMode = "at_most_once",
        visibility_timeout: float | None = None,
        process_lease: float = 30.0,
        group_history: GroupHistoryOption | None = None,
        **kwargs: Any,
    ) -> None:
        # Named here, not only in **kwargs: tools read the option from the signature.
        super().__init__(*args, group_history=group_history, **kwargs)
        self.delivery, timeout = check_options(delivery, visibility_timeout, self.expiry)
        if isinstance(process_lease, bool) or not isinstance(process_lease, int | float):
            raise TypeError(f"process_lease must be a number of seconds, got {process_lease!r}")
        if not 0 < process_lease < math.inf:
            raise ValueError(f"process_lease must be above 0 seconds, got {process_lease!r}")
        self.scripts = Scripts()
        # Picked from the shards (keys.py, groupsend.py): a Redis Cluster takes hash-tagged
        # keys and members-then-deliveries; Redis servers plain keys and one script per shard.
        self.keys = key_scheme(self.prefix, self.shards.cluster)
        # Whether keys spanning the whole prefix (the memberships marker, the expiry index,
        # the leases) may be used: not on a Redis Cluster, where a script touches one slot.
        self.prefix_wide_keys = self.keys.prefix_wide
        self._receiver = ProcessReceiver(self)
        self.process_lease = float(process_lease)
        self.heartbeat_interval = self.process_lease / 6
        self._group_ttl = math.ceil(self.group_expiry)
        self.key_ttl = math.ceil(self.expiry) + 1  # a key outlives its newest frame by 1 s at most
        self.index_key, self.leases_key = f"{self.prefix}:exp", f"{self.prefix}:leases"
        self._index: list[str] = []
        if self.prefix_wide_keys:
            # Frames nobody reads are counted by a sweep (sweep()), not deleted unseen by Redis:
            # the TTL is only a backstop for a prefix no receive loop runs on for group_expiry.
            self.key_ttl += self._group_ttl
            self._index = [self.index_key]
        self.marker = MembershipMarker(f"{self.prefix}:memberships", self.shards.size)
        self.group_sender: ScriptGroupSend | PipelinedGroupSend = (
            PipelinedGroupSend(self, self.scripts)
            if self.shards.cluster
            else ScriptGroupSend(self, self.scripts, self.marker)
        )
        # Named channels only: a new_channel() channel dies with its process anyway.
        self._reliable = (
            ReliableReceiver(self, timeout) if self.delivery == "at_least_once" else None
        )

    # -- keys ------------------------------------------------------------------------------

    # Key names come from the key scheme (keys.py): these ask it, for the readers and for
    # tools and tests that look at Redis.

    def process_keys(self, process: str) -> tuple[str, str]:
        return self.keys.process_keys(process)

    def list_key(self, channel: str) -> str:
        return self.keys.list_key(channel)

    def group_keys(self, group: str) -> list[str]:
        return self.keys.group_keys(group)

    def history_keys(self, group: str) -> list[str]:
        return self.keys.history_keys(group)

    # -- send / receive --------------------------------------------------------------------

    async def _send(self, channel: str, message: dict[str, Any]) -> None:
        payload, sent_at = self.codec.encode(message, "send", channel)
        expires_at, capacity = sent_at + self.expiry, self.get_capacity(channel)
        client = self.shards.batched(self.shard_of_channel(channel))
        process = self.process_of(channel)
        with self.redis_op("send"):
            if process is None:
                frame = make_frame(expires_at, "", payload)
                args = [capacity, frame, sent_at, self.key_ttl]
                accepted, pruned = await self.scripts.send_list(
                    client, [self.keys.list_key(channel), *self._index], args
                )
            else:
                frame = make_frame(expires_at, channel, payload)
                args = [channel, capacity, frame, sent_at, self.key_ttl]
                keys = [*self.keys.process_keys(process), *self._index]
                accepted, pruned = await self.scripts.send_local(client, keys, args)
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
            group_key, caps_key = self.keys.group_keys(group)
            commands += [("ZREM", group_key, channel), ("HDEL", caps_key, channel)]
        # Swallowed: a consumer's cleanup must not fail, and group_expiry reaps the members.
        with self.redis_op("group_discard", swallow=True):
            await self.shards.batched(self.shard_of_channel(channel)).execute_commands(commands)

    # -- groups ----------------------------------------------------------------------------

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        group_key, caps_key = self.keys.group_keys(group)
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
        with self.redis_op("group_add"):
            await self.shards.batched(self.shard_of_channel(channel)).execute_commands(commands)
        if self.is_ours(channel):
            self.local.add_member(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        group_key, caps_key = self.keys.group_keys(group)
        commands = [("ZREM", group_key, channel), ("HDEL", caps_key, channel)]
        with self.redis_op("group_discard"):
            await self.shards.batched(self.shard_of_channel(channel)).execute_commands(commands)
        self.local.remove_member(group, channel)

    def _group_send(self, group: str, message: dict[str, Any]) -> Awaitable[None]:
        # The strategy's coroutine itself (groupsend.py): group_send awaits one frame less.
        return self.group_sender.send(group, message)

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
                group_key = self.keys.group_keys(group)[0]
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
        queue_key, _ = self.keys.process_keys(self.process_id)
        client = self.shards.client(self.shards.index(self.process_id))
        self.metrics.redis_depth.set(await client.llen(queue_key))

    async def flush(self) -> None:
        with self.redis_op("flush"):
            await self._delete_prefixed_keys()
        self.local.forget_everything()
        self._forget_presence()
        self.marker.forget()

    async def close(self) -> None:
        if self._reliable is not None:
            await self._reliable.close()
        await super().close()
        self._receiver.reset()
