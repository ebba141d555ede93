"""Declared forwarding handlers: `forward_json = {"chat.message": "body"}` on a JSON consumer
(`forward_text` on any WebSocket consumer) declares the handler most group messages get,

    async def chat_message(self, event):
        await self.send_json(event["body"])      # forward_text: self.send(text_data=...)

and the class gets exactly that method. Declared, not written, so that a consumer's delivery
feeder (and a layer's fan-out running its handler, direct.py) can run the send without the
dispatch coroutine, the handler coroutine and the handler lookup around it: with thousands of
members per burst those were most of what a delivery cost us beyond the socket write
(README "Consumers"). Everything else is the method's: the same send_json or send (encoded
once per burst, "_pos" for a consumer that joined with recovery, the slow-consumer policy),
the handler's duration and error metrics under its name, a span when tracing is on (then the
method runs through dispatch). A subclass that defines the method itself, or overrides
dispatch(), gets its own code, run as any handler.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from fast_channels.consumer.dispatch import HandlerDispatch, get_handler_name
from fast_channels.exceptions import StopConsumer
from fast_channels.observability.tracing import tracing_enabled
from fast_channels.types import Message

# On a generated handler: (the message key it sends, whether it sends JSON).
FORWARD_MARK = "_fast_channels_forward"
# How a consumer class's forwards are declared: attribute name -> sends JSON.
DECLARATIONS = {"forward_json": True, "forward_text": False}

Forward = tuple[str, bool]  # (message key, sends JSON)


def _handler(message_type: str, key: str, as_json: bool) -> Callable[[Any, Any], Awaitable[None]]:
    if as_json:

        async def forward(self: Any, event: Any) -> None:
            await self.send_json(event[key])

    else:

        async def forward(self: Any, event: Any) -> None:
            await self.send(text_data=event[key])

    setattr(forward, FORWARD_MARK, (key, as_json))
    forward.__doc__ = f"Declared by {'forward_json' if as_json else 'forward_text'}: " + (
        f"sends event[{key!r}] as {'JSON' if as_json else 'a text frame'} ({message_type!r})."
    )
    return forward


def _checked(cls: type, attribute: str, declared: Any) -> dict[str, str]:
    where = f"{cls.__name__}.{attribute}"
    if not isinstance(declared, Mapping):
        raise TypeError(f"{where} must be a mapping of message type to message key")
    checked: dict[str, str] = {}
    for message_type, key in declared.items():
        if type(message_type) is not str or not message_type:
            raise TypeError(f"{where}: message type {message_type!r} is not a non-empty str")
        if type(key) is not str:
            raise TypeError(f"{where}[{message_type!r}]: the message key must be a str")
        try:
            get_handler_name({"type": message_type})
        except ValueError as error:
            raise TypeError(f"{where}: {error}") from None
        checked[message_type] = key
    return checked


def _generate(cls: type) -> None:
    """The handlers `cls`'s own declarations name, put on the class (TypeError for a bad
    declaration, or one that names a method the class body also defines)."""
    own = vars(cls)
    for attribute, as_json in DECLARATIONS.items():
        if attribute not in own:
            continue
        for message_type, key in _checked(cls, attribute, own[attribute]).items():
            name = get_handler_name({"type": message_type})
            if name in own:
                raise TypeError(
                    f"{cls.__name__} declares {message_type!r} in {attribute} and defines "
                    f"{name}() too: keep one"
                )
            if as_json and not hasattr(cls, "send_json"):
                raise TypeError(f"{cls.__name__}.forward_json needs a JSON consumer")
            setattr(cls, name, _handler(message_type, key, as_json))


def install(cls: type) -> dict[str, Forward] | None:
    """Called at class creation: generates the handlers `cls` declares (_generate); returns
    the forwards its delivery feeder may run without dispatch, {type: (key, sends JSON)} of
    every declared handler (its own or inherited) still generated, not overridden; None when
    there are none or `cls` overrides dispatch (its dispatch must see every message)."""
    _generate(cls)
    if getattr(cls, "dispatch", None) is not HandlerDispatch.dispatch:
        return None
    declared = {
        message_type
        for klass in cls.__mro__
        for attribute in DECLARATIONS
        if isinstance(vars(klass).get(attribute), Mapping)
        for message_type in vars(klass)[attribute]
    }
    forwards: dict[str, Forward] = {}
    for message_type in declared:
        handler = getattr(cls, get_handler_name({"type": message_type}), None)
        mark = getattr(handler, FORWARD_MARK, None)
        if mark is not None:
            forwards[message_type] = mark
    return forwards or None


class DeclaredForwards:
    """forward_text (forward_json: the JSON consumer's), installed per class, and the run of a
    forwarded message without dispatch (a base of AsyncWebsocketConsumer)."""

    forward_text: ClassVar[Mapping[str, str]] = {}
    forward_json: ClassVar[Mapping[str, str]] = {}  # a JSON consumer's only (TypeError else)
    # Set per class by install(): what _begin_delivery (feeding.py) runs with _run_forward.
    _forwards: ClassVar[dict[str, Forward] | None] = None

    if TYPE_CHECKING:  # the consumer's, declared for the type checker only
        _dispatch_table: ClassVar[dict[str, Any]]

        def _dispatch_entry(self, message: Message) -> Any: ...
        async def dispatch(self, message: Message) -> None: ...

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._forwards = install(cls)

    def _forward_or_dispatch(
        self, message: Message, forwards: dict[str, Forward]
    ) -> Coroutine[Any, Any, None]:
        """The run of `message` by the class: its forward without dispatch when `forwards`
        (the class's) has its type and tracing is off (a span needs dispatch), else the
        class's dispatch. Not started."""
        message_type = message.get("type")
        forward = forwards.get(message_type) if type(message_type) is str else None
        if forward is not None and not tracing_enabled():
            return self._run_forward(message, message_type, forward)  # type: ignore[arg-type]
        return type(self).dispatch(self, message)

    async def _run_forward(self, message: Message, message_type: str, forward: Forward) -> None:
        """What dispatch() does for a forwarded type, with the generated handler's body inline:
        its duration and errors counted under its name (no span: with tracing on, forwarded
        messages go through dispatch)."""
        entry = self._dispatch_table.get(message_type)
        if entry is None:
            entry = self._dispatch_entry(message)
            if entry is None:  # the instance lost the handler (a deleted attribute)
                await self.dispatch(message)
                return
        _, duration, errors = entry
        key, as_json = forward
        started = time.perf_counter()
        try:
            if as_json:
                await self.send_json(message[key])  # type: ignore[attr-defined]
            else:
                await self.send(text_data=message[key])  # type: ignore[attr-defined]
        except StopConsumer:
            raise
        except Exception:
            errors.inc()
            raise
        finally:
            duration.observe(time.perf_counter() - started)
