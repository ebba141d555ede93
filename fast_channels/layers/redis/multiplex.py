"""One Redis connection that every caller of a layer shares at once (the hot command path).

A command is written the moment it is issued (writes of one event-loop turn go out in one
syscall) and its reply is matched in order as it arrives, straight from the transport's
`data_received`: no connection checkout, no per-command timeout task, no reader task. redis-py's
per-command path cost more CPU than the loopback round trip itself; this one costs a packing
call, a future and a parser feed. Concurrent callers are pipelined for free and never exhaust a
connection pool.

Kept instead of redis-py's client on purpose, a measured win: point to point 2.3k -> 6.4k
msgs/s (79a54ed; ops/bench/README.md). Error replies still get redis-py's exception classes.

The connection is opened by redis-py (so TLS, ACL user and password, db, client name and
Sentinel master discovery behave exactly as configured), then its transport is handed to this
module's protocol (fast_channels/_compat.py: our one reach into redis-py's connection).
Timeouts: every command fails with TimeoutError once it has waited `timeout` seconds (one
timer per connection, not one per command); the connection is then dropped, as its replies can
no longer be matched. A lost connection fails what is in flight with
ConnectionError and the next command reconnects. Retries follow the pool's redis-py `Retry`
policy (one retry on ConnectionError, or the Sentinel failover policy), as before.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import hiredis
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.exceptions import (
    ConnectionError,
    InvalidResponse,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TimeoutError,
)

from fast_channels._compat import parse_error_reply, take_over_transport

Command = tuple[Any, ...]


class LargeCommand(tuple[Any, ...]):
    """A command with a large bytes argument (a receive loop's ACK of a big burst: the target
    lists of its frames), packed here: hiredis.pack_command copies a large argument slowly
    (40 KB: 3 us either way; 200 KB: 17 us, here 7 us; 1 MB: 1.5 ms, here 25 us). Small
    commands, the usual ones, stay with hiredis (0.6 us, where this takes 1.5 us)."""

    __slots__ = ()

    def pack(self) -> bytes:
        parts = [b"*%d\r\n" % len(self)]
        for arg in self:
            if isinstance(arg, str):
                data = arg.encode()
            elif isinstance(arg, bytes | bytearray | memoryview):
                data = bytes(arg)
            elif isinstance(arg, int | float):
                data = repr(arg).encode()
            else:
                raise TypeError(f"cannot pack a {type(arg).__name__} into a Redis command")
            parts += (b"$%d\r\n" % len(data), data, b"\r\n")
        return b"".join(parts)


class _Waiter:
    """One caller's commands in flight: the replies collected so far and when to give up."""

    __slots__ = ("count", "deadline", "future", "replies")

    def __init__(self, future: asyncio.Future[list[Any]], count: int, deadline: float) -> None:
        self.future = future
        self.count = count
        self.deadline = deadline
        self.replies: list[Any] = []


class _Protocol(asyncio.Protocol):
    """Forwards transport events to its connection (kept apart: the transport holds this).
    The connection hands it the callbacks and the event it needs, bound at creation: its
    internals stay its own."""

    def __init__(
        self,
        on_data: Callable[[_Protocol, bytes], None],
        on_lost: Callable[[_Protocol, Exception | None], None],
        writable: asyncio.Event,
    ) -> None:
        self.on_data = on_data
        self.on_lost = on_lost
        self.writable = writable

    def data_received(self, data: bytes) -> None:
        self.on_data(self, data)

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_lost(self, exc)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()


