"""A consumer's messages to its methods: the handler named by each message's type, looked up
once per class and type, timed and counted (HandlerDispatch, a base of AsyncConsumer)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from fast_channels.exceptions import StopConsumer
from fast_channels.observability.instruments import HandlerInstruments
from fast_channels.observability.tracing import handler_span, tracing_enabled
from fast_channels.types import Message

Handler = Callable[[Any], Awaitable[None]]
# A message type's handler name, and that handler's duration histogram and error counter.
_DispatchEntry = tuple[str, Any, Any]


# Validated message types and their handler names: a few per application, so a lookup
# replaces the checks and the string work per message. Bounded: types come from senders.
_handler_names: dict[str, str] = {}
_HANDLER_NAMES_MAX = 1000


def get_handler_name(message: Any) -> str:
    """The method name for a message type: "chat.message" → "chat_message"."""
    if isinstance(message, dict):
        message_type = message.get("type")
        if type(message_type) is str:
            name = _handler_names.get(message_type)
            if name is not None:
                return name
    if not isinstance(message, dict) or "type" not in message:
        raise ValueError("Incoming message has no 'type' attribute")
    message_type = message["type"]
    if not isinstance(message_type, str):
        raise ValueError(f"Message type must be a str, got {message_type!r}")
    handler_name = message_type.replace(".", "_")
    if handler_name.startswith("_"):
        raise ValueError("Malformed type in message (leading underscore)")
    if type(message_type) is str and len(_handler_names) < _HANDLER_NAMES_MAX:
        _handler_names[message_type] = handler_name
    return handler_name


class HandlerDispatch:
    """dispatch(): the handler of a message's type, called with the message."""

    # Per class (see __init_subclass__): message type -> _DispatchEntry, filled as types come,
    # so that a message costs one lookup, not a name check and two metric-child lookups.
    _dispatch_table: ClassVar[dict[str, _DispatchEntry]] = {}
    _traceparent: str | None = None  # of the layer message being handled, for its span
    # The group message being handled (a group_send's delivery, shared by the members in this
    # process), else None: what send_json may encode once for all of them (encode_once.py).
    _group_message: dict[str, Any] | None = None
    # id()s of what it sent while handling that message: a value it sends again is re-encoded,
    # the handler may have changed it between its sends (encode_once.py). Ids, not references:
    # nothing is kept alive between bursts per consumer.
    _shared_sent: tuple[int, ...] = ()

    if TYPE_CHECKING:

        @property
        def handler_instruments(self) -> HandlerInstruments: ...

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._dispatch_table = {}  # its own: a subclass may have other handlers

    async def dispatch(self, message: Message) -> None:
        """Call the handler named by the message's type."""
        message_type = message.get("type") if type(message) is dict else None
        entry = self._dispatch_table.get(message_type) if type(message_type) is str else None
        if entry is None:
            entry = self._dispatch_entry(message)
            if entry is None:
                await self.handle_unknown_type(message)
                return
        name, duration, errors = entry
        handler: Handler | None = getattr(self, name, None)
        if handler is None:  # an instance without the class's handler (deleted attribute)
            await self.handle_unknown_type(message)
            return
        started = time.perf_counter()
        try:
            if tracing_enabled():
                with handler_span(type(self).__name__, name, self._traceparent):
                    await handler(message)
            else:
                await handler(message)
        except StopConsumer:
            raise
        except Exception:
            errors.inc()
            raise
        finally:
            duration.observe(time.perf_counter() - started)

    def _dispatch_entry(self, message: Message) -> _DispatchEntry | None:
        """Resolve a message type (ValueError if it is malformed): its handler's name and
        metrics, remembered for the class; None when there is no such handler."""
        name = get_handler_name(message)
        if getattr(self, name, None) is None:
            return None  # not remembered: unknown types come from senders, unbounded
        entry = (name, *self.handler_instruments.handler(name))
        table = self._dispatch_table
        if type(message["type"]) is str and len(table) < _HANDLER_NAMES_MAX:
            table[message["type"]] = entry
        return entry

    async def handle_unknown_type(self, message: Message) -> None:
        """Called for a message whose type has no handler. Override to log or ignore it
        without losing the connection; by default it raises ValueError naming the type."""
        raise ValueError(f"No handler for message type {message['type']!r}")
