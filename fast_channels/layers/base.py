"""What every channel layer shares: options, name validation, the envelope, metrics hooks."""

from __future__ import annotations

import asyncio
import functools
import re
from abc import ABC
from collections.abc import Awaitable, Iterable
from types import TracebackType
from typing import Any, ClassVar, Self

from fast_channels.layers.buffer import Delivery, DirectReceiver
from fast_channels.layers.history import (
    GroupHistoryOption,
    HistoryPolicy,
    HistoryRead,
    Position,
    check_since,
    history_policies,
    no_history,
)
from fast_channels.layers.patterns import NamePattern, compile_pattern
from fast_channels.layers.presence import Info, PresenceStore
from fast_channels.layers.values import plain_copy
from fast_channels.observability.instruments import LayerInstruments
from fast_channels.observability.tracing import producer_span

MAX_NAME_LENGTH = 100
RESERVED_KEY_PREFIX = "__fc_"
# Spelled out, not \d or \w (Unicode-aware in Python: "a\u0663", "a\uff11" would pass), and
# matched in full, not with ^...$ ($ also matches before a trailing newline: a member named
# "x\n" broke the frames of every group_send to its group). _CHANNEL_NAME/_GROUP_NAME are
# anchored so that .match() is a full match too; the hot path calls fullmatch on the
# unanchored pattern, which is faster (218 against 515 ns per channel name before, timeit).
_NAME_CHAR = r"[a-zA-Z0-9_.\-]"
_GROUP_RULE = rf"{_NAME_CHAR}+"
_CHANNEL_RULE = rf"{_NAME_CHAR}+(?:!{_NAME_CHAR}*)?"
_CHANNEL_NAME = re.compile(rf"\A{_CHANNEL_RULE}\Z")
_GROUP_NAME = re.compile(rf"\A{_GROUP_RULE}\Z")
_is_channel_name = re.compile(_CHANNEL_RULE).fullmatch
_is_group_name = re.compile(_GROUP_RULE).fullmatch
_NAME_RULES = "ASCII letters, digits, hyphens, underscores or periods"

CapacityPattern = NamePattern


