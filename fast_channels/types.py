"""Every type alias of the package in one place."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A channel-layer message: a dict with a "type" key routed to a consumer handler.
ChannelMessage = dict[str, Any]
Headers = list[tuple[bytes, bytes]]
