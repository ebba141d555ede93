from fast_channels.consumer.base import AsyncConsumer, get_handler_name
from fast_channels.consumer.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

__all__ = [
    "AsyncConsumer",
    "AsyncJsonWebsocketConsumer",
    "AsyncWebsocketConsumer",
    "get_handler_name",
]
