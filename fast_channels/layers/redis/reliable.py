"""At-least-once delivery for named channels (`delivery="at_least_once"`).

A receive claims a frame instead of popping it: CLAIM (lua/claim.lua) moves it from the
channel's list into an in-flight hash, its id into a sorted set scored by its deadline, in one
script. The frame stays there, invisible to other receivers, until its receiver is done with it:

- the same task's next receive on that channel acknowledges it (a consumer asks for its
  next message once its handler returned), and so does the end of that task (or the layer's
  close() from that task);
- a task cancelled while it holds a frame gives it back at once (a shutdown mid-job);
- while its receiver lives, the frame's deadline is renewed every visibility_timeout / 3;
  when the receiving process dies the deadline passes and the next CLAIM on that channel
  (by any receiver, up to SWEEP_LIMIT frames per call) moves the frame back to the head of
  the list and counts it in layer_messages_redelivered_total.

Keys (beside the list P:ch:<channel>, in its hash slot on a cluster): <list>:inflight (id ->
deadline) and <list>:frames (id -> frame, plus the id counter "n").

The receivers of a channel in one process take turns to CLAIM; the one whose turn it is waits
on BLMOVE list list LEFT LEFT, which returns when the list has a frame and leaves it there (a
peek), then claims.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Any, Literal, cast

import structlog
from redis.exceptions import RedisError, ResponseError

from fast_channels.layers.buffer import Delivery
from fast_channels.layers.redis.connection import Backoff
from fast_channels.observability.logging import RateLimitedLog

if TYPE_CHECKING:
    from fast_channels.layers.redis._types import QueueLayer

logger = structlog.get_logger("fast_channels.layers.redis")

DeliveryMode = Literal["at_most_once", "at_least_once"]
DELIVERY_MODES = ("at_most_once", "at_least_once")
SWEEP_LIMIT = 100  # expired in-flight frames one CLAIM moves back: bounds its time in Redis


def check_options(
    delivery: object, visibility_timeout: object, expiry: float
) -> tuple[DeliveryMode, float]:
    """The validated delivery mode and visibility timeout (seconds)."""
    if delivery not in DELIVERY_MODES:
        raise ValueError(f"delivery must be one of {DELIVERY_MODES}, got {delivery!r}")
    mode = cast(DeliveryMode, delivery)
    if visibility_timeout is None:
        return mode, min(30.0, expiry / 2)
    if mode != "at_least_once":
        raise ValueError(
            f"visibility_timeout applies only with delivery='at_least_once', got delivery={mode!r}"
        )
    if isinstance(visibility_timeout, bool) or not isinstance(visibility_timeout, int | float):
        raise TypeError(f"visibility_timeout must be a number, got {visibility_timeout!r}")
    if not 0 < visibility_timeout < expiry:
        # A frame redelivered after `expiry` has expired: it would only be dropped.
        raise ValueError(
            f"visibility_timeout must be > 0 and < expiry ({expiry}), got {visibility_timeout!r}"
        )
    return mode, float(visibility_timeout)


class Held:
    """The frames one task holds: channel -> in-flight id."""

    __slots__ = ("ids",)

    def __init__(self) -> None:
        self.ids: dict[str, bytes] = {}


class Turns:
    """The receivers of one channel in this process: who claims next, and the peek they share."""

    __slots__ = ("lock", "peek", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
        self.peek: asyncio.Task[None] | None = None


class ReliableReceiver:
    def __init__(self, layer: QueueLayer, visibility_timeout: float) -> None:
        self.layer = layer
        self.visibility_timeout = visibility_timeout
        self._held: dict[asyncio.Task[Any], Held] = {}
        self._turns: dict[str, Turns] = {}  # only while someone receives: names are the app's
        self._settling: set[asyncio.Task[None]] = set()  # acks and give-backs under way
        self._renewer: asyncio.Task[None] | None = None
        self._inflight_ttl = math.ceil(layer.expiry + visibility_timeout) + 1
        self._blmove = True  # until the server says it does not know BLMOVE (Redis < 6.2)
        # A warning: a redelivery means a receiver died (or was cancelled) holding a message.
        self._redelivered_log = RateLimitedLog(logger, "fast_channels.layer.redelivered")

    def keys(self, channel: str) -> list[str]:
        key = self.layer.list_key(channel)
        return [key, f"{key}:inflight", f"{key}:frames"]

    # -- receive ---------------------------------------------------------------------------

    async def receive(self, channel: str) -> Delivery:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("receive() must run in an asyncio task")
        held = self._held.get(task)
        if held is None:
            held = self._held[task] = Held()
            task.add_done_callback(self._task_done)
        previous = held.ids.pop(channel, None)
        if previous is not None:
            # Shielded: a receiver cancelled now was done with the previous message all the same.
            await asyncio.shield(self._settle(channel, [previous], ack=True))
        turns = self._turns.get(channel) or self._turns.setdefault(channel, Turns())
        turns.users += 1
        try:
            # One receiver of a channel at a time claims (FIFO): a frame that arrives wakes
            # one CLAIM, not one per waiting receiver; with a backlog each claim takes a frame.
            async with turns.lock:
                delivery, ident = await self._next(channel, turns)
        finally:
            turns.users -= 1
            if not turns.users:
                del self._turns[channel]
        held.ids[channel] = ident
        self._ensure_renewer()
        return delivery

    async def _next(self, channel: str, turns: Turns) -> tuple[Delivery, bytes]:
        layer, backoff = self.layer, Backoff()
        keys, shard = self.keys(channel), layer.shard_of_channel(channel)
        while True:
            client = layer.shards.batched(shard)  # a new one after close(): not kept
            now = time.time()
            args = [now, now + self.visibility_timeout, layer.key_ttl, self._inflight_ttl]
            try:
                frame, ident, back, pruned = await layer.scripts.run(
                    "claim", client, keys, [*args, SWEEP_LIMIT]
                )
            except RedisError as exc:  # a retry loop: counted, then back off and claim again
                layer.count_error("receive", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            if back:
                layer.metrics.redelivered.inc(back)
                self._redelivered_log(layer=layer.alias, count=back)
            if pruned:
                layer.metrics.dropped("expired", pruned)
            if not frame:
                if turns.peek is None or turns.peek.done():
                    turns.peek = self.layer.spawn(self._wait_for_frame(channel))
                await self._await_peek(turns.peek)
                continue
            ident = str(ident).encode()
            decoded = layer.decode_frame(frame, time.time())  # counts what it drops
            if decoded is None:
                await asyncio.shield(self._settle(channel, [ident], ack=True))
                continue
            message, expires_at, _ = decoded
            op, sent_at, tp = message.op, message.sent_at, message.traceparent
            return Delivery(message.message, op, sent_at, expires_at, tp), ident

    @staticmethod
    async def _await_peek(peek: asyncio.Task[None]) -> None:
        # Shielded: a receiver cancelled here leaves the peek to the next in turn. A peek
        # cancelled by the layer's close() is no reason to end a receiver: it claims again.
        try:
            await asyncio.shield(peek)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling() or not peek.cancelled():
                raise

    async def _wait_for_frame(self, channel: str) -> None:
        # Ends after block_timeout at most, so waiting receivers CLAIM (and sweep) that often.
        layer = self.layer
        key = layer.list_key(channel)
        client = layer.shards.client(layer.shard_of_channel(channel))
        try:
            if self._blmove:
                # execute_command: redis-py types the timeout as int; Redis takes a float.
                await client.execute_command(
                    "BLMOVE", key, key, "LEFT", "LEFT", layer.block_timeout
                )
                return
        except RedisError as exc:
            # Not redis_op: "unknown command" is an answer (Redis < 6.2), not an error to count.
            if isinstance(exc, ResponseError) and "unknown command" in str(exc).lower():
                self._blmove = False
            else:
                layer.count_error("receive", exc)
        await asyncio.sleep(min(0.05, layer.block_timeout))  # Redis < 6.2, or an error: poll

    # -- acknowledgement -------------------------------------------------------------------

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """A receiving task ended: done with what it holds, unless it was cancelled (a
        shutdown mid-job), whose frames go back to their channels at once."""
        held = self._held.pop(task, None)
        if held is None or not held.ids:
            return
        ack = not task.cancelled()
        for channel, ident in held.ids.items():
            self._settle_later(channel, [ident], ack)

    def _settle_later(self, channel: str, ids: list[bytes], ack: bool) -> None:
        settling = asyncio.get_running_loop().create_task(self._settle(channel, ids, ack))
        self._settling.add(settling)
        settling.add_done_callback(self._settling.discard)

    async def _settle(self, channel: str, ids: list[bytes], ack: bool) -> None:
        """Acknowledge frames (gone for good), or give them back (due now: the next CLAIM
        redelivers them). On error they are redelivered after their deadline, and counted."""
        inflight, frames = self.keys(channel)[1:]
        if ack:
            commands: list[tuple[Any, ...]] = [("ZREM", inflight, *ids), ("HDEL", frames, *ids)]
        else:
            due = [part for ident in ids for part in (0, ident)]
            commands = [("ZADD", inflight, "XX", *due)]
        client = self.layer.shards.batched(self.layer.shard_of_channel(channel))
        # Swallowed: the frames come back after their deadline (see above).
        with self.layer.redis_op("ack", swallow=True):
            await client.execute_commands(commands)

    # -- leases ----------------------------------------------------------------------------

    def _ensure_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = self.layer.spawn(self._renew_periodically())

    async def _renew_periodically(self) -> None:
        """Push back the deadlines of held frames while their receivers live: only a dead
        process lets its frames come due."""
        while self._held:
            await asyncio.sleep(self.visibility_timeout / 3)
            by_channel: dict[str, list[bytes]] = {}
            for held in self._held.values():
                for channel, ident in held.ids.items():
                    by_channel.setdefault(channel, []).append(ident)
            deadline = time.time() + self.visibility_timeout
            for channel, ids in by_channel.items():
                inflight = self.keys(channel)[1]
                due = [part for ident in ids for part in (deadline, ident)]
                client = self.layer.shards.batched(self.layer.shard_of_channel(channel))
                # Swallowed: the next renewal (visibility_timeout / 3 later) tries again.
                with self.layer.redis_op("ack", swallow=True):
                    await client.execute_commands([("ZADD", inflight, "XX", *due)])

    async def close(self) -> None:
        """Acknowledge what the closing task holds (it is done with it), give back what other
        live tasks hold, and wait for acknowledgements under way."""
        current = asyncio.current_task()
        for task, held in list(self._held.items()):
            for channel, ident in held.ids.items():
                self._settle_later(channel, [ident], ack=task is current)
            held.ids.clear()
        if self._settling:
            await asyncio.wait(list(self._settling), timeout=self.layer.socket_timeout)
