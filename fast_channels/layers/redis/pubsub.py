"""RedisPubSubChannelLayer: low latency over Redis PUBLISH/SUBSCRIBE, at most once.

Each layer instance subscribes, on one connection per host, to one channel for all its
process-local channels (`P:p:<process>`), one per group with a local member (`P:g:<group>`)
and one per plain channel it receives on (`P:ch:<name>`). `send` and `group_send` are one
PUBLISH; the receiving process fans a group message out to its local members.

Semantics (documented, and why the contract suite skips two capabilities): a message sent to
a channel nobody is subscribed to, or published while a subscriber is disconnected from Redis,
is lost; `send` never raises ChannelFull. Local buffers hold at most `capacity` messages per
channel; overflow is dropped and counted (`reason="channel_full"`). A local membership of a
channel nobody received on for `group_expiry` lapses.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Callable
from typing import Any

from fast_channels.layers.buffer import Delivery
from fast_channels.layers.history import GroupHistoryOption, HistoryPolicy
from fast_channels.layers.redis._types import Subscriber
from fast_channels.layers.redis.common import RedisLayerBase, logger
from fast_channels.layers.redis.envelope import make_frame
from fast_channels.layers.redis.history import policy_args
from fast_channels.layers.redis.keys import PlainKeys, ShardedPubSubKeys
from fast_channels.layers.redis.legacy import ForeignChannelError, PubSubLegacyMembers
from fast_channels.layers.redis.sharded import NodeSubscriptions
from fast_channels.layers.redis.subscriber import ShardSubscriber
from fast_channels.layers.redis.subscriptions import ShardSubscriptions
from fast_channels.layers.redis.tasks import stopping

Callback = Callable[[], Any]


class RedisPubSubChannelLayer(PubSubLegacyMembers, RedisLayerBase):
    def __init__(
        self,
        *args: Any,
        on_disconnect: Callback | None = None,
        on_reconnect: Callback | None = None,
        process_lease: float = 30.0,
        group_history: GroupHistoryOption | None = None,
        **kwargs: Any,
    ) -> None:
        # Named here, not only in **kwargs: tools read the option from the signature.
        super().__init__(*args, group_history=group_history, **kwargs)
        if isinstance(process_lease, bool) or not isinstance(process_lease, int | float):
            raise TypeError(f"process_lease must be a number of seconds, got {process_lease!r}")
        if not 0 < process_lease < math.inf:
            raise ValueError(f"process_lease must be above 0 seconds, got {process_lease!r}")
        self.process_lease = float(process_lease)  # presence's lease (layers/redis/presence.py)
        for name, callback in (("on_disconnect", on_disconnect), ("on_reconnect", on_reconnect)):
            if callback is not None and not callable(callback):
                raise TypeError(f"{name} must be a callable, got {callback!r}")
        self.on_disconnect = on_disconnect
        self.on_reconnect = on_reconnect
        # Picked from the shards: sharded pub/sub (SSUBSCRIBE per node, SPUBLISH) on a Redis
        # Cluster, one subscriber per shard (SUBSCRIBE, PUBLISH) on Redis servers.
        self.subscriptions: ShardSubscriptions | NodeSubscriptions = (
            NodeSubscriptions(self) if self.shards.cluster else ShardSubscriptions(self)
        )
        # A group's history keys (history.py): on a Cluster in its channel's slot.
        self._keys = (
            ShardedPubSubKeys(self.prefix) if self.shards.cluster else PlainKeys(self.prefix)
        )
        self._routes: dict[bytes, tuple[str, str]] = {}  # subscribed name -> (kind, target)
        self._sweeper: asyncio.Task[None] | None = None
        self._reader_stopped = False  # a subscriber's reader ended: restart before waiting

    # -- names -----------------------------------------------------------------------------

    def _subscription(self, kind: str, target: str) -> tuple[int, bytes]:
        name = f"{self.prefix}:{kind}:{target}".encode()
        self._routes[name] = (kind, target)
        return self.shards.index(target), name

    def _subscriber(self, index: int) -> ShardSubscriber:
        """Shard `index`'s subscriber, made on first use (tests read its state)."""
        if not isinstance(self.subscriptions, ShardSubscriptions):
            raise TypeError("on a Redis Cluster, subscribers are per node (sharded.py)")
        return self.subscriptions.subscriber(index)

    def route(self, name: bytes) -> tuple[str, str] | None:
        """What a subscribed name is for: (kind, target), or None once unsubscribed."""
        return self._routes.get(name)

    def subscriber_stopped(self, subscriber: object) -> None:
        if any(reader is subscriber for reader in self.subscriptions.readers()):
            self._reader_stopped = True

    def _receiving_owned(self) -> None:
        # A flag read per wait, no more. A layer driven from one event loop after another
        # (fc 1.x code calling it through async_to_sync) finds its readers ended with the old
        # loop: they start again on this one.
        if self._reader_stopped:
            self.restart_readers()

    def restart_readers(self) -> None:
        """Start the ended readers again (before a new subscription: on a new event loop, the
        other subscriptions come back too)."""
        self._reader_stopped = False
        for subscriber in self.subscriptions.readers():
            subscriber.restart()

    async def subscribe_to(self, kind: str, target: str) -> None:
        index, name = self._subscription(kind, target)
        await self.subscriptions.subscribe(index, name)

    async def subscribe_on(self, subscriber: Subscriber, name: bytes) -> None:
        """Subscribe and wait for Redis to confirm; a failure is counted, then raised."""
        if self._reader_stopped:
            self.restart_readers()
        with self.redis_op("subscribe"):
            await subscriber.subscribe(name)

    async def _unsubscribe(self, kind: str, target: str) -> None:
        index, name = self._subscription(kind, target)
        del self._routes[name]
        await self.subscriptions.unsubscribe(index, name)

    def _require_receivable(self, channel: str) -> None:
        process = self.process_of(channel)
        if process is not None and process != self.process_id:
            raise ForeignChannelError(
                f"Channel {channel!r} belongs to another layer instance: this one receives "
                f"only on channels it made with new_channel() (process id {self.process_id!r})"
            )

    # -- send / receive --------------------------------------------------------------------

    async def new_channel(self, prefix: str = "specific") -> str:
        channel = await super().new_channel(prefix)
        await self.subscribe_to("p", self.process_id)
        return channel

    async def _send(self, channel: str, message: dict[str, Any]) -> None:
        payload, sent_at = self.codec.encode(message, "send", channel)
        process = self.process_of(channel)
        if process is None:
            index, name = self.shards.index(channel), f"{self.prefix}:ch:{channel}"
            frame = make_frame(sent_at + self.expiry, "", payload)
        else:
            index, name = self.shards.index(process), f"{self.prefix}:p:{process}"
            frame = make_frame(sent_at + self.expiry, channel, payload)
        await self._publish("send", index, name, frame)

    async def _publish(self, op: str, index: int, name: str, frame: bytes) -> None:
        with self.redis_op(op):
            await self.subscriptions.publish(index, name, frame)
        self.metrics.sent(op)

    # receive_delivery() on a channel of new_channel() (RedisLayerBase) checks nothing per
    # message: validated when made, its process subscription confirmed then (the subscriber
    # restores it after a reconnect).

    async def _receive_delivery(self, channel: str) -> Delivery:
        self.require_valid_channel_name(channel, receive=True)
        self._require_receivable(channel)
        local = self.local.channel(channel)
        if self.process_of(channel) is None:
            await self.subscribe_to("ch", channel)
        else:
            await self.subscribe_to("p", self.process_id)
        return await self._get(local)

    def on_message(self, name: bytes, frame: bytes) -> None:
        route = self._routes.get(name)
        if route is None:
            return  # a message that crossed our UNSUBSCRIBE
        decoded = self.decode_frame(frame, time.time())
        if decoded is None:
            return
        message, expires_at, targets = decoded
        kind, target = route
        if kind == "p":
            self.fan_out(message, expires_at, targets.decode().split(" "))
        elif kind == "g":
            members = self._groups.get(target)
            if members:
                self.metrics.fanout.observe(self.fan_out(message, expires_at, list(members)))
        else:
            self.fan_out(message, expires_at, (target,))

    async def release_channel(self, channel: str) -> None:
        for group in self.local.forget(channel):
            if group not in self._groups:
                await self._unsubscribe("g", group)

    # -- groups ----------------------------------------------------------------------------

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        self._require_receivable(channel)
        self.local.channel(channel)
        self.local.add_member(group, channel)
        self._ensure_sweeper()
        await self.subscribe_to("g", group)

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        if self.local.remove_member(group, channel) and group not in self._groups:
            await self._unsubscribe("g", group)

    async def _group_send(self, group: str, message: dict[str, Any]) -> None:
        payload, sent_at = self.codec.encode(message, "group_send", group)
        policy = self.history_policy(group) if self.group_history else None
        if policy is not None:
            await self._publish_positioned(group, policy, payload, sent_at)
            return
        frame = make_frame(sent_at + self.expiry, "", payload)
        await self._publish(
            "group_send", self.shards.index(group), f"{self.prefix}:g:{group}", frame
        )

    def history_keys(self, group: str) -> list[str]:
        return self._keys.history_keys(group)

    async def _publish_positioned(
        self, group: str, policy: HistoryPolicy, payload: bytes, sent_at: float
    ) -> None:
        """HISTORY_PUBLISH: the append to the group's history and the PUBLISH (SPUBLISH on a
        Cluster) of the positioned frame in one script call, one round trip (history.py)."""
        index, keys = self.shards.index(group), self.history_keys(group)
        command = "SPUBLISH" if self.shards.cluster else "PUBLISH"
        args = [
            sent_at,
            *policy_args(policy),
            b"%.3f" % (sent_at + self.expiry),
            group,
            payload,
            f"{self.prefix}:g:{group}",
            command,
        ]
        with self.redis_op("group_send"):
            await self.history.scripts.run(
                "history_publish", self.shards.batched(index), keys, args
            )
        self.history.sent_to(group, index, keys[0])
        self.metrics.sent("group_send")

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = self.spawn(self._sweep_periodically())

    async def _sweep_periodically(self) -> None:
        """Lapse memberships of channels nobody received on for group_expiry (leaks)."""
        while not stopping():
            await asyncio.sleep(self.group_expiry / 3)
            for group in self.local.lapse_idle(time.monotonic()):
                if group not in self._groups:  # unless joined again while we awaited
                    await self._unsubscribe("g", group)

    # -- lifecycle -------------------------------------------------------------------------

    async def run_callback(self, name: str) -> None:
        callback = getattr(self, name)
        if callback is None:
            return
        try:
            result = callback()
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("fast_channels.layer.callback_failed", layer=self.alias, callback=name)

    async def flush(self) -> None:
        # Presence and group history are the only keys this layer writes.
        if "presence" in self.__dict__ or self.group_history:
            with self.redis_op("flush"):
                await self._delete_prefixed_keys()
        for kind, target in list(self._routes.values()):
            if kind != "p":
                await self._unsubscribe(kind, target)
        self.local.forget_everything()
        self._forget_presence()

    async def close(self) -> None:
        await super().close()
        await self.subscriptions.close()
        self._routes.clear()