class BaseChannelLayer(ABC):  # noqa: B024 -- ABC: subclasses declare abstract methods
    """The contract every layer implements; see the layer contract tests in tests/layers.

    Concrete, as in 1.x: a layer that defines only send, receive, new_channel, the group
    methods and flush works under our consumers (they call its receive()). The methods it
    does not define raise NotImplementedError.
    """

    extensions: ClassVar[list[str]] = ["groups", "flush"]
    # False only on a Redis layer with a serializer you registered: it sets its own rule (and
    # require_valid_message then hands the message on as it is, for the serializer to copy).
    value_rule_applies = True

    # 1.x's public names for the naming rules (the patterns are the ones we validate with).
    MAX_NAME_LENGTH: ClassVar[int] = MAX_NAME_LENGTH
    channel_name_regex: ClassVar[re.Pattern[str]] = _CHANNEL_NAME
    group_name_regex: ClassVar[re.Pattern[str]] = _GROUP_NAME
    # Whether poll_delivery() passes a `direct` receiver on to its buffers (consumer/direct.py);
    # consumers of a layer that does not make no DirectHandler at all. Ours all do.
    offers_direct: ClassVar[bool] = False
    invalid_name_error: ClassVar[str] = (
        "{} name must be a valid unicode string "
        f"with length < {MAX_NAME_LENGTH} containing only {_NAME_RULES}."
    )

    def __init__(
        self,
        expiry: float = 60,
        capacity: int = 100,
        channel_capacity: dict[CapacityPattern, int] | None = None,
        *,
        group_expiry: float = 86400,
        group_history: GroupHistoryOption | None = None,
    ) -> None:
        # Positional order as in 1.x's BaseChannelLayer: expiry, capacity, channel_capacity.
        if expiry <= 0:
            raise ValueError(f"expiry must be a positive number of seconds, got {expiry!r}")
        if group_expiry <= 0:
            raise ValueError(f"group_expiry must be positive, got {group_expiry!r}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity!r}")
        self.expiry = expiry
        self.group_expiry = group_expiry
        self.capacity = capacity
        self.channel_capacity = self._compile_capacities(channel_capacity or {})
        self._capacity_cache: dict[str, int] = {}
        # pattern -> (size, ttl): README "Recovery". Empty: no group has history.
        self.group_history = history_policies(group_history)
        self.alias = type(self).__name__

    @functools.cached_property
    def metrics(self) -> LayerInstruments:
        # Made at first use, then a plain instance attribute (no cost per access): a layer
        # registered before it is used never makes zero-valued series under its class name,
        # which multiprocess mode could not remove.
        return LayerInstruments(vars(self).get("alias", type(self).__name__))

    def bind_alias(self, alias: str) -> None:
        """Called by the registry: the alias becomes the `layer` label of this layer's metrics."""
        # __dict__: a 1.x-style subclass may never have called our __init__.
        made: LayerInstruments | None = self.__dict__.get("metrics")
        if made is not None and made.alias != alias:
            made.forget()
            del self.__dict__["metrics"]
        self.alias = alias
        if "metrics" not in self.__dict__:
            # Made now: its series exist at zero from registration on, so rate() and
            # increase() see the first increment.
            self.metrics = LayerInstruments(alias)

    # -- options ---------------------------------------------------------------------------

    def compile_capacities(
        self, patterns: dict[CapacityPattern, int]
    ) -> list[tuple[re.Pattern[str], int]]:
        """1.x's name: `channel_capacity` as (regex, capacity) pairs, globs translated."""
        return self._compile_capacities(patterns)

    def match_type_and_length(self, name: Any) -> bool:
        """1.x's check: a str shorter than MAX_NAME_LENGTH."""
        return isinstance(name, str) and len(name) < self.MAX_NAME_LENGTH

    @staticmethod
    def _compile_capacities(
        patterns: dict[CapacityPattern, int],
    ) -> list[tuple[re.Pattern[str], int]]:
        compiled = []
        for pattern, capacity in patterns.items():
            if not isinstance(capacity, int) or capacity < 1:
                raise ValueError(f"channel_capacity[{pattern!r}] must be an int >= 1")
            compiled.append((compile_pattern(pattern, "channel_capacity"), capacity))
        return compiled

    def get_capacity(self, channel: str) -> int:
        """The capacity of a channel: the first matching `channel_capacity` pattern wins."""
        cached = self._capacity_cache.get(channel)
        if cached is not None:
            return cached
        capacity = self.capacity
        for pattern, value in self.channel_capacity:
            if pattern.match(channel):
                capacity = value
                break
        if len(self._capacity_cache) < 10_000:  # bounded: channel names are unbounded
            self._capacity_cache[channel] = capacity
        return capacity

    def history_policy(self, group: str) -> HistoryPolicy | None:
        """The `group_history` policy of a group: the first matching pattern's, or None."""
        # __dict__: a 1.x-style subclass may never have called our __init__.
        table = self.__dict__.get("group_history")
        return None if table is None else table.lookup(group)

    # -- validation ------------------------------------------------------------------------

    @staticmethod
    def _name_error(name: Any, kind: str) -> TypeError:
        if not isinstance(name, str):
            return TypeError(f"{kind} name must be a str, got {type(name).__name__}: {name!r}")
        if len(name) >= MAX_NAME_LENGTH:
            return TypeError(
                f"{kind} name must be shorter than {MAX_NAME_LENGTH} characters, "
                f"got {len(name)}: {name!r}"
            )
        rules = _NAME_RULES + (" (and one '!', not first)" if kind == "Channel" else "")
        return TypeError(f"{kind} name may contain only {rules}, got {name!r}")

    # Per call on every send, group_send and group_add: one condition, the error worked out
    # only when it fails.
    def require_valid_channel_name(self, name: Any, receive: bool = False) -> bool:
        # `receive` is kept for compatibility; a receivable name is any valid name.
        if isinstance(name, str) and len(name) < MAX_NAME_LENGTH and _is_channel_name(name):
            return True
        raise self._name_error(name, "Channel")

    def require_valid_group_name(self, name: Any) -> bool:
        if isinstance(name, str) and len(name) < MAX_NAME_LENGTH and _is_group_name(name):
            return True
        raise self._name_error(name, "Group")

    def valid_channel_names(self, names: Iterable[Any], receive: bool = False) -> bool:
        if isinstance(names, str):
            raise TypeError(f"Expected a list of channel names, got a str: {names!r}")
        for name in names:
            self.require_valid_channel_name(name, receive=receive)
        return True

    @staticmethod
    def non_local_name(name: str) -> str:
        """The part of a process-specific channel name that names the process: 'a.b!c' → 'a.b!'."""
        if "!" in name:
            return name[: name.find("!") + 1]
        return name

    def require_valid_message(self, message: Any) -> dict[str, Any]:
        """Raises unless every layer can carry `message` (values.py); returns what a receiver
        gets of it: a copy made of plain dicts, lists, str, bytes, int, float, bool, None."""
        if not isinstance(message, dict):
            raise TypeError(f"A message must be a dict, got {type(message).__name__}")
        for key in message:
            if isinstance(key, str) and key.startswith(RESERVED_KEY_PREFIX):
                raise ValueError(
                    f"Message key {key!r} is reserved for the layer envelope "
                    f"(keys starting with {RESERVED_KEY_PREFIX!r} may not be sent)"
                )
        if self.value_rule_applies:
            return plain_copy(message)
        return message

    # -- the contract ----------------------------------------------------------------------

    # send() and group_send() validate, open the producer span and hand the receiver's copy
    # of the message to _send()/_group_send(), which do the layer's own part and count it (what
    # is counted differs: a publish, or the members reached). A layer without I/O does its
    # part synchronously and returns None: no coroutine frame per message.

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Queue a message for a channel; raises ChannelFull when the channel is at capacity."""
        self.require_valid_channel_name(channel)
        payload = self.require_valid_message(message)
        with producer_span("send", self.alias):
            pending = self._send(channel, payload)
            if pending is not None:
                await pending

    def _send(self, channel: str, payload: dict[str, Any]) -> Awaitable[None] | None:
        """send() once validated, inside its span."""
        raise NotImplementedError(f"{type(self).__name__} does not implement send()")

    async def receive_delivery(self, channel: str) -> Delivery:
        """Wait for the next message of a channel, with its envelope metadata."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement receive_delivery() "
            "(a layer overrides receive() or receive_delivery())"
        )

    def poll_delivery(
        self, channel: str, direct: DirectReceiver | None = None
    ) -> Delivery | asyncio.Future[None] | None:
        """Without waiting: the next delivery of a channel this instance made (new_channel()),
        or else a future done once one may have arrived (then poll again; a caller that stops
        awaiting it hands it to abandon_poll()). None: no such fast path for this channel or
        layer, await receive_delivery(). Consumers use it: no coroutine per message."""
        return None

    def abandon_poll(self, channel: str, waiter: asyncio.Future[None]) -> None:  # noqa: B027
        """The caller of poll_delivery() stopped awaiting `waiter` (it was cancelled)."""

    async def receive(self, channel: str) -> dict[str, Any]:
        """Wait for the next message of a channel."""
        delivery = await self.receive_delivery(channel)
        # Counted here, as consumers count what they take through receive_delivery() and
        # poll_delivery(): each message is counted once, by whoever takes it from the layer.
        self.metrics.received(delivery.op, delivery.sent_at)
        return delivery.message

    async def new_channel(self, prefix: str = "specific") -> str:
        """A new unique channel name that this process can receive on."""
        raise NotImplementedError(f"{type(self).__name__} does not implement new_channel()")

    async def release_channel(self, channel: str) -> None:  # noqa: B027 - optional hook
        """Forget a channel this process will never receive on again (frees its buffer)."""

    async def group_add(self, group: str, channel: str) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} does not implement group_add() (groups extension)"
        )

    async def group_discard(self, group: str, channel: str) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} does not implement group_discard() (groups extension)"
        )

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send to every member; members at capacity are skipped and counted."""
        self.require_valid_group_name(group)
        payload = self.require_valid_message(message)  # once, shared by every member
        with producer_span("group_send", self.alias):
            pending = self._group_send(group, payload)
            if pending is not None:
                await pending

    def _group_send(self, group: str, payload: dict[str, Any]) -> Awaitable[None] | None:
        """group_send() once validated, inside its span."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement group_send() (groups extension)"
        )

    async def read_history(self, group: str, since: Position | None = None) -> HistoryRead:
        """The group's messages after `since` (README "Recovery"): oldest first, each with its
        "__position__"; `complete` says whether they are all of them (False when the group has
        no history, the epoch changed, or the history no longer reaches back to `since`), and
        `position` is the group's current one. since=None: nothing, complete, the position.

        This default is a layer without history: nothing, never complete, Position("", 0).
        A `since` of another shape than Position raises TypeError (on every layer).
        """
        self.require_valid_group_name(group)
        check_since(since)
        return no_history()

    # -- presence (layers/presence.py) -----------------------------------------------------

    @functools.cached_property
    def presence(self) -> PresenceStore:
        """This layer's presence store, made at first use."""
        return self._make_presence()

    def _make_presence(self) -> PresenceStore:
        raise NotImplementedError(f"{type(self).__name__} does not implement presence")

    def _forget_presence(self) -> None:
        """After flush(): this process holds no presence entry any more."""
        if "presence" in self.__dict__:
            self.presence.forget()

    async def presence_join(self, group: str, channel: str, info: dict[str, Any]) -> None:
        """Enter `channel` in `group`'s presence with `info` (a small flat dict; joining
        again replaces it); the group's events group gets a presence.join event."""
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        await self.presence.join(group, channel, info)

    async def presence_leave(self, group: str, channel: str) -> None:
        """Take `channel` out of `group`'s presence (a presence.leave event), if it is in."""
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        await self.presence.leave(group, channel)

    async def read_presence(self, group: str) -> dict[str, Info]:
        """Every member of `group`'s presence, in every process: channel -> info."""
        self.require_valid_group_name(group)
        return await self.presence.read(group)

    async def flush(self) -> None:
        """Drop every channel, message and group of this layer."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement flush() (flush extension)"
        )

    async def ping(self) -> None:  # noqa: B027 - optional hook
        """Raise if the layer's backing store does not answer (used by /readyz)."""

    async def refresh_backlog(self) -> None:
        """Update the queue-depth gauges (called when /metrics is scraped): `where="local"`
        here; layers with a backing store add `where="redis"`."""
        self.metrics.local_depth.set(self.local_backlog())
        self.metrics.history_messages.set(self.history_size())

    def local_backlog(self) -> int:
        """Messages buffered in this process, waiting for their consumers."""
        return 0

    def history_size(self) -> int:
        """Messages kept as group history (README "Recovery") by this layer."""
        return 0

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and background tasks."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
