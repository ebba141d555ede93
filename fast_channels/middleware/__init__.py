"""ASGI middleware for websocket apps: origin checks, authentication, denial."""

from fast_channels.middleware.auth import AnonymousUser, AuthMiddleware
from fast_channels.middleware.base import BaseMiddleware, WebsocketDenier
from fast_channels.middleware.origin import OriginValidator

__all__ = [
    "AnonymousUser",
    "AuthMiddleware",
    "BaseMiddleware",
    "OriginValidator",
    "WebsocketDenier",
]
