"""Presence: who is in a group, with a small info dict each, and join/leave events.

Every layer has one store (`layer.presence`, made by its `_make_presence()`): the in-memory
one here, the Redis one in layers/redis/presence.py. A store keeps what this process joined
(`held`: the gauge, and what a Redis store renews and writes again), sends the events, and
leaves the storage to its subclass. Events go by group_send to the group's *events group*
(`events_group()`): only channels added to it get them, which is how a consumer opts in.
"""

from __future__ import annotations

import asyncio
import json
import math
from abc import ABC, abstractmethod
from typing import Any, Protocol

import structlog

from fast_channels.observability.instruments import LayerInstruments

logger = structlog.get_logger("fast_channels.layers.presence")

MAX_INFO_BYTES = 512  # as compact JSON: every read of a group carries every member's info
MAX_INFO_KEYS = 16
EVENTS_PREFIX = "fc-presence."
# Group names are shorter than 100 characters; the events group adds the prefix.
MAX_PRESENCE_GROUP_LENGTH = 99 - len(EVENTS_PREFIX)

Info = dict[str, str | int | float | bool | None]


class PresenceInfoError(ValueError):
    """The presence info is not a small flat dict (see validate_info)."""


def validate_info(info: Any) -> Info:
    """A copy of `info`, if it is a dict of at most MAX_INFO_KEYS str keys to str, int, float
    (finite), bool or None values, at most MAX_INFO_BYTES as compact JSON; else raises
    PresenceInfoError saying which rule it breaks."""
    if not isinstance(info, dict):
        raise PresenceInfoError(f"presence info must be a dict, got {type(info).__name__}")
    if len(info) > MAX_INFO_KEYS:
        raise PresenceInfoError(f"presence info has {len(info)} keys; at most {MAX_INFO_KEYS}")
    for key, value in info.items():
        if not isinstance(key, str):
            raise PresenceInfoError(f"presence info keys must be str, got {key!r}")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise PresenceInfoError(
                f"presence info[{key!r}] must be a str, int, float, bool or None, "
                f"got {type(value).__name__}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise PresenceInfoError(f"presence info[{key!r}] must be finite, got {value!r}")
    size = len(encode_info(info))
    if size > MAX_INFO_BYTES:
        raise PresenceInfoError(
            f"presence info is {size} bytes as JSON; at most {MAX_INFO_BYTES} "
            "(keep ids and display names there, fetch the rest by id)"
        )
    return dict(info)


def encode_info(info: Info) -> bytes:
    return json.dumps(info, separators=(",", ":"), ensure_ascii=False).encode()


def decode_info(data: bytes | str) -> Info:
    info: Info = json.loads(data)
    return info


def events_group(group: str) -> str:
    """The group whose members get `group`'s presence.join and presence.leave events."""
    return EVENTS_PREFIX + group


def require_presence_group(group: str) -> None:
    if len(group) > MAX_PRESENCE_GROUP_LENGTH:
        raise ValueError(
            f"A presence group name is at most {MAX_PRESENCE_GROUP_LENGTH} characters (its "
            f"events group {events_group('…')!r} must fit the group name limit), got {group!r}"
        )


def join_event(group: str, channel: str, info: Info) -> dict[str, Any]:
    return {"type": "presence.join", "group": group, "channel": channel, "info": info}


def leave_event(group: str, channel: str, info: Info, reason: str) -> dict[str, Any]:
    return {
        "type": "presence.leave",
        "group": group,
        "channel": channel,
        "info": info,
        "reason": reason,
    }


class PresenceHost(Protocol):
    """What a store needs of its layer (a Protocol: layers.base imports this module)."""

    @property
    def metrics(self) -> LayerInstruments: ...

    async def group_send(self, group: str, message: dict[str, Any]) -> None: ...


class PresenceStore(ABC):
    """One layer's presence: validation, what this process holds, events and metrics."""

    def __init__(self, layer: PresenceHost) -> None:
        self.layer = layer
        self.held: dict[str, dict[str, Info]] = {}  # group -> channel -> info, this process's

    async def join(self, group: str, channel: str, info: Any) -> None:
        require_presence_group(group)
        checked = validate_info(info)
        try:
            changed = await self._write(group, channel, checked)
        except BaseException:  # an error, or cancelled (a cleanup timeout): maybe written
            self._write_failed(group, channel)
            raise
        entries = self.held.setdefault(group, {})
        if channel not in entries:
            self.layer.metrics.presence_entries.inc()
        entries[channel] = checked
        self._joined(group)
        if changed:
            await self._announce([join_event(group, channel, checked)], group, "join")

    async def leave(self, group: str, channel: str) -> None:
        entries = self.held.get(group)
        if entries is None or channel not in entries:
            return
        held = entries.pop(channel)
        self.layer.metrics.presence_entries.dec()
        if not entries:
            del self.held[group]
        info = await self._remove(group, channel, held, last=group not in self.held)
        if info is not None:
            await self._announce([leave_event(group, channel, info, "left")], group, "leave")

    async def read(self, group: str) -> dict[str, Info]:
        require_presence_group(group)
        return await self._read(group)

    async def leave_all(self, channel: str) -> None:
        """Every entry of a channel (its consumer ended)."""
        for group in [group for group, entries in self.held.items() if channel in entries]:
            await self.leave(group, channel)

    async def _announce(self, events: list[dict[str, Any]], group: str, kind: str) -> None:
        target = events_group(group)
        if len(events) == 1:
            await self.layer.group_send(target, events[0])
        else:  # together: a Redis layer pipelines them (a dead process's many leaves)
            await asyncio.gather(*(self.layer.group_send(target, event) for event in events))
        self.layer.metrics.presence_event(kind, len(events))

    async def announce_reaped(self, group: str, reaped: dict[str, Info]) -> None:
        """Leave events for entries of dead processes this process removed (counted)."""
        if not reaped:
            return
        self.layer.metrics.presence_reaped.inc(len(reaped))
        events = [leave_event(group, ch, info, "process_dead") for ch, info in reaped.items()]
        try:
            await self._announce(events, group, "leave")
        except Exception as exc:  # a reader or keeper must not fail for it: logged
            logger.warning(
                "fast_channels.presence.leave_event_failed", group=group, error=repr(exc)
            )

    def forget(self) -> None:
        """After the layer's flush(): nothing is held any more."""
        count = sum(len(entries) for entries in self.held.values())
        self.layer.metrics.presence_entries.dec(count)
        self.held.clear()

    def _write_failed(self, group: str, channel: str) -> None:  # noqa: B027 - optional hook
        """Hook: a _write() raised, and may have stored the entry all the same."""

    def _joined(self, group: str) -> None:  # noqa: B027 - optional hook
        """Hook: this process holds an entry in `group` (the Redis store starts its keeper)."""

    @abstractmethod
    async def _write(self, group: str, channel: str, info: Info) -> bool:
        """Store the entry; True when it is new or its info changed (a join event is due)."""

    @abstractmethod
    async def _remove(self, group: str, channel: str, info: Info, last: bool) -> Info | None:
        """Remove the entry (`last`: this process's last in the group). The info it had, or
        None if it was gone already (reaped: its leave event went out then)."""

    @abstractmethod
    async def _read(self, group: str) -> dict[str, Info]:
        """Every entry of the group."""


class LocalPresence(PresenceStore):
    """The in-memory layer's: this process is everyone, so what it holds is the presence."""

    async def _write(self, group: str, channel: str, info: Info) -> bool:
        return self.held.get(group, {}).get(channel) != info

    async def _remove(self, group: str, channel: str, info: Info, last: bool) -> Info | None:
        return info

    async def _read(self, group: str) -> dict[str, Info]:
        return {channel: dict(info) for channel, info in self.held.get(group, {}).items()}
