"""Automatic pipelining: concurrent commands on one client share one round trip.

No task is created per command or per batch. The first caller sends at once. Callers that arrive
while a batch is in flight queue up; when the batch returns, the first of them is woken to send
everything that queued meanwhile, in one pipeline. A lone caller therefore pays one plain round
trip, and N concurrent callers pay about two instead of N (and hold one connection, not N).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError as RedisConnectionError

from fast_channels._loop import running_loop

if TYPE_CHECKING:
    from fast_channels.layers.redis._types import Client

_LEAD = object()  # set on a queued caller's future: "your turn to send the batch"


class _Call:
    """One caller's commands (usually one) and the future its replies arrive on."""

    __slots__ = ("commands", "future")

    def __init__(self, commands: list[tuple[Any, ...]], future: asyncio.Future[Any]) -> None:
        self.commands = commands
        self.future = future


class AutoPipeline:
    """Batches `execute_command` calls on one client. Duck-types the parts of a redis-py client
    that `Scripts` uses (`evalsha`, `script_load`, `connection_pool`)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._queue: deque[_Call] = deque()
        self._busy = False

    @property
    def connection_pool(self) -> Any:
        return getattr(self.client, "connection_pool", None)  # a RedisCluster has one per node

    async def script_load(self, script: Any) -> Any:
        return await self.client.script_load(script)

    async def evalsha(self, sha: str, numkeys: int, *args: Any) -> Any:
        return await self.execute_command("EVALSHA", sha, numkeys, *args)

    async def execute_command(self, *args: Any) -> Any:
        return (await self.execute_commands([args]))[0]

    async def execute_commands(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Several commands in one go (in the same batch, in order); the first error raises."""
        call = _Call(commands, running_loop().create_future())
        if self._busy:
            self._queue.append(call)
            try:
                if await call.future is not _LEAD:
                    replies: list[Any] = call.future.result()
                    return replies
            except asyncio.CancelledError:
                if call.future.done() and not call.future.cancelled():
                    self._hand_off()  # we were chosen to send but are gone: choose another
                raise
            call.future = running_loop().create_future()
            batch = [call, *self._take_queue()]
        else:
            self._busy = True
            batch = [call]
        try:
            await self._send(batch)
        finally:
            self._hand_off()
        results: list[Any] = call.future.result()
        return results

    def _take_queue(self) -> list[_Call]:
        calls = [queued for queued in self._queue if not queued.future.done()]
        self._queue.clear()
        return calls

    def _hand_off(self) -> None:
        while self._queue:
            queued = self._queue.popleft()
            if not queued.future.done():
                queued.future.set_result(_LEAD)
                return
        self._busy = False

    async def _send(self, batch: list[_Call]) -> None:
        try:
            if len(batch) == 1 and len(batch[0].commands) == 1:
                results = [await self._one(batch[0].commands[0])]
            else:
                pipe = self.client.pipeline(transaction=False)
                for call in batch:
                    for command in call.commands:
                        pipe.execute_command(*command)
                results = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError:
            # The batch was cut off mid-flight: whether Redis ran it is unknown to the others.
            error = RedisConnectionError("a pipelined batch was interrupted (task cancelled)")
            self._fail(batch, error)
            raise
        except Exception as error:
            self._fail(batch, error)
            return
        start = 0
        for call in batch:
            replies = results[start : start + len(call.commands)]
            start += len(call.commands)
            if call.future.done():
                continue
            failure = next((reply for reply in replies if isinstance(reply, Exception)), None)
            if failure is not None:
                call.future.set_exception(failure)
            else:
                call.future.set_result(replies)

    async def _one(self, command: tuple[Any, ...]) -> Any:
        try:
            return await self.client.execute_command(*command)
        except Exception as error:  # delivered through the future, like pipeline errors
            return error

    @staticmethod
    def _fail(batch: list[_Call], error: BaseException) -> None:
        for call in batch:
            if not call.future.done():
                call.future.set_exception(error)
