"""Recovery of missed group messages for JSON WebSocket consumers (README "Recovery").

`join_group()` joins a group live, then replays from the layer's history what the client
missed since the position it sent in `?recover=`; live messages already replayed are skipped,
and the first frame sent while handling a message with a position carries it as "_pos", so
the client knows where to resume. Nothing here runs for a consumer that never joins this way:
its dispatch() and send_json() are the class's own (see _install).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple
from urllib.parse import parse_qs

import structlog

from fast_channels.consumer.encode_once import POS_KEY, encode_shared
from fast_channels.exceptions import InvalidChannelLayerError
from fast_channels.layers import BaseChannelLayer
from fast_channels.layers.history import POSITION_KEY, Position, no_history
from fast_channels.observability.instruments import recovery_instruments
from fast_channels.types import Message, Scope

logger = structlog.get_logger("fast_channels.recovery")

ANSWER_TYPE = "fc.recovery"
# A handshake naming more groups than this is not a client of ours: ignored, as invalid.
MAX_RECOVER_GROUPS = 256
_MAX_EPOCH_LENGTH = 128


class Recovery(NamedTuple):
    """What join_group() did: whether every message since the client's position was replayed
    (False for a fresh client, which sent none), how many were, and the group's position."""

    group: str
    recovered: bool
    replayed: int
    position: Position


def _position(value: Any) -> Position | None:
    if type(value) is not dict or set(value) != {"epoch", "offset"}:
        return None
    epoch, offset = value["epoch"], value["offset"]
    if type(epoch) is not str or len(epoch) > _MAX_EPOCH_LENGTH:
        return None
    if type(offset) is not int or offset < 0:
        return None
    return Position(epoch, offset)


def parse_recover(query_string: bytes) -> dict[str, Position]:
    """The positions of `?recover=<url-encoded JSON>`: {} without one; ValueError if it is not
    a JSON object of {group: {"epoch": str, "offset": int >= 0}}."""
    values = parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get("recover")
    if values is None:
        return {}
    if len(values) != 1:
        raise ValueError("more than one recover parameter")
    # parse_qs decoded it as Latin-1; the JSON was UTF-8 before being percent-encoded.
    decoded = json.loads(values[0].encode("latin-1").decode("utf-8"))
    if type(decoded) is not dict or len(decoded) > MAX_RECOVER_GROUPS:
        raise ValueError(f"not an object of at most {MAX_RECOVER_GROUPS} groups")
    positions = {}
    for group, value in decoded.items():
        position = _position(value)
        if position is None:
            raise ValueError(f"not a position: {value!r}")
        if position.epoch:  # epoch "": a group without history, nothing to recover there
            positions[group] = position
    return positions


def client_positions(scope: Scope) -> dict[str, Position]:
    """The client's positions; an unreadable ?recover= is ignored (a fresh connection),
    counted and logged, never a reason to close the socket."""
    try:
        return parse_recover(scope.get("query_string") or b"")
    except (ValueError, UnicodeError) as error:
        recovery_instruments().invalid.inc()
        logger.debug("invalid recover query ignored", error=str(error)[:200])
        return {}


def answer(group: str, recovery: Recovery, fresh: bool) -> dict[str, Any]:
    """The fc.recovery frame (wire protocol v1), sent before any replayed message."""
    frame: dict[str, Any] = {
        "type": ANSWER_TYPE,
        "group": group,
        "recovered": recovery.recovered,
        "replayed": recovery.replayed,
        "epoch": recovery.position.epoch,
        "offset": recovery.position.offset,
    }
    if fresh:
        frame["fresh"] = True
    return frame


async def _recent(
    layer: BaseChannelLayer, group: str, position: Position, recent: int
) -> list[dict[str, Any]]:
    """The `recent` last messages up to `position` (newer ones come live)."""
    if recent <= 0 or not position.epoch or position.offset == 0:
        return []
    since = Position(position.epoch, max(0, position.offset - recent))
    read = await layer.read_history(group, since)
    if read.position.epoch != position.epoch:
        return []  # history lost in between: nothing of this epoch to show
    return [m for m in read.messages if m[POSITION_KEY]["offset"] <= position.offset]


