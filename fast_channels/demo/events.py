"""A room's chat as server-sent events: the demo's HTTP consumer (GET /api/rooms/{room}/events).

Readers that cannot keep a socket (a dashboard, `curl -N`) follow a room over plain HTTP: one
`data:` line of JSON per chat message, the same messages the room's sockets get.
"""

from __future__ import annotations

import json
from typing import Any

from fast_channels.consumer.http import AsyncHttpConsumer
from fast_channels.demo.consumers import is_valid_room, room_group
from fast_channels.layers import DEFAULT_CHANNEL_LAYER

EVENT_STREAM = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


class RoomEventsConsumer(AsyncHttpConsumer):
    channel_layer_alias = DEFAULT_CHANNEL_LAYER
    group: str | None = None  # the room's group, once joined

    async def handle(self, body: bytes) -> None:
        room = self.scope.get("path_params", {}).get("room")
        if not is_valid_room(room) or self.channel_layer is None:
            await self.send_response(
                404, b"no such room\n", headers=[(b"content-type", b"text/plain")]
            )
            return
        self.group = group = room_group(room)
        await self.channel_layer.group_add(group, self.channel_name)
        await self.send_headers(headers=EVENT_STREAM)
        # A comment line: the client sees the stream open before the first message.
        await self.send_body(b": joined\n\n", more_body=True)

    async def disconnect(self) -> None:
        # Runs once however the request ends (the client left, the server drains).
        if self.group is not None and self.channel_layer is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def chat_message(self, event: dict[str, Any]) -> None:
        data = {k: event.get(k) for k in ("type", "room", "sender", "message")}
        await self.send_body(f"data: {json.dumps(data)}\n\n".encode(), more_body=True)
