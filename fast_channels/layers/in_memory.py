"""A channel layer inside one process: for development, tests and single-process apps."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Coroutine
from typing import Any

from fast_channels.exceptions import ChannelFull
from fast_channels.layers.base import BaseChannelLayer, CapacityPattern
from fast_channels.layers.buffer import (
    ChannelBuffer,
    Delivery,
    poll_unexpired,
    receive_unexpired,
    shared_delivery,
)
from fast_channels.layers.history import GroupHistoryOption, HistoryRead, LocalHistory, Position
from fast_channels.observability.tracing import current_traceparent, producer_span


class InMemoryChannelLayer(BaseChannelLayer):
    """Messages never leave the process. `channels` and `groups` stay inspectable for tests."""

    def __init__(
        self,
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: dict[CapacityPattern, int] | None = None,
        *,
        group_history: GroupHistoryOption | None = None,
    ) -> None:
        super().__init__(
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            group_history=group_history,
        )
        # None without `group_history`: group_send then pays one attribute test, no more.
        self._history = LocalHistory(self.history_policy) if self.group_history else None
        self.channels: dict[str, ChannelBuffer] = {}
        # group -> {channel: monotonic time of the last group_add}
        self.groups: dict[str, dict[str, float]] = {}
        self._memberships: dict[str, set[str]] = {}  # channel -> groups, to release in O(groups)
        self._owned: set[str] = set()  # made by new_channel(), kept until release_channel()
        # Buffers of the other channels (fixed names, "worker!x"): swept of expired messages.
        self._named: set[str] = set()
        self._next_sweep = 0.0

    # -- channels --------------------------------------------------------------------------

    def _buffer(self, channel: str) -> ChannelBuffer:
        buffer = self.channels.get(channel)
        if buffer is None:
            buffer = self.channels[channel] = ChannelBuffer()
            if channel not in self._owned:
                self._named.add(channel)
        return buffer

    def _has_room(self, channel: str, buffer: ChannelBuffer, now: float) -> bool:
        if len(buffer) < self.get_capacity(channel):
            return True
        expired = buffer.drop_expired(now)
        if expired:
            self.metrics.dropped("expired", expired)
        return len(buffer) < self.get_capacity(channel)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        self.require_valid_channel_name(channel)
        # What a Redis receiver would get, copied once: the sender may go on mutating its dict.
        payload = self.require_valid_message(message)
        if "!" in channel and channel not in self._owned and _made_by_new_channel(channel):
            # One of new_channel()'s that this layer does not have (any more): its consumer is
            # gone, and nobody could ever receive this. Dropped and counted, not buffered forever.
            # Other "!" names ("worker!x") are anyone's to receive on, as in 1.x.
            self.metrics.dropped("released")
            return
        buffer = self._buffer(channel)
        now = time.time()
        if not self._has_room(channel, buffer, now):
            self.metrics.channel_full("send")
            raise ChannelFull(f"Channel {channel!r} is at capacity ({self.get_capacity(channel)})")
        with producer_span("send", self.alias):
            buffer.put(Delivery(payload, "send", now, now + self.expiry, current_traceparent()))
        self.metrics.sent("send")

    def receive_delivery(self, channel: str) -> Coroutine[Any, Any, Delivery]:
        # Not a coroutine itself: on a channel of new_channel() (a consumer's) the caller
        # awaits the buffer's receive directly, one coroutine frame per waiting receiver.
        if channel in self._owned:  # validated when made, and its buffer kept until released
            return receive_unexpired(self._buffer(channel), self.metrics)
        return self._receive_named(channel)

    def poll_delivery(self, channel: str) -> Delivery | asyncio.Future[None] | None:
        if channel not in self._owned:
            return None
        return poll_unexpired(self._buffer(channel), self.metrics)

    def abandon_poll(self, channel: str, waiter: asyncio.Future[None]) -> None:
        buffer = self.channels.get(channel)
        if buffer is not None:
            buffer.abandon(waiter)

    async def _receive_named(self, channel: str) -> Delivery:
        self.require_valid_channel_name(channel, receive=True)
        self._sweep_if_due()
        while True:
            # Looked up again after each wake-up: another receiver may have forgotten the
            # buffer in between (then a send made a new one).
            buffer = self._buffer(channel)
            polled = poll_unexpired(buffer, self.metrics)
            if isinstance(polled, Delivery):
                self._forget_if_idle(channel, buffer)
                return polled
            try:
                await polled
            except asyncio.CancelledError:  # a receive() that timed out leaves nothing behind
                buffer.abandon(polled)
                self._forget_if_idle(channel, buffer)
                raise

    def _forget_if_idle(self, channel: str, buffer: ChannelBuffer) -> None:
        """Nobody holds this named channel's buffer: forget it, so that fixed-name channels
        do not accumulate. Not if it is no longer the channel's buffer (nothing to forget)."""
        if not len(buffer) and not buffer.has_receivers and self.channels.get(channel) is buffer:
            del self.channels[channel]
            self._named.discard(channel)

    def _sweep_if_due(self) -> None:
        """As 1.x did on every receive and group_send: drop the expired messages of named
        channels, forget those left empty and take them out of their groups. At most once
        per min(expiry, 1 s), and only over named channels: consumers' own channels drop
        theirs when read, and a fan-out to thousands of them must not pay for a sweep."""
        now = time.time()
        if now < self._next_sweep:
            return
        self._next_sweep = now + min(self.expiry, 1.0)
        for channel in list(self._named):
            buffer = self.channels.get(channel)
            expired = 0 if buffer is None else buffer.drop_expired(now)
            if expired:
                self.metrics.dropped("expired", expired)
            if buffer is None or (not len(buffer) and not buffer.has_receivers):
                self.channels.pop(channel, None)
                self._named.discard(channel)
                if expired:
                    for group in list(self._memberships.get(channel, ())):
                        self._remove_member(group, channel)

    async def new_channel(self, prefix: str = "specific") -> str:
        channel = f"{prefix}.inmemory!{secrets.token_hex(8)}"
        self.require_valid_channel_name(channel)
        self._owned.add(channel)
        self._buffer(channel)
        return channel

    async def release_channel(self, channel: str) -> None:
        self._owned.discard(channel)
        self._named.discard(channel)
        buffer = self.channels.pop(channel, None)
        if buffer is not None:
            left = buffer.clear()
            if left:
                self.metrics.dropped("released", left)
        for group in list(self._memberships.get(channel, ())):
            self._remove_member(group, channel)

    # -- groups ----------------------------------------------------------------------------

    def _remove_member(self, group: str, channel: str) -> None:
        members = self.groups.get(group)
        if members is None or members.pop(channel, None) is None:
            return
        self.metrics.group_members.dec()
        if not members:
            del self.groups[group]
            self.metrics.groups.dec()
        groups = self._memberships.get(channel)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self._memberships[channel]

    def _is_live(self, channel: str, now: float) -> bool:
        """A channel someone is receiving on keeps its memberships: only leaks lapse."""
        buffer = self.channels.get(channel)
        return buffer is not None and (
            buffer.has_receivers or now - buffer.last_active < self.group_expiry
        )

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        members = self.groups.get(group)
        if members is None:
            members = self.groups[group] = {}
            self.metrics.groups.inc()
        if channel not in members:
            self.metrics.group_members.inc()
        members[channel] = time.monotonic()
        self._memberships.setdefault(channel, set()).add(group)

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        self._remove_member(group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.require_valid_group_name(group)
        payload = self.require_valid_message(message)  # once, shared by every member
        if self._history is not None:  # its position, added to the payload every member gets
            self._history.record(group, payload)
        self._sweep_if_due()
        members = self.groups.get(group, {})
        now_mono = time.monotonic()
        lapsed = [
            channel
            for channel, joined in members.items()
            if now_mono - joined > self.group_expiry and not self._is_live(channel, now_mono)
        ]
        for channel in lapsed:
            self._remove_member(group, channel)
        with producer_span("group_send", self.alias):
            delivered, full = self._fan_out(members, payload, current_traceparent())
        if full:
            self.metrics.channel_full("group_send", full)
        self.metrics.sent("group_send", delivered)
        self.metrics.fanout.observe(delivered)

    def _fan_out(
        self, members: dict[str, float], payload: dict[str, Any], traceparent: str | None
    ) -> tuple[int, int]:
        """Queue `payload` (copied once by the caller) for every member with room."""
        now = time.time()
        delivery = shared_delivery(payload, "group_send", now, now + self.expiry, traceparent)
        channels, capacity_of = self.channels, self.get_capacity
        delivered = full = 0
        for channel in list(members):
            buffer = channels.get(channel)
            if buffer is None:  # not `or`: an empty buffer is falsy (__len__)
                buffer = self._buffer(channel)
            capacity = capacity_of(channel)
            if buffer.put(delivery, capacity) or (
                self._has_room(channel, buffer, now) and buffer.put(delivery)
            ):
                delivered += 1
            else:
                full += 1
        return delivered, full

    def local_backlog(self) -> int:
        return sum(len(buffer) for buffer in self.channels.values())

    async def read_history(self, group: str, since: Position | None = None) -> HistoryRead:
        if self._history is None:
            return await super().read_history(group, since)
        self.require_valid_group_name(group)
        return self._history.read(group, since)

    def history_size(self) -> int:
        return 0 if self._history is None else self._history.size()

    async def flush(self) -> None:
        for buffer in self.channels.values():
            buffer.clear()
        self.channels.clear()
        self._owned.clear()
        self._named.clear()
        self.metrics.groups.dec(len(self.groups))
        self.metrics.group_members.dec(sum(len(members) for members in self.groups.values()))
        self.groups.clear()
        self._memberships.clear()
        if self._history is not None:  # lost: the next positions are of new epochs
            self._history.clear()


def _made_by_new_channel(channel: str) -> bool:
    """Whether a "!" name has the shape InMemoryChannelLayer.new_channel() gives."""
    return channel[: channel.index("!")].endswith(".inmemory")
