"""The fast-channels 1.x README examples, unchanged in what they use, served by uvicorn."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from fast_channels.consumer.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from fast_channels.layers import InMemoryChannelLayer, has_layers, register_channel_layer
from fast_channels.middleware import AuthMiddleware


def setup_channel_layers() -> None:
    if has_layers():
        return
    register_channel_layer("chat", InMemoryChannelLayer())


class ChatConsumer(AsyncWebsocketConsumer):
    groups = ["chat_room"]
    channel_layer_alias = "chat"

    async def connect(self) -> None:
        await self.accept()
        await self.channel_layer.group_send(  # type: ignore[union-attr]
            "chat_room", {"type": "chat_message", "message": "Someone joined the chat"}
        )

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        await self.channel_layer.group_send(  # type: ignore[union-attr]
            "chat_room", {"type": "chat.message", "message": f"Message: {text_data}"}
        )

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send(event["message"])


class RoomChatConsumer(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "chat"

    async def connect(self) -> None:
        self.room = self.scope["path_params"]["room"]
        self.group = f"room_{self.room}"
        await self.channel_layer.group_add(self.group, self.channel_name)  # type: ignore[union-attr]
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)  # type: ignore[union-attr]

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.channel_layer.group_send(  # type: ignore[union-attr]
            self.group, {"type": "chat.message", "room": self.room, "text": content["text"]}
        )

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json({"room": event["room"], "text": event["text"]})


class WhoAmIConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        await self.send_json(
            {
                "user": self.scope["user"],
                "query": self.scope["query_string"].decode(),
                "agent": dict(self.scope["headers"]).get(b"user-agent", b"").decode(),
                "cookies": self.scope["cookies"],
            }
        )


async def authenticate(scope: Any) -> str | None:
    token = dict(scope["headers"]).get(b"authorization", b"").decode()
    return token.removeprefix("Bearer ") or None


setup_channel_layers()
app = FastAPI()
ws_app = FastAPI()
# Starlette 1.0 dropped `app.add_websocket_route`; `app.router.add_websocket_route` does the same.
ws_app.router.add_websocket_route("/chat", ChatConsumer.as_asgi())
ws_app.router.add_websocket_route("/room/{room}", RoomChatConsumer.as_asgi())
ws_app.router.add_websocket_route(
    "/whoami", AuthMiddleware(WhoAmIConsumer.as_asgi(), authenticate, require_user=True)
)
app.mount("/ws", ws_app)
