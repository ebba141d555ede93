"""One pub/sub connection per Redis host, shared by every subscription of a pub/sub layer.

`subscribe()` returns once Redis confirmed the subscription. A supervisor task owns the
connection: after a loss it reconnects with backoff, re-subscribes everything, counts the
reconnect and calls the layer's on_disconnect/on_reconnect callbacks.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import time
from typing import TYPE_CHECKING, Any

import structlog
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError, RedisError, TimeoutError

from fast_channels.layers.redis.connection import Backoff
from fast_channels.layers.redis.receiver import stopping

if TYPE_CHECKING:
    from fast_channels.layers.redis.pubsub import RedisPubSubChannelLayer

logger = structlog.get_logger("fast_channels.layers.redis")

PING_AFTER_IDLE = 15.0  # seconds without traffic before we check the connection is alive


class ShardSubscriber:
    SUBSCRIBE, UNSUBSCRIBE = "SUBSCRIBE", "UNSUBSCRIBE"  # cluster.py: SSUBSCRIBE, SUNSUBSCRIBE

    def __init__(
        self, layer: RedisPubSubChannelLayer, index: int, pool: ConnectionPool | None = None
    ) -> None:
        self.layer = layer
        self.index = index
        self._pool = layer.shards.make_pool(index) if pool is None else pool
        self._wanted: set[bytes] = set()
        self._confirmed: set[bytes] = set()
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._conn: AbstractConnection | None = None  # set while subscribed and reading
        self._task: asyncio.Task[None] | None = None
        self._resubscribing: set[bytes] | None = None  # names still unconfirmed after a reconnect

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
        conn = self._conn
        if conn is None or not conn.is_connected:
            return  # the supervisor (re)subscribes everything wanted when it connects
        with contextlib.suppress(RedisError):  # the reader sees a broken connection, reconnects
            await conn.send_command(*args, check_health=False)

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = self.layer._spawn(self._run())

    async def close(self) -> None:
        await self._pool.aclose()

    # -- the supervisor --------------------------------------------------------------------

    async def _run(self) -> None:
        backoff, was_connected = Backoff(), False
        while not stopping():
            conn = self._pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                await conn.connect()
                self._conn = conn  # from here on, subscribe() sends its own SUBSCRIBE too
                if was_connected:
                    self._resubscribing = set(self._wanted)
                    self._reconnected_when_confirmed()
                if self._wanted:
                    await self._subscribe_all(conn)
                was_connected = True
                backoff.reset()
                await self._read(conn)
            except (RedisError, OSError) as exc:
                self.layer._count_error("subscribe", exc)
                if self._conn is not None:
                    self._conn = None
                    self._confirmed.clear()
                    await self.layer._callback("on_disconnect")
                await asyncio.sleep(backoff.next_delay())
            finally:
                self._conn = None
                await conn.disconnect()

    async def _subscribe_all(self, conn: AbstractConnection) -> None:
        await conn.send_command(self.SUBSCRIBE, *self._wanted, check_health=False)

    async def _read(self, conn: AbstractConnection) -> None:
        last_data, ping_sent = time.monotonic(), 0.0
        while not stopping():
            # push_request: redis-py 8 otherwise treats pub/sub replies as push data and drops them.
            response = await conn.read_response(
                timeout=self.layer.block_timeout, disconnect_on_error=False, push_request=True
            )
            now = time.monotonic()
            if response is not None:
                last_data, ping_sent = now, 0.0
                self._handle(response)
            elif ping_sent and now - ping_sent > self.layer.socket_timeout:
                raise ConnectionError("Redis did not answer PING on the pub/sub connection")
            elif not ping_sent and now - last_data > PING_AFTER_IDLE:
                await conn.send_command("PING", check_health=False)
                ping_sent = now

    def _handle(self, response: Any) -> None:
        kind = response[0]
        if kind == b"message":
            self.layer._on_message(response[1], response[2])
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
        self.layer._spawn(self.layer._callback("on_reconnect"))
