"""What the Redis layers' helpers need of a layer and of a connection, as `Protocol`s.

The helpers (the queue layer's readers in receiver.py and reliable.py, the pub/sub subscribers
in subscriber.py, the loss report in cutoff.py) are given a layer and call back into it; typed
against the concrete layer classes, each would import the module that imports it. Typed against
these, they import this module only. The connection classes (pipeline.py, scripts.py) take a
`Client` or a `ScriptHost` from here instead of from connection.py, which builds them.

This module imports no module of the layers: at run time nothing of ours; for type checking two
value types from modules below every layer module (the codec's decoded message, the layer's
instruments). tests/test_imports.py and the import-linter contracts (pyproject.toml) keep it so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from redis import asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

if TYPE_CHECKING:
    from fast_channels.layers.history import HistoryPolicy
    from fast_channels.layers.redis.envelope import Codec, Decoded
    from fast_channels.observability.instruments import LayerInstruments

# One shard's redis-py client: a Redis (plain or Sentinel-managed) or a whole Redis Cluster.
Client: TypeAlias = aioredis.Redis | RedisCluster
Command: TypeAlias = tuple[Any, ...]


class ScriptHost(Protocol):
    """What runs the queue layer's scripts (scripts.Scripts): a command path, a redis-py
    client (plain or cluster), or a receive loop's own connection."""

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Awaitable[Any]: ...

    def script_load(self, script: Any) -> Awaitable[Any]: ...


class CommandPath(ScriptHost, Protocol):
    """A shard's hot command path (connection.Shards.batched): concurrent callers share it."""

    async def execute_command(self, *args: Any) -> Any: ...

    async def execute_commands(self, commands: list[Command]) -> list[Any]: ...


class QueueScripts(Protocol):
    """The scripts the queue layer's readers run (scripts.Scripts)."""

    def ack_sha(self) -> str: ...

    async def load(self, client: ScriptHost, sha: str) -> None: ...

    def pop(self, client: ScriptHost, keys: list[str], args: list[Any]) -> Awaitable[list[Any]]: ...

    def run(
        self, name: str, client: ScriptHost, keys: list[str], args: list[Any]
    ) -> Awaitable[Any]: ...


class ShardAccess(Protocol):
    """The layer's shards (connection.Shards): clients, command paths and pools per shard."""

    @property
    def size(self) -> int: ...

    def index(self, value: str) -> int: ...

    def client(self, index: int) -> Client: ...

    def batched(self, index: int) -> CommandPath: ...

    def make_pool(self, index: int) -> aioredis.ConnectionPool: ...

    @property
    def cluster(self) -> bool: ...

    def cluster_client(self) -> RedisCluster: ...

    def node_pool(self, host: str, port: int) -> aioredis.ConnectionPool: ...


class LayerTasks(Protocol):
    """What every helper uses: the layer's name and timeouts, its shards and instruments, the
    task spawner (tasks in an empty context) and the Redis error count (errors.py)."""

    @property
    def alias(self) -> str: ...

    @property
    def socket_timeout(self) -> float: ...

    @property
    def block_timeout(self) -> float: ...

    @property
    def metrics(self) -> LayerInstruments: ...

    @property
    def shards(self) -> ShardAccess: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]: ...

    def count_error(self, op: str, exc: BaseException) -> None: ...

    def redis_op(self, op: str, swallow: bool = False) -> AbstractContextManager[None]: ...


class QueueLayer(LayerTasks, Protocol):
    """The queue layer (core.RedisChannelLayer) as its readers see it (receiver.py,
    reliable.py): its keys and scripts, the frame decoder and the local fan-out, and the
    housekeeping its receive loop runs."""

    @property
    def process_id(self) -> str: ...

    @property
    def expiry(self) -> float: ...

    @property
    def group_expiry(self) -> float: ...

    @property
    def heartbeat_interval(self) -> float: ...

    @property
    def key_ttl(self) -> int: ...

    @property
    def scripts(self) -> QueueScripts: ...

    def is_current(self, channel: str, local: object) -> bool: ...

    def process_keys(self, process: str) -> tuple[str, str]: ...

    def list_key(self, channel: str) -> str: ...

    def shard_of_channel(self, channel: str) -> int: ...

    def decode_frame(self, frame: bytes, now: float) -> tuple[Decoded, float, bytes] | None: ...

    def fan_out(self, decoded: Decoded, expires_at: float, channels: Iterable[str]) -> int: ...

    async def refresh_memberships(self, restoring: bool = False) -> None: ...

    async def mark_memberships(self) -> None: ...

    async def heartbeat(self, first: bool = False) -> None: ...


class KeyScheme(Protocol):
    """Which key holds what (keys.py): plain, or hash-tagged on a Redis Cluster."""

    @property
    def prefix_wide(self) -> bool: ...

    def process_keys(self, process: str) -> tuple[str, str]: ...

    def list_key(self, channel: str) -> str: ...

    def group_keys(self, group: str) -> list[str]: ...

    def history_keys(self, group: str) -> list[str]: ...


class HistoryRecorder(Protocol):
    """What a group_send strategy tells the layer's history (history.RedisHistory)."""

    def sent_to(self, group: str, shard: int, stream_key: str) -> None: ...


class GroupSendLayer(QueueLayer, Protocol):
    """The queue layer as its group_send strategies (groupsend.py) see it."""

    @property
    def prefix(self) -> str: ...

    @property
    def capacity(self) -> int: ...

    @property
    def codec(self) -> Codec: ...

    @property
    def index_key(self) -> str: ...

    @property
    def leases_key(self) -> str: ...

    def group_keys(self, group: str) -> list[str]: ...

    def process_of(self, channel: str) -> str | None: ...

    @property
    def group_history(self) -> object: ...

    @property
    def history(self) -> HistoryRecorder: ...

    def history_policy(self, group: str) -> HistoryPolicy | None: ...

    def history_keys(self, group: str) -> list[str]: ...


class Subscriber(Protocol):
    """One pub/sub connection's subscriptions (subscriber.ShardSubscriber)."""

    def is_subscribed(self, name: bytes) -> bool: ...

    async def subscribe(self, name: bytes) -> None: ...

    async def unsubscribe(self, name: bytes) -> None: ...

    def restart(self) -> None: ...


class PubSubLayer(LayerTasks, Protocol):
    """The pub/sub layer (pubsub.RedisPubSubChannelLayer) as its subscribers and its
    subscription strategies (subscriptions.py, sharded.py) see it."""

    def route(self, name: bytes) -> tuple[str, str] | None: ...

    async def subscribe_to(self, kind: str, target: str) -> None: ...

    async def subscribe_on(self, subscriber: Subscriber, name: bytes) -> None: ...

    def on_message(self, name: bytes, frame: bytes) -> None: ...

    def subscriber_stopped(self, subscriber: object) -> None: ...

    async def run_callback(self, name: str) -> None: ...
