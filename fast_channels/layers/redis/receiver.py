"""The queue layer's readers: ONE loop per layer instance for its process-local channels,
plus a puller per plain channel while someone waits on it.

Only these tasks pop from Redis; consumers await local buffers. A consumer cancelled while
waiting therefore never takes a popped message with it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import structlog
from redis import asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisError, ResponseError

from fast_channels.layers.redis.connection import Backoff
from fast_channels.layers.redis.multiplex import LargeCommand, MultiplexedConnection
from fast_channels.layers.redis.tasks import stopping
from fast_channels.observability.logging import RateLimitedLog

if TYPE_CHECKING:
    from fast_channels.layers.local import LocalChannel
    from fast_channels.layers.redis._types import Client, QueueLayer

logger = structlog.get_logger("fast_channels.layers.redis")

POP_BATCH = 1000
RoundTrip = Callable[[list[tuple[Any, ...]]], Awaitable[list[Any]]]
# What loads the ACK script again after NOSCRIPT: the loop's own connection, or the cluster.
ScriptClient = MultiplexedConnection | RedisCluster
# Frames whose ACK failed, kept to resend (one target list each): bounded, see _check_ack.
MAX_UNACKED = 100 * POP_BATCH
# An ACK's target lists above this many bytes are packed by LargeCommand (hiredis is as fast up
# to ~40 KB, one fan-out to 1,000 members; 2.5x slower at 200 KB, 60x at 1 MB: a backlog).
LARGE_ACK = 65536
FEW = 8  # deliveries in a burst small enough to let their receivers run before the next pop


def _targets(frame: bytes) -> bytes:
    """The target list of a frame, or nothing for a malformed one (dropped when decoded)."""
    parts = frame.split(b"\n", 2)
    return parts[1] if len(parts) == 3 else b""


class ProcessReceiver:
    def __init__(self, layer: QueueLayer) -> None:
        self.layer = layer
        self._loop_task: asyncio.Task[None] | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._pullers: dict[str, asyncio.Task[None]] = {}
        self._blmpop = True  # until the server says it does not know BLMPOP
        # The last target list decoded, and its names: a group's frames repeat the same list
        # (its members on this process) until someone joins or leaves, and splitting ~1,000
        # names costs more than comparing the bytes (see _names).
        self._last_targets = b""
        self._last_names: tuple[str, ...] = ()
        self._ack_failed_log = RateLimitedLog(logger, "fast_channels.layer.redis_error")

    def ensure_running(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = self.layer.spawn(self._run())
            self._ensure_housekeeping()

    def _ensure_housekeeping(self) -> None:
        if self._housekeeping is None or self._housekeeping.done():
            self._housekeeping = self.layer.spawn(self._refresh_periodically())

    def reset(self) -> None:
        """Forget tasks (the layer cancels them on close); the next receive starts them again."""
        self._loop_task = self._housekeeping = None
        self._pullers.clear()

    # -- the process loop ------------------------------------------------------------------

    async def _run(self) -> None:
        layer, backoff, failed, started = self.layer, Backoff(), False, False
        while not stopping():
            try:
                if failed:
                    # A restarted Redis may have lost our memberships: put them back first.
                    await layer.refresh_memberships(restoring=True)
                    # Counted once Redis really answered (refresh sends nothing when there
                    # are no memberships), so one outage is one reconnect.
                    await layer.shards.client(layer.shards.index(layer.process_id)).ping()
                    layer.metrics.reconnect("receive")
                    logger.info("fast_channels.layer.reconnected", layer=layer.alias, op="receive")
                    failed = False
                elif not started:
                    await self._mark_memberships()
                started = True
                await self._pump(backoff)
            except RedisError as exc:  # a retry loop: counted, then back off and reconnect
                layer.count_error("receive", exc)
                failed = True
                await asyncio.sleep(backoff.next_delay())
            except Exception:  # a bug must not silence every consumer of the process
                logger.exception("fast_channels.layer.receive_loop_error", layer=layer.alias)
                failed = True
                await asyncio.sleep(backoff.next_delay())

    async def _mark_memberships(self) -> None:
        # Not worth holding the loop for: without the marker, group_send just cannot tell a
        # later loss (Redis at maxmemory refuses this write but still serves pops).
        with self.layer.redis_op("group_refresh", swallow=True):
            await self.layer.mark_memberships()

    async def _pump(self, backoff: Backoff) -> None:
        """One round trip per burst: the previous burst's capacity counts are fixed (ACK) and
        the next burst is awaited (BLMPOP) in one pipeline; BLMPOP returns at once when frames
        are already waiting."""
        if not self._blmpop:
            return await self._pump_without_blmpop(backoff)
        layer = self.layer
        client = layer.shards.client(layer.shards.index(layer.process_id))
        round_trip, scripts_client, connection = self._carrier(client)
        keys = list(layer.process_keys(layer.process_id))
        taken: list[bytes] = []  # targets of frames popped but not yet acknowledged
        try:
            while not stopping():
                replies = await round_trip(self._commands(keys, taken))
                backoff.reset()
                if taken:
                    taken = await self._check_ack(scripts_client, replies[0], taken)
                # Whatever the ACK's reply, the frames BLMPOP popped have left Redis: they
                # are handed on (an unacknowledged batch is only a capacity count not yet fixed).
                delivered = self._take(replies[-1], taken)
                if delivered is None:
                    return await self._pump_without_blmpop(backoff)
                if delivered <= FEW:
                    # Let the few tasks this burst woke run first (and senders whose replies
                    # came in the same read): a reply they send then reaches Redis before our
                    # BLMPOP, which returns it at once, read with the ACK's reply, instead of
                    # blocking and waking us twice (point to point +7%, ping-pong -12%).
                    # After a bigger burst the BLMPOP goes at once. (Written before the
                    # fan-out of a burst of 1,000, where idle consumers' handlers run, it
                    # measured no better: fan-out to 1,000 plain receivers -13 to -21%,
                    # end to end +4% rate but +2.5% CPU per delivery.)
                    await asyncio.sleep(0)
        finally:
            if connection is not None:
                await connection.aclose()

    def _commands(self, keys: list[str], taken: list[bytes]) -> list[tuple[Any, ...]]:
        """The next round trip: the ACK of what `taken` holds (if anything), then BLMPOP."""
        layer = self.layer
        commands: list[tuple[Any, ...]] = []
        if taken:
            targets = b" ".join(taken)
            ack = ("EVALSHA", layer.scripts.ack_sha(), 2, *keys, targets)
            commands.append(LargeCommand(ack) if len(targets) > LARGE_ACK else ack)
        commands.append(("BLMPOP", layer.block_timeout, 1, keys[0], "LEFT", "COUNT", POP_BATCH))
        return commands

    def _carrier(
        self, client: Client
    ) -> tuple[RoundTrip, ScriptClient, MultiplexedConnection | None]:
        """What carries the receive loop's commands: a round-trip function, the client to
        load scripts through, and the connection to close when the loop ends (if its own)."""
        if isinstance(client, aioredis.Redis):
            # Its own connection, as BLMPOP blocks it. No retry here: an ACK must not run
            # twice; _run() reconnects with backoff instead.
            layer = self.layer
            connection = MultiplexedConnection(
                client, timeout=layer.block_timeout + layer.socket_timeout, retry=False
            )
            return (
                partial(connection.execute_commands, raise_on_error=False),
                connection,
                connection,
            )

        # A Redis Cluster: redis-py routes each command to its slot's node.
        async def pipelined(commands: list[tuple[Any, ...]]) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
            return replies

        return pipelined, client, None

    async def _check_ack(self, client: ScriptClient, reply: Any, taken: list[bytes]) -> list[bytes]:
        """What is still unacknowledged after the ACK's reply (all of it when ACK did not run).

        An error reply means ACK wrote nothing: a script that fails does so at its first write
        (Redis at maxmemory refuses the first write that could grow memory, and allows the
        rest once one has run; NOSCRIPT, LOADING, READONLY refuse it whole). So the same
        targets are sent again with the next ACK, and no count is subtracted twice. A reply
        lost with its connection is not retried (the ACK may have run); the counts it would
        have fixed stay high until the queue drains, when ACK deletes them."""
        if not isinstance(reply, Exception):
            return []
        if isinstance(reply, NoScriptError):
            await self.layer.scripts.load(client, self.layer.scripts.ack_sha())
        else:
            self.layer.metrics.redis_error("receive")
            self._ack_failed_log(layer=self.layer.alias, op="receive", error=repr(reply))
        if len(taken) > MAX_UNACKED:
            # Too much to keep (a long OOM under a big backlog): the counts over-estimate
            # (early ChannelFull, never a loss) until the queue drains.
            return []
        return taken

    def _take(self, popped: Any, taken: list[bytes]) -> int | None:
        """Deliver what BLMPOP popped and note its targets; how many local deliveries that
        made, or None when Redis lacks BLMPOP."""
        if isinstance(popped, ResponseError) and "unknown command" in str(popped).lower():
            self._blmpop = False  # Redis < 7
            return None
        if isinstance(popped, Exception):
            raise popped
        if popped is None:
            return 0
        return self._deliver(cast(list[bytes], popped[1]), taken)

    async def _pump_without_blmpop(self, backoff: Backoff) -> None:
        """Redis < 7: a Lua pop of up to POP_BATCH, then BLPOP of one frame when empty."""
        layer = self.layer
        client = layer.shards.client(layer.shards.index(layer.process_id))
        queue, counts = layer.process_keys(layer.process_id)
        taken: bytes = b""  # targets of the frame BLPOP took: POP fixes their counts
        while not stopping():
            _, frames = await layer.scripts.pop(client, [queue, counts], [POP_BATCH, taken])
            backoff.reset()
            taken = b""
            if frames:
                self._deliver(frames)
                continue
            popped = await client.blpop([queue], timeout=layer.block_timeout)
            if popped is not None:
                frame = cast(bytes, popped[1])
                taken = _targets(frame)
                self._deliver([frame])

    def _deliver(self, frames: list[bytes], taken: list[bytes] | None = None) -> int:
        """Fan the frames out; with `taken`, note each one's target list there (for the ACK),
        the dropped ones' too: their counts were raised when they were pushed."""
        layer, now, delivered = self.layer, time.time(), 0
        for frame in frames:
            decoded = layer.decode_frame(frame, now)
            if decoded is None:
                if taken is not None:
                    taken.append(_targets(frame))
                continue
            message, expires_at, targets = decoded
            if taken is not None:
                taken.append(targets)
            delivered += layer.fan_out(message, expires_at, self._names(targets))
        return delivered

    def _names(self, targets: bytes) -> tuple[str, ...]:
        """The channel names of a frame's target list; the previous frame's names again when
        its list is the same bytes (a memcmp, where the split makes ~1,000 strings)."""
        if targets != self._last_targets:
            self._last_names = tuple(targets.decode().split(" "))
            self._last_targets = targets
        return self._last_names

    async def _refresh_periodically(self) -> None:
        """While this process receives: renew its lease and sweep what nobody read every
        heartbeat_interval (a process that stops doing so is reaped as dead after
        process_lease), and refresh its memberships every group_expiry / 3."""
        layer, first = self.layer, True
        beat_at = refresh_at = time.monotonic()
        refresh_at += layer.group_expiry / 3
        while not stopping():
            now = time.monotonic()
            if now >= beat_at:
                beat_at = now + layer.heartbeat_interval
                # Swallowed, as below: the next period tries again (a lease outlives 6 beats).
                with layer.redis_op("heartbeat", swallow=True):
                    await layer.heartbeat(first)
                    first = False
            if now >= refresh_at:
                refresh_at = now + layer.group_expiry / 3
                with layer.redis_op("group_refresh", swallow=True):
                    await layer.refresh_memberships()
            await asyncio.sleep(max(0.0, min(beat_at, refresh_at) - time.monotonic()))

    # -- plain channels ----------------------------------------------------------------------

    def ensure_puller(self, channel: str, local: LocalChannel) -> None:
        task = self._pullers.get(channel)
        if task is None or task.done():
            self._pullers[channel] = self.layer.spawn(self._pull(channel, local))
            self._ensure_housekeeping()  # a worker reading only named channels sweeps too

    async def _pull(self, channel: str, local: LocalChannel) -> None:
        """Pop a plain channel's list only while receivers wait, so other processes get a share."""
        layer, backoff = self.layer, Backoff()
        key = layer.list_key(channel)
        client = layer.shards.client(layer.shard_of_channel(channel))
        await asyncio.sleep(0)  # let the receiver that started us register as a waiter
        while local.buffer.has_receivers and layer.is_current(channel, local) and not stopping():
            try:
                popped = await client.blpop([key], timeout=layer.block_timeout)
            except RedisError as exc:  # a retry loop: counted, then back off and pop again
                layer.count_error("receive", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            if popped is not None:
                frame = cast(bytes, popped[1])
                decoded = layer.decode_frame(frame, time.time())
                if decoded is not None:
                    layer.fan_out(decoded[0], decoded[1], (channel,))
        if self._pullers.get(channel) is asyncio.current_task():
            del self._pullers[channel]

    def has_puller(self, channel: str) -> bool:
        return channel in self._pullers
