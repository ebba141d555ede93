"""The type names fast-channels 1.x code imports (`fast_channels.type_defs`).

Our own code uses `fast_channels.types`; these are the 1.x spellings, kept so that annotated
1.x code type-checks and imports unchanged. Nothing here is used at run time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from re import Pattern
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, TypedDict

if TYPE_CHECKING:
    from fast_channels.consumer.base import AsyncConsumer

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


class ASGIApplicationProtocol(Protocol):
    """What `Consumer.as_asgi()` returns: an ASGI app that remembers its class and kwargs."""

    consumer_class: type[AsyncConsumer]
    consumer_initkwargs: Any

    def __call__(
        self, scope: ChannelScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> Awaitable[None]: ...


class MiddlewareProtocol(Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any: ...


ChannelApplication: TypeAlias = MiddlewareProtocol | ASGIApplication
