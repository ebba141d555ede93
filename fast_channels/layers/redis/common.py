"""What both Redis layers share: options, connections, codec, local buffers and fan-out."""

from __future__ import annotations

import asyncio
import contextvars
import re
import secrets
from abc import abstractmethod
from collections.abc import Coroutine, Iterable
from typing import Any, ClassVar

import structlog

from fast_channels.layers.base import BaseChannelLayer, CapacityPattern
from fast_channels.layers.buffer import (
    Delivery,
    DirectReceiver,
    poll_unexpired,
    receive_unexpired,
    shared_delivery,
)
from fast_channels.layers.history import (
    POSITION_KEY,
    GroupHistoryOption,
    HistoryRead,
    Position,
    check_since,
    no_history,
)
from fast_channels.layers.local import LocalChannel, LocalChannels
from fast_channels.layers.redis.connection import Shards
from fast_channels.layers.redis.envelope import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Codec,
    Decoded,
    UndecodableMessage,
    split_frame,
)
from fast_channels.layers.redis.errors import RedisOp
from fast_channels.layers.redis.history import RedisHistory
from fast_channels.layers.redis.legacy import RedisLegacyMembers
from fast_channels.layers.redis.presence import DEFAULT_LEASE, RedisPresence
from fast_channels.layers.redis.scripts import Scripts
from fast_channels.layers.redis.serializers import (
    EncryptionKey,
    JSONSerializer,
    MsgPackSerializer,
    registry,
)
from fast_channels.layers.redis.utils import HostSpec, decode_hosts, wants_cluster
from fast_channels.observability.logging import RateLimitedLog

logger = structlog.get_logger("fast_channels.layers.redis")


