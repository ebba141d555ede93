"""1.x's home of the websocket middleware (`fast_channels.middleware.websocket`): the same
classes as `fast_channels.middleware`, and the helpers 1.x code imported from here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

from fast_channels.middleware.base import WebsocketDenier
from fast_channels.middleware.origin import OriginValidator
from fast_channels.utils import is_same_domain

Origin: TypeAlias = str
AllowedOrigins: TypeAlias = Iterable[Origin]

__all__ = ["AllowedOrigins", "Origin", "OriginValidator", "WebsocketDenier", "is_same_domain"]
