"""A consumer's presence: join a group's presence with an info dict, read it, get its events.

A consumer opts in to a group's presence.join / presence.leave events by overriding
`presence_join` or `presence_leave` (Channels-style handler names): `join_presence` then also
adds its channel to the group's events group (layers/presence.py). Whatever presence it
joined is left when the consumer ends, however it ends (AsyncConsumer.cleanup)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from fast_channels.exceptions import InvalidChannelLayerError
from fast_channels.layers import BaseChannelLayer
from fast_channels.layers.presence import Info, events_group


class ConsumerPresence:
    """Mixed into AsyncConsumer."""

    channel_layer: BaseChannelLayer | None
    channel_name: str
    _presence_groups: tuple[str, ...] = ()  # per instance once it joins one

    def _presence_layer(self) -> BaseChannelLayer:
        if self.channel_layer is None:
            raise InvalidChannelLayerError(
                f"{type(self).__name__} needs a channel_layer_alias for presence"
            )
        return self.channel_layer

    @classmethod
    def wants_presence_events(cls) -> bool:
        """Whether the class overrides a presence event handler: its opt-in to the events."""
        return (
            cls.presence_join is not ConsumerPresence.presence_join
            or cls.presence_leave is not ConsumerPresence.presence_leave
        )

    async def join_presence(
        self, group: str, info: dict[str, Any], *, add_to_group: bool = True
    ) -> None:
        """Join `group` (left at cleanup, as the consumer's `groups` are; not with
        add_to_group=False, for a group joined otherwise, e.g. by join_group()) and its
        presence with `info`; with an event handler, its events too. The calls are made
        together: a Redis layer sends them in one pipelined round trip (then the join event).
        Its own join event reaches it too, except on the pub/sub layer, where its
        subscription to the events may come after."""
        layer, channel = self._presence_layer(), self.channel_name
        calls: list[Awaitable[None]] = []
        if add_to_group:
            calls.append(layer.group_add(group, channel))
        if self.wants_presence_events():
            calls.append(layer.group_add(events_group(group), channel))
        # Issued after the events membership: on one connection, Redis runs them in order.
        calls.append(layer.presence_join(group, channel, info))
        # Listed first: cleanup leaves it even if a call below fails or is cancelled.
        if group not in self._presence_groups:
            self._presence_groups = (*self._presence_groups, group)
        groups = getattr(self, "groups", None)
        if add_to_group and isinstance(groups, list) and group not in groups:
            groups.append(group)
        await asyncio.gather(*calls)

    async def leave_presence(self, group: str) -> None:
        """Leave `group`'s presence and its events; the group membership itself stays."""
        layer, channel = self._presence_layer(), self.channel_name
        self._presence_groups = tuple(g for g in self._presence_groups if g != group)
        await layer.presence_leave(group, channel)
        if self.wants_presence_events():
            await layer.group_discard(events_group(group), channel)

    async def read_presence(self, group: str) -> dict[str, Info]:
        """Every member of `group`'s presence, in every process: channel -> info."""
        return await self._presence_layer().read_presence(group)

    async def _leave_all_presence(self) -> None:
        """At cleanup. The events membership goes first (issued first, so on one connection
        Redis runs it first): its own leave event would reach a channel about to be released,
        and be counted as dropped."""
        layer = self.channel_layer
        groups, self._presence_groups = self._presence_groups, ()
        if layer is None:
            return
        watching = self.wants_presence_events()
        for group in groups:
            calls: list[Awaitable[None]] = []
            if watching:
                calls.append(layer.group_discard(events_group(group), self.channel_name))
            calls.append(layer.presence_leave(group, self.channel_name))
            await asyncio.gather(*calls)

    # Default handlers: a class overriding one of them gets both kinds of events.
    async def presence_join(self, event: dict[str, Any]) -> None:
        """A member joined a group whose presence this consumer joined."""

    async def presence_leave(self, event: dict[str, Any]) -> None:
        """A member left (event["reason"]: "left", or "process_dead" when its process died)."""
