"""The queue layer's readers: ONE loop per layer instance for its process-local channels,
plus a puller per plain channel while someone waits on it.

Only these tasks pop from Redis; consumers await local buffers. A consumer cancelled while
waiting therefore never takes a popped message with it.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, cast

import structlog
from redis.exceptions import RedisError, ResponseError

from fast_channels.layers.redis.connection import Backoff

if TYPE_CHECKING:
    from fast_channels.layers.redis.common import LocalChannel
    from fast_channels.layers.redis.core import RedisChannelLayer

logger = structlog.get_logger("fast_channels.layers.redis")

POP_BATCH = 1000


def stopping() -> bool:
    """Whether the current task was asked to stop.

    redis-py can swallow a cancellation that lands while it opens a connection; the loops
    check this so that close() still ends them.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class ProcessReceiver:
    def __init__(self, layer: RedisChannelLayer) -> None:
        self.layer = layer
        self._loop_task: asyncio.Task[None] | None = None
        self._pullers: dict[str, asyncio.Task[None]] = {}
        self._blmpop = True  # until the server says it does not know BLMPOP

    def ensure_running(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = self.layer._spawn(self._run())
            self.layer._spawn(self._refresh_periodically())

    def reset(self) -> None:
        """Forget tasks (the layer cancels them on close); the next receive starts them again."""
        self._loop_task = None
        self._pullers.clear()

    # -- the process loop ------------------------------------------------------------------

    async def _run(self) -> None:
        layer, backoff, failed = self.layer, Backoff(), False
        while not stopping():
            try:
                if failed:
                    # A restarted Redis may have lost our memberships: put them back first.
                    await layer.refresh_memberships()
                    # Counted once Redis really answered (refresh sends nothing when there
                    # are no memberships), so one outage is one reconnect.
                    await layer.shards.client(layer.shards.index(layer.process_id)).ping()
                    layer.metrics.reconnect("receive")
                    logger.info("fast_channels.layer.reconnected", layer=layer.alias, op="receive")
                    failed = False
                await self._pump(backoff)
            except RedisError as exc:
                layer._count_error("receive", exc)
                failed = True
                await asyncio.sleep(backoff.next_delay())
            except Exception:  # a bug must not silence every consumer of the process
                logger.exception("fast_channels.layer.receive_loop_error", layer=layer.alias)
                failed = True
                await asyncio.sleep(backoff.next_delay())

    async def _pump(self, backoff: Backoff) -> None:
        layer = self.layer
        client = layer.shards.client(layer.shards.index(layer.process_id))
        queue, counts = layer.process_keys(layer.process_id)
        taken: bytes = b""  # targets of frames a blocking pop took: POP fixes their counts
        while not stopping():
            left, frames = await layer.scripts.pop(client, [queue, counts], [POP_BATCH, taken])
            backoff.reset()
            taken = b""
            layer.metrics.redis_depth.set(left)
            if frames:
                self._deliver(frames)
                continue
            frames = await self._block_pop(client, queue)
            if frames:
                taken = b" ".join(frame.split(b"\n", 2)[1] for frame in frames)
                self._deliver(frames)

    async def _block_pop(self, client: Any, queue: str) -> list[bytes]:
        """Wait for frames; BLMPOP (Redis 7) takes a whole burst in the round trip that waited."""
        timeout = self.layer.block_timeout
        if self._blmpop:
            try:
                reply = await client.execute_command(
                    "BLMPOP", timeout, 1, queue, "LEFT", "COUNT", POP_BATCH
                )
            except ResponseError as error:
                if "unknown command" not in str(error).lower():
                    raise
                self._blmpop = False  # Redis < 7: one frame per wait
            else:
                return [] if reply is None else cast(list[bytes], reply[1])
        popped = await client.blpop([queue], timeout=timeout)
        return [] if popped is None else [cast(bytes, popped[1])]

    def _deliver(self, frames: list[bytes]) -> None:
        layer, now = self.layer, time.time()
        for frame in frames:
            decoded = layer._decode_frame(frame, now)
            if decoded is not None:
                message, expires_at, targets = decoded
                layer._fan_out(message, expires_at, targets.decode().split(" "))

    async def _refresh_periodically(self) -> None:
        layer = self.layer
        while not stopping():
            await asyncio.sleep(layer.group_expiry / 3)
            try:
                await layer.refresh_memberships()
            except RedisError as exc:
                layer._count_error("group_refresh", exc)

    # -- plain channels ----------------------------------------------------------------------

    def ensure_puller(self, channel: str, local: LocalChannel) -> None:
        task = self._pullers.get(channel)
        if task is None or task.done():
            self._pullers[channel] = self.layer._spawn(self._pull(channel, local))

    async def _pull(self, channel: str, local: LocalChannel) -> None:
        """Pop a plain channel's list only while receivers wait, so other processes get a share."""
        layer, backoff = self.layer, Backoff()
        key = layer.list_key(channel)
        client = layer.shards.client(layer.shard_of_channel(channel))
        await asyncio.sleep(0)  # let the receiver that started us register as a waiter
        while local.buffer.has_receivers and layer._local.get(channel) is local and not stopping():
            try:
                popped = await client.blpop([key], timeout=layer.block_timeout)
            except RedisError as exc:
                layer._count_error("receive", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            if popped is not None:
                frame = cast(bytes, popped[1])
                decoded = layer._decode_frame(frame, time.time())
                if decoded is not None:
                    layer._fan_out(decoded[0], decoded[1], (channel,))
        if self._pullers.get(channel) is asyncio.current_task():
            del self._pullers[channel]

    def has_puller(self, channel: str) -> bool:
        return channel in self._pullers