class GroupRecovery:
    """join_group() and what it installs on the consumer (a base of
    AsyncJsonWebsocketConsumer)."""

    if TYPE_CHECKING:  # the consumer's, declared for the type checker only
        scope: Scope
        channel_layer: BaseChannelLayer | None
        channel_name: str
        groups: list[str]
        _accepted: bool
        _connect_event_at: float
        _group_message: dict[str, Any] | None
        _shared_sent: tuple[int, ...]
        _positioned_once: ClassVar[bool]

        async def dispatch(self, message: Message) -> None: ...
        async def send_json(self, content: Any, close: bool = False) -> None: ...

        send: Any  # AsyncWebsocketConsumer.send(text_data=..., close=...)

    _client_positions: dict[str, Position] | None = None
    # group -> the position of the last message handled: live ones at or before it are skipped.
    _cursors: dict[str, Position]
    _joined: set[str]  # groups joined by join_group() on this connection
    _pending_pos: dict[str, Any] | None = None

    async def join_group(self, group: str, recent: int = 0) -> Recovery:
        """Join `group` for this connection (left on disconnect, like `groups`) and replay
        what the client missed since the position it sent; a fresh client is replayed the
        `recent` last messages. Call after accept(). See README "Recovery"."""
        layer = self.channel_layer
        if layer is None:
            raise InvalidChannelLayerError(f"{type(self).__name__}.join_group needs a layer")
        if not self._accepted:
            raise RuntimeError("join_group() sends frames: call it after accept()")
        positions = self._install()
        rejoin = group in self._joined
        if rejoin:
            # Joined again: what this connection already handled is not sent twice (and
            # this is no client's recovery: not counted as one).
            positions, recent = self._cursors, 0
        self._joined.add(group)
        if group not in self.groups:
            # A new list: an instance mounted as the app shares its `groups` with its copies.
            self.groups = [*self.groups, group]
        await layer.group_add(group, self.channel_name)  # live first: nothing falls between
        since = positions.get(group)
        # A 1.x-style layer (any object with the group methods) has no history.
        read = (
            await layer.read_history(group, since)
            if isinstance(layer, BaseChannelLayer)
            else no_history()
        )
        messages = (
            read.messages
            if since is not None
            else await _recent(layer, group, read.position, recent)
        )
        recovery = Recovery(
            group, since is not None and read.complete, len(messages), read.position
        )
        self._start_cursor(group, since, read.position)
        await type(self).send_json(self, answer(group, recovery, fresh=since is None))
        for message in messages:
            await self.dispatch(message)
        self._count(recovery, None if rejoin else since)
        return recovery

    def _install(self) -> dict[str, Position]:
        """At the first join: the client's positions read, and the dispatch that handles
        positions put on this instance (other consumers keep the class's, at no cost)."""
        positions = self._client_positions
        if positions is None:
            positions = self._client_positions = client_positions(self.scope)
            self._cursors, self._joined = {}, set()
            vars(self)["dispatch"] = self._dispatch_recovering
            # Once per connection, not per message: it adds "_pos" only while a positioned
            # message is handled (_pending_pos), else it is the class's send_json.
            vars(self)["send_json"] = self._send_json_positioned
        return positions

    def _start_cursor(self, group: str, since: Position | None, current: Position) -> None:
        # Replayed messages come after `since`. A position the stream never gave (ahead of
        # it) must not make live messages look replayed: then nothing is skipped.
        if since is None or (since.epoch == current.epoch and since.offset > current.offset):
            self._cursors.pop(group, None)
        else:
            self._cursors[group] = since

    def _count(self, recovery: Recovery, since: Position | None) -> None:
        instruments = recovery_instruments()
        if recovery.replayed:
            instruments.replayed.inc(recovery.replayed)
        if since is not None:  # a fresh join is no recovery
            instruments.outcomes["complete" if recovery.recovered else "incomplete"].inc()
            instruments.seconds.observe(time.monotonic() - self._connect_event_at)

    async def _dispatch_recovering(self, message: Message) -> None:
        """dispatch(), for a consumer that joined with recovery: a message with a position
        is skipped if already handled, else handled with send_json adding its "_pos"."""
        found = message.get(POSITION_KEY) if type(message) is dict else None
        if type(found) is not dict:
            await type(self).dispatch(self, message)
            return
        group, epoch, offset = found.get("group"), found.get("epoch"), found.get("offset")
        if type(group) is str and type(epoch) is str and type(offset) is int:
            cursor = self._cursors.get(group)
            if cursor is not None and cursor.epoch == epoch:
                if offset <= cursor.offset:
                    recovery_instruments().duplicates.inc()
                    return
                if offset > cursor.offset + 1:
                    await self._fill_gap(group, cursor, offset)
            # tuple.__new__: the NamedTuple's own __new__ is a Python call, per member.
            self._cursors[group] = tuple.__new__(Position, (epoch, offset))
        outer = self._pending_pos
        self._pending_pos = found
        try:
            await type(self).dispatch(self, message)
        finally:
            self._pending_pos = outer

    async def _fill_gap(self, group: str, cursor: Position, before: int) -> None:
        """Live messages of the group were lost on the way to this consumer (its buffer was
        full, say): those the history still has are handled, in order, before the one that
        showed the gap. The client then has no hole that a reconnection would not fill."""
        layer = self.channel_layer
        if not isinstance(layer, BaseChannelLayer):
            return
        read = await layer.read_history(group, cursor)
        missed = [
            m
            for m in read.messages
            if m[POSITION_KEY]["epoch"] == cursor.epoch and m[POSITION_KEY]["offset"] < before
        ]
        logger.debug(
            "gap in a group's live messages",
            group=group,
            missed=before - cursor.offset - 1,
            found=len(missed),
        )
        for message in missed:
            await self.dispatch(message)
        if missed:
            recovery_instruments().replayed.inc(len(missed))

    async def _send_json_positioned(self, content: Any, close: bool = False) -> None:
        """send_json of a consumer that joined with recovery. While a positioned message is
        handled, the first dict sent gets "_pos" (a copy: the app's dict is not changed); the
        handler's later sends, other content (a list) and every send outside such a message
        are the class's send_json."""
        position = self._pending_pos
        if type(content) is not dict or position is None:
            await type(self).send_json(self, content, close)
            return
        self._pending_pos = None
        group_message = self._group_message
        if group_message is None or not self._positioned_once:
            await type(self).send_json(self, {**content, POS_KEY: position}, close)
            return
        # The same frame for every member of a burst: encoded once for all (encode_once.py).
        sent, key = self._shared_sent, id(content)
        text = encode_shared(content, group_message, key in sent, position)
        self._shared_sent = (*sent, key)
        await self.send(text_data=text, close=close)
