"""AsyncConsumer: one instance per connection, messages dispatched to methods by their type.

This module is the connection's lifecycle (scope, layer channel, log context, cleanup); the
handler lookup is in dispatch.py, the two tasks that feed it messages in feeding.py."""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
import secrets
from collections.abc import Awaitable
from typing import Any, ClassVar

import structlog

from fast_channels._utils import parse_cookies
from fast_channels.consumer._layers import layer_for
from fast_channels.consumer.dispatch import HandlerDispatch
from fast_channels.consumer.dispatch import get_handler_name as get_handler_name  # 1.x: here
from fast_channels.consumer.feeding import ConsumerFeeding
from fast_channels.consumer.presence import ConsumerPresence
from fast_channels.exceptions import StopConsumer
from fast_channels.layers import BaseChannelLayer
from fast_channels.observability.instruments import (
    ConsumerInstruments,
    HandlerInstruments,
    consumer_instruments,
)
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


class ConsumerApp:
    """What `as_asgi()` returns. An object, not a function: Starlette routes treat a plain
    function as a `WebSocket` endpoint, but call an object as a raw ASGI app."""

    def __init__(self, consumer_class: type[AsyncConsumer], initkwargs: dict[str, Any]) -> None:
        self.consumer_class = consumer_class
        self.consumer_initkwargs = initkwargs
        functools.update_wrapper(self, consumer_class, updated=())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # why: the consumer's entry point for one connection, private so that it cannot clash
        # with a handler name of the user's (AsyncConsumer._serve); this is its as_asgi() app.
        await self.consumer_class(**self.consumer_initkwargs)._serve(scope, receive, send)


class AsyncConsumer(ConsumerPresence, HandlerDispatch, ConsumerFeeding):
    """The ASGI application for one connection; see README "Consumers"."""

    channel_layer_alias: ClassVar[str | None] = None
    # Upper bound, in seconds, on each step of cleanup (leaving groups, disconnect(), release).
    cleanup_timeout: ClassVar[float] = 5.0

    _instruments: ClassVar[ConsumerInstruments | None] = None  # per class, see `instruments`

    scope: Scope
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
        cls._instruments = None  # its own: its name labels its metrics

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
        # why: a copy of this very instance, running its own entry point.
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
        if self._presence_groups:  # before the release: a leave names the channel
            await self._bounded("presence_leave", self._leave_all_presence())
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
