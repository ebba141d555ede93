"""AsyncConsumer: one instance per connection, messages dispatched to methods by their type."""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import structlog

from fast_channels._utils import parse_cookies
from fast_channels.consumer._layers import has_fast_path, layer_for
from fast_channels.exceptions import StopConsumer
from fast_channels.layers import BaseChannelLayer
from fast_channels.layers.buffer import Delivery
from fast_channels.observability.instruments import (
    ConsumerInstruments,
    HandlerInstruments,
    consumer_instruments,
)
from fast_channels.observability.tracing import handler_span, tracing_enabled
from fast_channels.type_defs import (  # noqa: F401 -- 1.x code imports these from here
    ASGIApplication,
    ASGIReceiveCallable,
    ASGISendCallable,
    ChannelMessage,
    ChannelScope,
)
from fast_channels.types import Message, Receive, Scope, Send
from fast_channels.utils import await_many_dispatch  # noqa: F401 -- 1.x exported it here

logger = structlog.get_logger("fast_channels.consumer")

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


class _Turn:
    """One handler at a time: the two tasks feeding a consumer (the ASGI receive and the
    layer channel) take turns. Taking a free turn never awaits; a waiting task is handed the
    turn directly, so the two sources alternate fairly."""

    __slots__ = ("_waiter", "held")

    def __init__(self) -> None:
        self.held = False
        # Only two tasks ever take turns, so at most one waits.
        self._waiter: asyncio.Future[None] | None = None

    async def wait(self) -> None:
        """Called while the turn is held: returns once the holder has handed it over."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        except asyncio.CancelledError:
            if self._waiter is waiter:
                self._waiter = None
            elif not waiter.cancelled():
                self.release()  # handed the turn, then cancelled before running: pass it on
            raise

    def release(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)  # the turn goes to the waiter: `held` stays True
                return
        self.held = False


def _feeder_ended(ended: asyncio.Future[BaseException], error: BaseException) -> bool:
    """A consumer feeder stopped with `error`: the first one ends the consumer (see
    AsyncConsumer._run). True when the feeder must re-raise it: a CancelledError is ours
    (_run stopping the feeders) or came out of a handler, ending the consumer like any other."""
    if not ended.done():
        ended.set_result(error)
    return isinstance(error, asyncio.CancelledError)


class ConsumerApp:
    """What `as_asgi()` returns. An object, not a function: Starlette routes treat a plain
    function as a `WebSocket` endpoint, but call an object as a raw ASGI app."""

    def __init__(self, consumer_class: type[AsyncConsumer], initkwargs: dict[str, Any]) -> None:
        self.consumer_class = consumer_class
        self.consumer_initkwargs = initkwargs
        functools.update_wrapper(self, consumer_class, updated=())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.consumer_class(**self.consumer_initkwargs)._serve(scope, receive, send)


class AsyncConsumer:
    """The ASGI application for one connection; see README "Consumers"."""

    channel_layer_alias: ClassVar[str | None] = None
    # Upper bound, in seconds, on each step of cleanup (leaving groups, disconnect(), release).
    cleanup_timeout: ClassVar[float] = 5.0

    # Per class (see __init_subclass__): message type -> _DispatchEntry, filled as types come,
    # so that a message costs one lookup, not a name check and two metric-child lookups.
    _dispatch_table: ClassVar[dict[str, _DispatchEntry]] = {}
    _instruments: ClassVar[ConsumerInstruments | None] = None  # per class, see `instruments`

    scope: Scope
    _traceparent: str | None = None  # of the layer message being handled, for its span
    channel_layer: BaseChannelLayer | None
    channel_name: str
    base_send: Send

    def __init__(self, **kwargs: Any) -> None:
        # Like Django's as_view(): initkwargs override class attributes, and only those.
        for key, value in kwargs.items():
            if not hasattr(type(self), key):
                raise TypeError(
                    f"{type(self).__name__}() got an unexpected keyword argument {key!r}: "
                    "as_asgi() only accepts names that are attributes of the class"
                )
            setattr(self, key, value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Its own: a subclass may have other handlers, and its name labels its metrics.
        cls._dispatch_table = {}
        cls._instruments = None

    @classmethod
    def as_asgi(cls, **initkwargs: Any) -> ConsumerApp:
        """An ASGI app that makes a new consumer (with `initkwargs`) for every connection."""
        cls(**initkwargs)  # fail at mount time, not at the first connection, on bad kwargs
        return ConsumerApp(cls, initkwargs)

    @property
    def handler_instruments(self) -> HandlerInstruments:
        """Where handler durations and errors are counted (the HTTP consumer has its own)."""
        return self.instruments

    @property
    def instruments(self) -> ConsumerInstruments:
        instruments = self._instruments
        if instruments is None:  # resolved at first use: a class never used exports nothing
            instruments = type(self)._instruments = consumer_instruments(type(self).__name__)
        return instruments

    def _resolve_channel_layer(self) -> BaseChannelLayer | None:
        alias = self.channel_layer_alias
        return None if alias is None else layer_for(type(self), alias)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An instance is an ASGI app too: each connection runs on its own shallow copy,
        so one mounted instance serves any number of connections without sharing state."""
        await copy.copy(self)._serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run this instance for one connection. Not named `handle`: that is the request
        hook of AsyncHttpConsumer, as in 1.x."""
        if "cookies" not in scope:
            scope["cookies"] = parse_cookies(scope.get("headers"))
        self.scope = scope
        self.base_send = send
        self.channel_layer = self._resolve_channel_layer()
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
        # Every log event of this connection carries its id and channel name.
        log_context = {"connection_id": secrets.token_hex(4)}
        if self.channel_layer is not None:
            log_context["channel"] = self.channel_name
        # Tokens, not bound_contextvars(): its generator would be held for the connection.
        tokens = structlog.contextvars.bind_contextvars(**log_context)
        # Handlers may run in either of two tasks (see _run) but share one context, so a
        # context variable set in connect() is seen by every later handler and disconnect().
        context = contextvars.copy_context()
        try:
            await self._run(receive, context)
        except StopConsumer:
            pass
        finally:
            try:
                await self._shield_cleanup(context)
            finally:
                structlog.contextvars.reset_contextvars(**tokens)

    async def _run(self, receive: Receive, context: contextvars.Context) -> None:
        layer = self.channel_layer
        if layer is None:
            # One source: no task, no hand-over, handlers in this task's context.
            while True:
                await self.dispatch(await receive())
        # Two sources, each read by one long-lived task that runs its own handlers, one at a
        # time (_Turn), in arrival order. A message wakes exactly one task: nothing is relayed
        # through a queue, and no task is created per message.
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[BaseException] = loop.create_future()
        turn = _Turn()
        feed = self._feed_deliveries if has_fast_path(layer) else self._feed_received
        feeders = [
            loop.create_task(self._feed_events(receive, turn, ended), context=context),
            loop.create_task(feed(layer, turn, ended), context=context),
        ]
        try:
            error = await ended
        finally:
            for feeder in feeders:
                feeder.cancel()
            await asyncio.gather(*feeders, return_exceptions=True)
        raise error

    async def _feed_events(
        self, receive: Receive, turn: _Turn, ended: asyncio.Future[BaseException]
    ) -> None:
        """Take ASGI events from `receive` and handle each in turn; the first error
        (StopConsumer included) ends the consumer: it is passed to _run, which stops both
        feeders."""
        try:
            while True:
                event = await receive()
                if turn.held:
                    await turn.wait()
                else:
                    turn.held = True
                try:
                    await self.dispatch(event)
                finally:
                    turn.release()
        except BaseException as error:
            if _feeder_ended(ended, error):
                raise

    async def _feed_deliveries(
        self, layer: BaseChannelLayer, turn: _Turn, ended: asyncio.Future[BaseException]
    ) -> None:
        """Take the deliveries of this consumer's channel and handle each in turn; errors end
        the consumer as in _feed_events."""
        channel = self.channel_name
        delivery: Any  # a Delivery, or what poll_delivery() returned
        try:
            while True:
                # The buffer's future awaited here: no coroutine made per message (with
                # thousands of consumers, those were a quarter of the young objects that
                # every garbage collection walked during a fan-out).
                delivery = layer.poll_delivery(channel)
                if delivery is None:  # no fast path for this layer
                    delivery = await layer.receive_delivery(channel)
                elif not isinstance(delivery, Delivery):
                    try:
                        await delivery
                    except asyncio.CancelledError:
                        layer.abandon_poll(channel, delivery)
                        raise
                    continue
                if turn.held:
                    await turn.wait()
                else:
                    turn.held = True
                try:  # dispatched inline, not by a method: one coroutine less per message
                    layer.metrics.received(delivery.op, delivery.sent_at)
                    self._traceparent = delivery.traceparent
                    try:
                        await self.dispatch(delivery.message)
                    finally:
                        self._traceparent = None
                finally:
                    turn.release()
                # Not held while waiting for the next one: with thousands of consumers, the
                # deliveries kept alive between bursts were a third of what each young-
                # generation garbage collection walked, and were then promoted.
                delivery = None
        except BaseException as error:
            if _feeder_ended(ended, error):
                raise

    async def _feed_received(
        self, layer: BaseChannelLayer, turn: _Turn, ended: asyncio.Future[BaseException]
    ) -> None:
        """_feed_deliveries for a layer without our fast path: its messages come from its
        receive(), with no envelope (so no delivery-latency metric or trace link)."""
        channel = self.channel_name
        try:
            while True:
                message = await layer.receive(channel)
                if turn.held:
                    await turn.wait()
                else:
                    turn.held = True
                try:
                    await self.dispatch(message)
                finally:
                    turn.release()
        except BaseException as error:
            if _feeder_ended(ended, error):
                raise

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

    async def send(self, message: Message) -> None:
        """Send an ASGI message to the server."""
        await self.base_send(message)

    # -- cleanup ---------------------------------------------------------------------------

    async def _shield_cleanup(self, context: contextvars.Context | None = None) -> None:
        # Cleanup must finish even when the connection's task is being cancelled.
        task = asyncio.get_running_loop().create_task(self.cleanup(), context=context)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await task
            raise

    async def cleanup(self) -> None:
        """Runs once when the consumer ends, however it ends; each step is time-bounded."""
        # A layer that is not a BaseChannelLayer may have no release_channel().
        release = getattr(self.channel_layer, "release_channel", None)
        if release is not None:
            await self._bounded("release_channel", release(self.channel_name))

    async def _bounded(self, step: str, awaitable: Awaitable[Any]) -> None:
        try:
            async with asyncio.timeout(self.cleanup_timeout):
                await awaitable
        except Exception as error:
            # Never mask the error that ended the consumer; say what failed instead.
            logger.warning(
                "consumer cleanup step failed",
                consumer=type(self).__name__,
                step=step,
                error=repr(error),
            )
