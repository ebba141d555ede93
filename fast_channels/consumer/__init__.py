from fast_channels.consumer.base import AsyncConsumer, get_handler_name
from fast_channels.consumer.http import AsyncHttpConsumer
from fast_channels.consumer.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

__all__ = [
    "AsyncConsumer",
    "AsyncHttpConsumer",
    "AsyncJsonWebsocketConsumer",
    "AsyncWebsocketConsumer",
    "get_handler_name",
]
