"""One pub/sub connection per Redis host, shared by every subscription of a pub/sub layer.

`subscribe()` returns once Redis confirmed the subscription. A supervisor task owns the
connection: after a loss it reconnects with backoff, re-subscribes everything, counts the
reconnect and calls the layer's on_disconnect/on_reconnect callbacks.

redis-py opens and authenticates the connection; then its transport is handed to a protocol
that parses with hiredis and hands each message to the layer as it arrives (no read task woken,
no timeout armed, per message). The supervisor only watches for a loss and pings when idle.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import hiredis
import structlog
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import (
    ConnectionError,
    InvalidResponse,
    RedisError,
    ResponseError,
    TimeoutError,
)

from fast_channels._compat import take_over_transport
from fast_channels.layers.redis.connection import Backoff
from fast_channels.layers.redis.cutoff import (
    ClosedByServer,
    Loss,
    LossReport,
    ServerFacts,
    read_facts,
)
from fast_channels.layers.redis.tasks import stopping

if TYPE_CHECKING:
    from fast_channels.layers.redis._types import PubSubLayer

logger = structlog.get_logger("fast_channels.layers.redis")

PING_AFTER_IDLE = 15.0  # seconds without traffic before we check the connection is alive


class _KeepAlive:
    """When to PING an idle subscribed connection, and when to give it up as dead."""

    __slots__ = ("last_data", "ping_sent")

    def __init__(self) -> None:
        self.last_data = time.monotonic()  # set by the reader whenever anything arrives
        self.ping_sent = 0.0  # when the outstanding PING went out; 0: none

    def ping_due(self, answer_within: float) -> bool:
        """True when a PING should go out now; raises ConnectionError once the last one has
        gone unanswered for longer than `answer_within` seconds."""
        now = time.monotonic()
        if self.ping_sent and self.last_data >= self.ping_sent:
            self.ping_sent = 0.0  # answered (or other traffic arrived: alive either way)
        if self.ping_sent and now - self.ping_sent > answer_within:
            raise ConnectionError("Redis did not answer PING on the pub/sub connection")
        if not self.ping_sent and now - self.last_data > PING_AFTER_IDLE:
            self.ping_sent = now
            return True
        return False


class _PushReader(asyncio.Protocol):
    """The subscribed connection's transport, taken over from redis-py (see the docstring)."""

    def __init__(self, subscriber: ShardSubscriber, conn: AbstractConnection) -> None:
        self.subscriber = subscriber
        self.parser = hiredis.Reader(protocolError=InvalidResponse, replyError=ResponseError)
        # Set to the error that ended the connection (a result, not an exception: nobody may be
        # left to retrieve it when the supervisor is cancelled first).
        self.lost: asyncio.Future[RedisError] = asyncio.get_running_loop().create_future()
        self.alive = _KeepAlive()
        self.transport, writer = take_over_transport(conn, self)
        self._writer: asyncio.StreamWriter | None = writer  # held until the transport is closed

    def write(self, *args: Any) -> None:
        self.transport.write(hiredis.pack_command(args))

    def data_received(self, data: bytes) -> None:
        self.alive.last_data = time.monotonic()
        parser, handle = self.parser, self.subscriber.handle
        parser.feed(data)
        while True:
            try:
                reply = parser.gets()
            except InvalidResponse as exc:
                return self._end(ConnectionError(f"Redis sent an invalid reply: {exc}"))
            if reply is False:
                return None
            if isinstance(reply, ResponseError):
                return self._end(ConnectionError(f"Redis refused a pub/sub command: {reply}"))
            try:
                handle(reply)
            except Exception:  # a bug must not silence every subscription of the process
                logger.exception(
                    "fast_channels.layer.receive_loop_error", layer=self.subscriber.layer.alias
                )

    def eof_received(self) -> bool:
        # Redis ended the stream: what it still held for us is gone (see cutoff.py). Whatever
        # the parser still holds is the start of a reply that will never end.
        self._end(ClosedByServer(mid_reply=self.parser.has_data()))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f": {exc}" if exc else ""
        self._end(ConnectionError(f"Connection to Redis lost{reason}"))

    def _end(self, error: RedisError) -> None:
        if not self.lost.done():
            self.lost.set_result(error)
        self.close()

    def close(self) -> None:
        self.transport.abort()
        self._writer = None  # only now: its __del__ warns about an open transport


