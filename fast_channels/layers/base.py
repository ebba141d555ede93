"""What every channel layer shares: options, name validation, the envelope, metrics hooks."""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from types import TracebackType
from typing import Any, ClassVar, Self

from fast_channels.layers.buffer import Delivery
from fast_channels.observability.instruments import LayerInstruments

MAX_NAME_LENGTH = 100
RESERVED_KEY_PREFIX = "__fc_"
_CHANNEL_NAME = re.compile(r"^[a-zA-Z\d\-_.]+(![\d\w\-_.]*)?$")
_GROUP_NAME = re.compile(r"^[a-zA-Z\d\-_.]+$")
_NAME_RULES = "ASCII alphanumerics, hyphens, underscores, or periods"

CapacityPattern = str | re.Pattern[str]


class BaseChannelLayer(ABC):
    """The contract every layer implements; see the layer contract tests in tests/layers."""

    extensions: ClassVar[list[str]] = ["groups", "flush"]

    def __init__(
        self,
        *,
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: dict[CapacityPattern, int] | None = None,
    ) -> None:
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
        self.alias = type(self).__name__

    @functools.cached_property
    def metrics(self) -> LayerInstruments:
        # Made at first use, then a plain instance attribute (no cost per access): a layer
        # registered before it is used never makes zero-valued series under its class name,
        # which multiprocess mode could not remove.
        return LayerInstruments(self.alias)

    def bind_alias(self, alias: str) -> None:
        """Called by the registry: the alias becomes the `layer` label of this layer's metrics."""
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

    @staticmethod
    def _compile_capacities(
        patterns: dict[CapacityPattern, int],
    ) -> list[tuple[re.Pattern[str], int]]:
        compiled = []
        for pattern, capacity in patterns.items():
            if not isinstance(capacity, int) or capacity < 1:
                raise ValueError(f"channel_capacity[{pattern!r}] must be an int >= 1")
            if isinstance(pattern, re.Pattern):
                compiled.append((pattern, capacity))
            elif isinstance(pattern, str):
                compiled.append((re.compile(fnmatch.translate(pattern)), capacity))
            else:
                raise TypeError(f"channel_capacity keys must be globs or regexes, got {pattern!r}")
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

    # -- validation ------------------------------------------------------------------------

    @staticmethod
    def _require_name(name: Any, kind: str, pattern: re.Pattern[str]) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a str, got {type(name).__name__}: {name!r}")
        if len(name) >= MAX_NAME_LENGTH:
            raise TypeError(
                f"{kind} name must be shorter than {MAX_NAME_LENGTH} characters, "
                f"got {len(name)}: {name!r}"
            )
        if not pattern.match(name):
            raise TypeError(f"{kind} name may contain only {_NAME_RULES}, got {name!r}")

    def require_valid_channel_name(self, name: Any, receive: bool = False) -> bool:
        # `receive` is kept for compatibility; a receivable name is any valid name.
        self._require_name(name, "Channel", _CHANNEL_NAME)
        return True

    def require_valid_group_name(self, name: Any) -> bool:
        self._require_name(name, "Group", _GROUP_NAME)
        return True

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

    @staticmethod
    def require_valid_message(message: Any) -> None:
        if not isinstance(message, dict):
            raise TypeError(f"A message must be a dict, got {type(message).__name__}")
        for key in message:
            if isinstance(key, str) and key.startswith(RESERVED_KEY_PREFIX):
                raise ValueError(
                    f"Message key {key!r} is reserved for the layer envelope "
                    f"(keys starting with {RESERVED_KEY_PREFIX!r} may not be sent)"
                )

    # -- the contract ----------------------------------------------------------------------

    @abstractmethod
    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Queue a message for a channel; raises ChannelFull when the channel is at capacity."""

    @abstractmethod
    async def receive_delivery(self, channel: str) -> Delivery:
        """Wait for the next message of a channel, with its envelope metadata."""

    def poll_delivery(self, channel: str) -> Delivery | asyncio.Future[None] | None:
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

    @abstractmethod
    async def new_channel(self, prefix: str = "specific") -> str:
        """A new unique channel name that this process can receive on."""

    async def release_channel(self, channel: str) -> None:  # noqa: B027 - optional hook
        """Forget a channel this process will never receive on again (frees its buffer)."""

    @abstractmethod
    async def group_add(self, group: str, channel: str) -> None: ...

    @abstractmethod
    async def group_discard(self, group: str, channel: str) -> None: ...

    @abstractmethod
    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send to every member; members at capacity are skipped and counted."""

    @abstractmethod
    async def flush(self) -> None:
        """Drop every channel, message and group of this layer."""

    async def ping(self) -> None:  # noqa: B027 - optional hook
        """Raise if the layer's backing store does not answer (used by /readyz)."""

    async def refresh_backlog(self) -> None:
        """Update the queue-depth gauges (called when /metrics is scraped): `where="local"`
        here; layers with a backing store add `where="redis"`."""
        self.metrics.local_depth.set(self.local_backlog())

    def local_backlog(self) -> int:
        """Messages buffered in this process, waiting for their consumers."""
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
