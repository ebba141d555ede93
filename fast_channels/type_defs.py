"""The type names fast-channels 1.x code imports (`fast_channels.type_defs`).

Our own code uses `fast_channels.types`; these are the 1.x spellings, kept so that annotated
1.x code type-checks and imports unchanged. Nothing here is used at run time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from re import Pattern
from typing import Any, Literal, Protocol, TypeAlias, TypedDict

ChannelScope: TypeAlias = MutableMapping[str, Any]
ChannelMessage: TypeAlias = Mapping[str, Any]
ChannelHeaders: TypeAlias = Iterable[tuple[bytes, bytes]]

# `channel_capacity` keys are globs or compiled regexes; compiled, each is (regex, capacity).
ChannelCapacityPattern: TypeAlias = str | Pattern[str]
ChannelCapacityDict: TypeAlias = dict[ChannelCapacityPattern, int]
CompiledChannelCapacity: TypeAlias = tuple[Pattern[str], int]
CompiledChannelCapacities: TypeAlias = list[CompiledChannelCapacity]

ASGIReceiveCallable: TypeAlias = Callable[[], Awaitable[Any]]
ASGISendCallable: TypeAlias = Callable[[Any], Awaitable[None]]
ASGI3Application: TypeAlias = Callable[
    [ChannelScope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]
]
ASGIApplication: TypeAlias = ASGI3Application


class WebSocketConnectEvent(TypedDict):
    type: Literal["websocket.connect"]


class WebSocketAcceptEvent(TypedDict):
    type: Literal["websocket.accept"]
    subprotocol: str | None
    headers: ChannelHeaders


class WebSocketReceiveEvent(TypedDict):
    type: Literal["websocket.receive"]
    bytes: bytes | None
    text: str | None


class WebSocketCloseEvent(TypedDict):
    type: Literal["websocket.close"]
    code: int
    reason: str | None


class WebSocketDisconnectEvent(TypedDict):
    type: Literal["websocket.disconnect"]
    code: int
    reason: str | None


class HttpRequestEvent(TypedDict, total=False):
    type: Literal["http.request"]
    body: bytes
    more_body: bool


class HttpResponseStartEvent(TypedDict):
    type: Literal["http.response.start"]
    status: int
    headers: list[tuple[bytes, bytes]]


class HttpResponseBodyEvent(TypedDict):
    type: Literal["http.response.body"]
    body: bytes
    more_body: bool


class HttpDisconnectEvent(TypedDict):
    type: Literal["http.disconnect"]


class ConsumerProtocol(Protocol):
    """A consumer instance (consumer.base.AsyncConsumer), as 1.x annotations name it: an ASGI
    app for one connection. A Protocol, not the class: consumer.base imports this module."""

    async def __call__(
        self, scope: ChannelScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None: ...


class ASGIApplicationProtocol(Protocol):
    """What `Consumer.as_asgi()` returns: an ASGI app that remembers its class and kwargs."""

    @property
    def consumer_class(self) -> type[ConsumerProtocol]: ...

    consumer_initkwargs: Any

    def __call__(
        self, scope: ChannelScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> Awaitable[None]: ...


class MiddlewareProtocol(Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any: ...


ChannelApplication: TypeAlias = MiddlewareProtocol | ASGIApplication