class ShardSubscriber:
    SUBSCRIBE, UNSUBSCRIBE = "SUBSCRIBE", "UNSUBSCRIBE"  # sharded.py: SSUBSCRIBE, SUNSUBSCRIBE
    # sharded.py reads through redis-py instead: it turns MOVED replies into re-homing.
    take_over_transport = True

    def __init__(
        self,
        layer: PubSubLayer,
        index: int,
        make_pool: Callable[[], ConnectionPool] | None = None,
    ) -> None:
        self.layer = layer
        self.index = index
        self._make_pool = make_pool or (lambda: layer.shards.make_pool(index))
        self._pool: ConnectionPool | None = None  # the supervisor's, while it runs
        self._wanted: set[bytes] = set()
        self._confirmed: set[bytes] = set()
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._conn: AbstractConnection | None = None  # set while subscribed and reading
        self._task: asyncio.Task[None] | None = None
        self._resubscribing: set[bytes] | None = None  # names still unconfirmed after a reconnect
        self._push: _PushReader | None = None  # set while the transport is ours
        self._facts = ServerFacts()  # what the server of the current connection told
        self._loss: Loss | None = None  # a subscribed connection that ended, until reported
        self._report_loss = LossReport(layer)

    def is_subscribed(self, name: bytes) -> bool:
        return name in self._confirmed

    async def subscribe(self, name: bytes) -> None:
        if name in self._confirmed:
            return
        self._wanted.add(name)
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(name, []).append(future)
        self._ensure_running()
        await self._send(self.SUBSCRIBE, name)
        try:
            await asyncio.wait_for(asyncio.shield(future), self.layer.socket_timeout)
        except builtins.TimeoutError as exc:  # what wait_for raises; ours is redis's
            raise TimeoutError(f"Redis did not confirm the subscription to {name!r}") from exc
        finally:
            waiters = self._waiters.get(name)
            if waiters and future in waiters:
                waiters.remove(future)

    async def unsubscribe(self, name: bytes) -> None:
        self._wanted.discard(name)
        self._confirmed.discard(name)
        await self._send(self.UNSUBSCRIBE, name)

    async def _send(self, *args: Any) -> None:
        push = self._push
        if push is not None:
            if not push.lost.done():
                push.write(*args)
            return  # else the supervisor re-subscribes everything wanted when it reconnects
        conn = self._conn
        if conn is None or not conn.is_connected:
            return  # the supervisor (re)subscribes everything wanted when it connects
        with contextlib.suppress(RedisError):  # the reader sees a broken connection, reconnects
            await conn.send_command(*args, check_health=False)

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = self.layer.spawn(self._run())
            self._task.add_done_callback(self._stopped)

    def restart(self) -> None:
        """Read again on the running event loop what was subscribed on one that has ended."""
        if self._wanted:
            self._ensure_running()

    def _stopped(self, task: asyncio.Task[None]) -> None:
        # The supervisor ends only when cancelled: close(), or the end of the event loop it
        # ran on (asyncio.run() cancels what is left). Nothing is subscribed any more, and
        # the layer must start it again before a receiver waits (restart()).
        if task is not self._task:
            return
        self._confirmed.clear()
        self.layer.subscriber_stopped(self)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    # -- the supervisor --------------------------------------------------------------------

    async def _run(self) -> None:
        # A pool per run: a run ends with the event loop it ran on, and a Sentinel pool's
        # connections to the sentinels belong to that loop.
        self._pool = pool = self._make_pool()
        try:
            await self._supervise(pool)
        finally:
            self._pool = None
            await pool.aclose()

    async def _supervise(self, pool: ConnectionPool) -> None:
        backoff, was_connected = Backoff(), False
        while not stopping():
            conn = pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                await self._connect(conn, was_connected)
                was_connected = True
                backoff.reset()
                await self._read(conn)
            except (RedisError, OSError) as exc:
                self.layer.count_error("subscribe", exc)
                if self._conn is not None:
                    self._conn = None
                    if self._confirmed and self._loss is None:  # else nothing could be lost
                        self._loss = Loss(exc, self._facts)
                    self._confirmed.clear()
                    await self.layer.run_callback("on_disconnect")
                await asyncio.sleep(backoff.next_delay())
            finally:
                self._conn = None
                push, self._push = self._push, None
                if push is not None:
                    push.close()
                await conn.disconnect()

    async def _connect(self, conn: AbstractConnection, was_connected: bool) -> None:
        """Connect, learn about the server, (re)subscribe everything wanted; then count and
        log the loss that made this a reconnect (the subscriptions go out first)."""
        await conn.connect()  # type: ignore[no-untyped-call]
        facts = await read_facts(conn)
        if self.take_over_transport:
            self._push = _PushReader(self, conn)
        self._conn = conn  # from here on, subscribe() sends its own SUBSCRIBE too
        if was_connected:
            self._resubscribing = set(self._wanted)
            self._reconnected_when_confirmed()
        if self._wanted:
            await self._subscribe_all(conn)
        loss, self._loss, self._facts = self._loss, None, facts
        if loss is not None:
            self._report_loss(loss, facts, self.index)

    async def _subscribe_all(self, conn: AbstractConnection) -> None:
        if self._push is not None:
            self._push.write(self.SUBSCRIBE, *self._wanted)
        else:
            await conn.send_command(self.SUBSCRIBE, *self._wanted, check_health=False)

    async def _read(self, conn: AbstractConnection) -> None:
        if self._push is not None:
            return await self._watch(self._push)
        alive = _KeepAlive()
        while not stopping():
            # push_request: redis-py 8 otherwise treats pub/sub replies as push data and drops them.
            response = await conn.read_response(
                timeout=self.layer.block_timeout, disconnect_on_error=False, push_request=True
            )
            if response is not None:
                alive.last_data = time.monotonic()
                self.handle(response)
            elif alive.ping_due(self.layer.socket_timeout):
                await conn.send_command("PING", check_health=False)

    async def _watch(self, push: _PushReader) -> None:
        """Wait for the connection to end; PING it after PING_AFTER_IDLE without traffic and
        give it up when the answer takes longer than the socket timeout."""
        while not stopping():
            await asyncio.wait([push.lost], timeout=self.layer.block_timeout)
            if push.lost.done():
                raise push.lost.result()
            if push.alive.ping_due(self.layer.socket_timeout):
                push.write("PING")

    def handle(self, response: Any) -> None:
        kind = response[0]
        if kind == b"message":
            self.layer.on_message(response[1], response[2])
        elif kind == b"subscribe":
            self._confirm(response[1])

    def _confirm(self, name: bytes) -> None:
        if name in self._wanted:
            self._confirmed.add(name)
        for future in self._waiters.pop(name, ()):
            if not future.done():
                future.set_result(None)
        if self._resubscribing is not None:
            self._resubscribing.discard(name)
            self._reconnected_when_confirmed()

    def _reconnected_when_confirmed(self) -> None:
        if self._resubscribing:
            return
        self._resubscribing = None
        self.layer.metrics.reconnect("subscribe")
        logger.info("fast_channels.layer.reconnected", layer=self.layer.alias, op="subscribe")
        self.layer.spawn(self.layer.run_callback("on_reconnect"))
