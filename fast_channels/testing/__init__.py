"""Drive ASGI applications and consumers from tests, without a server."""

from fast_channels.testing.application import ApplicationCommunicator, UnexpectedMessageError
from fast_channels.testing.http import HttpCommunicator
from fast_channels.testing.websocket import WebsocketCommunicator

__all__ = [
    "ApplicationCommunicator",
    "HttpCommunicator",
    "UnexpectedMessageError",
    "WebsocketCommunicator",
]