class MultiplexedConnection:
    """Shares one connection of `client`'s pool among concurrent callers; see the module docstring.

    Duck-types the parts of a redis-py client that `Scripts` and the layers use
    (`execute_command`, `evalsha`, `script_load`, `connection_pool`).
    """

    def __init__(
        self, client: aioredis.Redis, timeout: float | None = None, *, retry: bool = True
    ) -> None:
        self.client = client
        self.pool: aioredis.ConnectionPool = client.connection_pool
        kwargs = self.pool.connection_kwargs
        self.timeout = float(timeout or kwargs.get("socket_timeout") or 5.0)
        policy = kwargs.get("retry") if retry else None
        self._retry: Retry | None = policy if isinstance(policy, Retry) else None
        self._protocol: _Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._stream_writer: asyncio.StreamWriter | None = None
        self._parser: Any = None
        self._pending: deque[_Waiter] = deque()
        self._out: list[bytes] = []
        self._flush: asyncio.Handle | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._connecting: asyncio.Lock | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None  # of the open connection

    @property
    def connection_pool(self) -> aioredis.ConnectionPool:
        return self.pool

    # -- commands --------------------------------------------------------------------------

    # The hot paths await the replies' future in execute_command(s) itself: one coroutine
    # frame between a caller and its reply (a send is several frames deep already).

    async def execute_command(self, *args: Any) -> Any:
        try:
            replies = await self._start([args])
        except RedisError as error:
            replies = await self._after_error(error, [args])
        reply = replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def evalsha(self, sha: str, numkeys: int, *args: Any) -> Coroutine[Any, Any, Any]:
        return self.execute_command("EVALSHA", sha, numkeys, *args)

    async def script_load(self, script: bytes | str) -> str:
        sha = await self.execute_command("SCRIPT", "LOAD", script)
        return sha.decode() if isinstance(sha, bytes) else str(sha)

    async def execute_commands(
        self, commands: list[Command], raise_on_error: bool = True
    ) -> list[Any]:
        """The replies to `commands`, sent together and in order. An error reply raises (the
        first one) unless `raise_on_error` is false: then it takes its reply's place."""
        try:
            replies = await self._start(commands)
        except RedisError as error:
            replies = await self._after_error(error, commands)
        if raise_on_error:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies

    def _start(self, commands: list[Command]) -> Awaitable[list[Any]]:
        """The replies' future when the connection is open with room to write (the usual
        case), else a coroutine that connects or waits for room first."""
        if self._transport is not None and self._writable.is_set():
            return self._submit(commands)
        return self._round_trip(commands)

    async def _after_error(self, error: RedisError, commands: list[Command]) -> list[Any]:
        if self._retry is None:
            raise error
        return await self._retry_after(self._retry, error, commands)

    async def _retry_after(
        self, retry: Retry, error: RedisError, commands: list[Command]
    ) -> list[Any]:
        """Hand the failed attempt to the pool's redis-py Retry: it re-raises what it does not
        retry, else backs off and calls again (a reconnect happens on the way)."""
        first: list[RedisError] = [error]

        async def attempt() -> list[Any]:
            if first:
                raise first.pop()
            return await self._round_trip(commands)

        return await retry.call_with_retry(attempt, self._after_failure)

    async def _after_failure(self, error: Exception) -> None:
        if isinstance(error, ReadOnlyError):
            # A failed-over master became a replica: reconnect (Sentinel names the new master).
            self._drop(ConnectionError("the master became a replica"))

    async def _round_trip(self, commands: list[Command]) -> list[Any]:
        if self._transport is None:
            await self._connect()
        if not self._writable.is_set():
            await self._writable.wait()  # Redis reads slower than we write: wait for room
        return await self._submit(commands)

    def _submit(self, commands: list[Command]) -> asyncio.Future[list[Any]]:
        """Write (or queue for this loop turn's write) `commands`; the future of their replies."""
        transport = self._transport
        if transport is None:  # lost while we waited for room
            raise ConnectionError("Connection to Redis lost")
        # The connection's own loop, where its transport, timer and futures live (and no
        # running-loop lookup per command: see fast_channels/_loop.py).
        loop = self._loop
        if loop is None:  # set with the transport: only a bug gets here
            raise ConnectionError("the multiplexed connection has no event loop")
        try:
            packed = [
                command.pack()
                if command.__class__ is LargeCommand
                else hiredis.pack_command(command)
                for command in commands
            ]
        except Exception as exc:
            raise RedisError(f"cannot encode a Redis command: {exc}") from None
        waiter = _Waiter(loop.create_future(), len(commands), loop.time() + self.timeout)
        if not self._pending and self._flush is None:
            # Nothing in flight: a lone caller (the latency case) writes at once. Otherwise
            # replies are awaited anyway, and the writes of this loop turn leave together.
            transport.write(packed[0] if len(packed) == 1 else b"".join(packed))
        else:
            self._out += packed
            if self._flush is None:
                self._flush = loop.call_soon(self._write)
        self._pending.append(waiter)
        if self._timer is None:
            self._timer = loop.call_at(waiter.deadline, self._check_deadline)
        return waiter.future

    def _write(self) -> None:
        self._flush = None
        out, self._out = self._out, []
        if self._transport is not None and out:
            self._transport.write(b"".join(out))

    # -- replies -----------------------------------------------------------------------------

    def _on_data(self, protocol: _Protocol, data: bytes) -> None:
        if protocol is not self._protocol:
            return
        parser, pending = self._parser, self._pending
        parser.feed(data)
        while True:
            try:
                reply = parser.gets()
            except InvalidResponse as exc:
                self._drop(ConnectionError(f"Redis sent an invalid reply: {exc}"))
                return
            if reply is False:
                return
            if not pending:
                self._drop(ConnectionError("Redis sent a reply nobody asked for"))
                return
            waiter = pending[0]
            if isinstance(reply, ResponseError):  # the class redis-py would raise for it
                reply = parse_error_reply(str(reply))
            waiter.replies.append(reply)
            if len(waiter.replies) == waiter.count:
                pending.popleft()
                if not waiter.future.done():  # its caller may have been cancelled
                    waiter.future.set_result(waiter.replies)

    def _check_deadline(self) -> None:
        self._timer = None
        if not self._pending:
            return
        loop = self._loop
        if loop is None:  # a timer is armed only after a connection opened
            return
        oldest = self._pending[0].deadline
        if oldest <= loop.time():
            self._drop(TimeoutError(f"Timeout reading from Redis ({self.timeout} s)"))
        else:
            self._timer = loop.call_at(oldest, self._check_deadline)

    # -- the connection ----------------------------------------------------------------------

    async def _connect(self) -> None:
        if self._closed:
            raise ConnectionError("This Redis connection was closed")
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._transport is not None:
                return
            connection = self.pool.make_connection()  # type: ignore[no-untyped-call]
            await connection.connect()
            protocol = _Protocol(self._on_data, self._on_lost, self._writable)
            transport, self._stream_writer = take_over_transport(connection, protocol)
            self._parser = hiredis.Reader(protocolError=InvalidResponse, replyError=ResponseError)
            self._protocol, self._transport = protocol, transport
            self._loop = asyncio.get_running_loop()
            self._writable.set()

    def _on_lost(self, protocol: _Protocol, exc: Exception | None) -> None:
        if protocol is self._protocol:
            reason = f": {exc}" if exc else ""
            self._drop(ConnectionError(f"Connection to Redis lost{reason}"))

    def _drop(self, error: RedisError) -> None:
        """Forget the connection and fail everything in flight with `error`."""
        transport, self._transport, self._protocol = self._transport, None, None
        self._out = []
        self._writable.set()  # waiters for room find no transport and fail
        pending, self._pending = self._pending, deque()
        for waiter in pending:
            if not waiter.future.done():
                waiter.future.set_exception(error)
        if transport is not None:
            transport.abort()
        self._stream_writer = None  # only now: its __del__ warns about an open transport

    async def aclose(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._drop(ConnectionError("This Redis connection was closed"))