class RedisLayerBase(RedisLegacyMembers, BaseChannelLayer):
    """Options, shards, codec, local channels and groups, shared by the queue and pub/sub layers."""

    # An idle member's handler runs in the receive loop's or the subscriber's fan-out, not
    # after a task wake-up (consumer/direct.py): end to end with 1,000 sockets, 3-12% less
    # server CPU per delivery.
    offers_direct: ClassVar[bool] = True

    # The type a constructor call returns when `hosts` names a Redis Cluster: a subclass with
    # no behaviour of its own (the layer composes what differs from its shards; cluster.py
    # says why the type remains). Set on the public class by its variant's class statement
    # (cluster.py: `class RedisClusterChannelLayer(RedisChannelLayer,
    # cluster_variant_of=RedisChannelLayer)`): the variant names its base, never the base its
    # variant, so this module imports none of them. The package's __init__ imports cluster.py,
    # and Python runs it before any of its modules: a constructor call always finds it set.
    cluster_variant: ClassVar[type[RedisLayerBase] | None] = None

    def __init_subclass__(
        cls, *, cluster_variant_of: type[RedisLayerBase] | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if cluster_variant_of is not None:
            if "cluster_variant" in vars(cluster_variant_of):
                raise TypeError(
                    f"{cluster_variant_of.__name__} has a cluster variant already: "
                    f"{cluster_variant_of.cluster_variant!r}, not also {cls.__name__}"
                )
            cluster_variant_of.cluster_variant = cls

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        target: type[RedisLayerBase] = cls
        # Only the class the variant names redirects (not the variant, not subclasses).
        variant = vars(cls).get("cluster_variant")
        if variant is not None and wants_cluster(args, kwargs):
            target = variant
        return super().__new__(target)

    def __init__(
        self,
        hosts: Iterable[HostSpec] | None = None,
        prefix: str = "asgi",
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: dict[CapacityPattern, int] | None = None,
        symmetric_encryption_keys: Iterable[EncryptionKey] | None = None,
        random_prefix_length: int = 12,
        serializer_format: str = "msgpack",
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        socket_timeout: float = 5.0,
        socket_connect_timeout: float = 2.0,
        group_history: GroupHistoryOption | None = None,
    ) -> None:
        super().__init__(
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            group_history=group_history,
        )
        if not isinstance(prefix, str) or not re.fullmatch(r"[\w\-.:]+", prefix):
            raise TypeError(f"prefix must be a non-empty str of [A-Za-z0-9_-.:], got {prefix!r}")
        if socket_timeout <= 0 or socket_connect_timeout <= 0:
            raise ValueError("socket_timeout and socket_connect_timeout must be positive")
        self.prefix = prefix
        self.hosts = decode_hosts(hosts)
        self.shards = Shards(
            self.hosts,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_connect_timeout,
        )
        self.socket_timeout = socket_timeout
        # Blocking reads end server-side well before the socket timeout would cut them.
        self.block_timeout = max(0.05, min(1.0, socket_timeout / 2))
        self.codec = self._make_codec(
            serializer_format,
            symmetric_encryption_keys,
            random_prefix_length,
            expiry,
            max_message_size,
        )
        self.process_id = secrets.token_hex(6)
        self._init_local_state()
        self._init_error_counting()

    def _init_local_state(self) -> None:
        """What this process holds: its channels, memberships, tasks and log limiters, and
        its side of the group histories in Redis (history.py; used only for groups with a
        policy)."""
        self.history = RedisHistory(self.codec, Scripts())
        self.local = LocalChannels(self)
        # The same dicts under the names the receive loops (_types.QueueLayer) and the hot
        # paths here read: one attribute lookup per message, not two.
        self._local: dict[str, LocalChannel] = self.local.channels
        self._groups: dict[str, dict[str, float]] = self.local.groups
        self._tasks: set[asyncio.Task[None]] = set()
        self._undecodable_log = RateLimitedLog(logger, "fast_channels.layer.undecodable")

    def _make_codec(
        self,
        serializer_format: str,
        symmetric_encryption_keys: Iterable[EncryptionKey] | None,
        random_prefix_length: int,
        expiry: float,
        max_message_size: int,
    ) -> Codec:
        serializer = registry.get_serializer(
            serializer_format,
            symmetric_encryption_keys=symmetric_encryption_keys,
            random_prefix_length=random_prefix_length,
            expiry=expiry,
        )
        # msgpack and JSON carry what the in-memory layer does (values.py); a serializer you
        # registered may carry more (datetimes, ...) or less, and decides for itself.
        self.value_rule_applies = type(serializer) in (MsgPackSerializer, JSONSerializer)
        if self.value_rule_applies and isinstance(serializer, MsgPackSerializer):
            serializer.keys_checked = True
        return Codec(serializer, format_name=serializer_format, max_message_size=max_message_size)

    def local_backlog(self) -> int:
        return self.local.backlog()

    def _make_presence(self) -> RedisPresence:
        # The queue layer's process_lease (issue 16), or the pub/sub layer's: one lease length.
        return RedisPresence(self, getattr(self, "process_lease", DEFAULT_LEASE))

    # -- names -----------------------------------------------------------------------------

    @staticmethod
    def process_of(channel: str) -> str | None:
        """The process id of a process-local channel `<prefix>.<process>!<local>`, else None."""
        bang = channel.find("!")
        if bang < 0:
            return None
        return channel[:bang].rpartition(".")[2]

    def is_ours(self, channel: str) -> bool:
        return self.process_of(channel) == self.process_id

    def shard_of_channel(self, channel: str) -> int:
        # All channels of one process live on one shard, beside that process's queue key.
        process = self.process_of(channel)
        return self.shards.index(channel if process is None else process)

    async def new_channel(self, prefix: str = "specific") -> str:
        channel = f"{prefix}.{self.process_id}!{secrets.token_hex(6)}"
        self.require_valid_channel_name(channel)
        self.local.channel(channel, owned=True)
        return channel

    def is_current(self, channel: str, local: object) -> bool:
        """Whether `local` is still `channel`'s (a puller stops filling one released since)."""
        return self._local.get(channel) is local

    def receive_delivery(self, channel: str) -> Coroutine[Any, Any, Delivery]:
        # Not a coroutine itself: on an instance's own channel the caller awaits _get()
        # directly, so a waiting receiver holds one coroutine frame, not two (with thousands
        # of receivers, those frames are much of what the garbage collector walks each burst).
        local = self._local.get(channel)
        if local is not None and local.owned:
            self._receiving_owned()
            return self._get(local)
        return self._receive_delivery(channel)

    def poll_delivery(
        self, channel: str, direct: DirectReceiver | None = None
    ) -> Delivery | asyncio.Future[None] | None:
        local = self._local.get(channel)
        if local is None or not local.owned:
            return None
        polled = poll_unexpired(local, self.metrics, direct)
        if not isinstance(polled, Delivery):
            self._receiving_owned()  # about to wait: whatever feeds the buffer must run
        return polled

    def abandon_poll(self, channel: str, waiter: asyncio.Future[None]) -> None:
        local = self._local.get(channel)
        if local is not None:
            local.abandon(waiter)

    @abstractmethod
    async def _receive_delivery(self, channel: str) -> Delivery:
        """receive_delivery() on any other channel: validated, and whatever feeds it started."""

    def _receiving_owned(self) -> None:
        """Called before a receive on a channel of new_channel(): whatever must run for it to
        be fed (the queue layer's receive loop). Such a channel was validated when made."""

    def _get(self, local: LocalChannel) -> Coroutine[Any, Any, Delivery]:
        """The next unexpired delivery of a local buffer (cancellation-safe: see ChannelBuffer)."""
        return receive_unexpired(local, self.metrics)

    # -- group history (README "Recovery", history.py) -------------------------------------

    @abstractmethod
    def history_keys(self, group: str) -> list[str]:
        """The group's history keys: its stream and its {epoch, offset} hash, in its slot."""

    async def read_history(self, group: str, since: Position | None = None) -> HistoryRead:
        self.require_valid_group_name(group)
        since = check_since(since)
        policy = self.history_policy(group) if self.group_history else None
        if policy is None:
            return no_history()
        client = self.shards.batched(self.shards.index(group))
        with self.redis_op("read_history"):
            read = await self.history.read(client, self.history_keys(group), group, policy, since)
        if self.history.undecodable:
            self.metrics.dropped("undecodable", self.history.undecodable)
            self.history.undecodable = 0
        return read

    def history_size(self) -> int:
        """Entries held in Redis by the histories of the (up to 1,000) groups this process
        sent to most recently, as measured at the last scrape (refresh_backlog): processes
        sending to the same group each count its entries; groups only others send to are
        not counted. Exact for one sending process and at most 1,000 history groups."""
        return self.history.size

    async def refresh_backlog(self) -> None:
        if self.history.recent:
            with self.redis_op("history_size", swallow=True):
                self.history.size = await self._measure_history()
        await super().refresh_backlog()

    async def _measure_history(self) -> int:
        """XLEN of each recent group's stream: one pipelined round trip per shard."""
        by_shard: dict[int, list[str]] = {}
        for shard, stream in self.history.recent.values():
            by_shard.setdefault(shard, []).append(stream)
        total = 0
        for shard, streams in by_shard.items():
            commands: list[tuple[Any, ...]] = [("XLEN", stream) for stream in streams]
            replies = await self.shards.batched(shard).execute_commands(commands)
            total += sum(int(reply) for reply in replies)
        return total

    # -- fan-out into local buffers ---------------------------------------------------------

    def decode_frame(self, frame: bytes, now: float) -> tuple[Decoded, float, bytes] | None:
        """Decode a frame, or count it as dropped (expired or undecodable) and return None."""
        try:
            expires_at, targets, payload, position = split_frame(frame)
            if expires_at < now:
                self.metrics.dropped("expired", targets.count(b" ") + 1)
                return None
            decoded = self.codec.decode(payload)
            if position is not None:  # once, on the message every local member shares
                decoded.message[POSITION_KEY] = position
            return decoded, expires_at, targets
        except UndecodableMessage as exc:
            self.metrics.dropped("undecodable")
            self._undecodable_log(layer=self.alias, error=str(exc))
            return None

    def fan_out(self, decoded: Decoded, expires_at: float, channels: Iterable[str]) -> int:
        """Put one decoded message into the buffers of `channels`; returns how many got it."""
        message, op, sent_at, tp = decoded.message, decoded.op, decoded.sent_at, decoded.traceparent
        delivery = shared_delivery(message, op, sent_at, expires_at, tp)
        delivered, full = self.local.fan_out(delivery, channels)
        if full:
            self.metrics.dropped("channel_full", full)
        return delivered

    # -- Redis housekeeping ----------------------------------------------------------------

    def _init_error_counting(self) -> None:
        # Per op: a Redis outage fails every call (a 2 s one under load, thousands), and the
        # counter already has their number; one line per op and interval says the rest.
        self._redis_error_log = RateLimitedLog(logger, "fast_channels.layer.redis_error")
        self._redis_ops: dict[str, RedisOp] = {}
        self._swallowing_ops: dict[str, RedisOp] = {}

    def redis_op(self, op: str, swallow: bool = False) -> RedisOp:
        """The context manager that counts a RedisError of `op` (errors.py): made once per op."""
        ops = self._swallowing_ops if swallow else self._redis_ops
        counting = ops.get(op)
        if counting is None:
            counting = ops[op] = RedisOp(self.count_error, op, swallow)
        return counting

    def count_error(self, op: str, exc: BaseException) -> None:
        self.metrics.redis_error(op)
        self._redis_error_log((op,), layer=self.alias, op=op, error=repr(exc))

    async def ping(self) -> None:
        """Every shard answers PING (within the socket timeout), or this raises."""
        await asyncio.gather(*(client.ping() for client in self.shards.clients()))

    async def _delete_prefixed_keys(self) -> None:
        """Delete every key of this prefix on every shard, by SCAN (never KEYS)."""
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + ":*"
        for client in self.shards.clients():
            batch: list[bytes] = []
            async for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    await client.unlink(*batch)
                    batch = []
            if batch:
                await client.unlink(*batch)

    def spawn(self, coro: Any) -> asyncio.Task[None]:
        # Every task a layer spawns serves the whole process (receive loop, subscribers,
        # sweepers): it starts in an empty context, not in a copy of the caller's, which is
        # the context of whichever consumer came first (its connection_id and channel, bound
        # for structlog, would otherwise label every process-wide log line; its span too).
        loop = asyncio.get_running_loop()
        task: asyncio.Task[None] = loop.create_task(coro, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a task whose cancellation redis-py swallowed ends at its next check.
            await asyncio.wait(tasks, timeout=self.socket_timeout)
        await self.shards.close()
