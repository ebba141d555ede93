"""The chat consumer: one socket in one room, chat messages and job progress out."""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs

from fast_channels.consumer.websocket import AsyncJsonWebsocketConsumer
from fast_channels.demo.worker import JOBS_CHANNEL, MAX_STEPS, job_request
from fast_channels.exceptions import ChannelFull, InvalidChannelLayerError
from fast_channels.layers import DEFAULT_CHANNEL_LAYER, BaseChannelLayer

# Room and user names end up in group names, which allow only these characters; the length
# keeps "chat.<room>" well under the layer's 100-character limit. Matched in full: `$` would
# let "room\n" through (it matches before a trailing newline).
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_MESSAGE_LENGTH = 2000
# Sent on close when the room name is refused; before accept the client sees HTTP 403.
CLOSE_BAD_ROOM = 4400
# A newcomer sees the room's last messages (from the group history, fast_channels/demo/layer.py).
RECENT_ON_JOIN = 20


def is_valid_room(room: object) -> bool:
    return isinstance(room, str) and bool(_NAME.fullmatch(room))


def room_group(room: str) -> str:
    """The layer group of a room; raises ValueError for a name the demo does not accept."""
    if not is_valid_room(room):
        raise ValueError(
            f"Room names are 1-64 ASCII letters, digits, '-', '_' or '.', got {room!r}"
        )
    return f"chat.{room}"


def chat_event(room: str, sender: str, message: str) -> dict[str, Any]:
    """The group message every member of a room receives (handled by `chat_message`)."""
    return {"type": "chat.message", "room": room, "sender": sender, "message": message}


class ChatConsumer(AsyncJsonWebsocketConsumer):
    """Client frames: {"action": "chat", "message": str} and {"action": "job", "steps": int}."""

    channel_layer_alias = DEFAULT_CHANNEL_LAYER
    # False when no worker serves JOBS_CHANNEL, so a job request is refused, not left waiting.
    jobs_enabled = True

    async def connect(self) -> None:
        room = self.scope.get("path_params", {}).get("room")
        if not is_valid_room(room):
            await self.close(CLOSE_BAD_ROOM, "invalid room name")
            return
        self.room: str = room
        self.name = self._user_name()
        group = room_group(room)
        # Listed before joining so the consumer's guaranteed cleanup leaves it, however we end.
        self.groups.append(group)
        await self.accept()
        await self.send_json(
            {"type": "welcome", "room": room, "name": self.name, "channel": self.channel_name}
        )
        # Joins live, then answers fc.recovery and replays what this client missed since the
        # positions it sent in ?recover= (or, for a newcomer, the room's recent messages).
        await self.join_group(group, recent=RECENT_ON_JOIN)
        # Then its presence (left by the cleanup too): the presence_* handlers below opt in to
        # the room's join and leave events; the page gets the list first, then those.
        await self.join_presence(group, {"name": self.name}, add_to_group=False)
        await self._send_members(group)

    async def _send_members(self, group: str) -> None:
        """Who is in the room now; the page then follows presence.join / presence.leave."""
        members = await self._layer.read_presence(group)
        await self.send_json(
            {
                "type": "presence",
                "self": self.channel_name,
                "members": {channel: info.get("name") for channel, info in members.items()},
            }
        )

    @property
    def _layer(self) -> BaseChannelLayer:
        if self.channel_layer is None:  # only if someone mounts it with channel_layer_alias=None
            raise InvalidChannelLayerError("ChatConsumer needs a channel layer")
        return self.channel_layer

    def _user_name(self) -> str:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        name = (query.get("name") or [""])[0]
        return name if _NAME.fullmatch(name) else f"guest-{secrets.token_hex(2)}"

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        if action == "chat":
            await self._chat(content.get("message"))
        elif action == "job":
            await self._start_job(content.get("steps", 10))
        else:
            await self._error(f"unknown action {action!r}; expected 'chat' or 'job'")

    async def _chat(self, message: Any) -> None:
        if not isinstance(message, str) or not message.strip():
            await self._error("'message' must be a non-empty string")
            return
        if len(message) > MAX_MESSAGE_LENGTH:
            await self._error(f"'message' is longer than {MAX_MESSAGE_LENGTH} characters")
            return
        await self._layer.group_send(
            room_group(self.room), chat_event(self.room, self.name, message.strip())
        )

    async def _start_job(self, steps: Any) -> None:
        if not self.jobs_enabled:
            await self._error("this demo runs without a worker (--no-worker)")
            return
        if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
            await self._error(f"'steps' must be an integer from 1 to {MAX_STEPS}")
            return
        request = job_request(self.channel_name, steps)
        try:
            await self._layer.send(JOBS_CHANNEL, request)
        except ChannelFull:
            await self._error("the job queue is full; try again later")
            return
        await self.send_json({"type": "job.queued", "job": request["job"], "steps": steps})

    async def _error(self, error: str) -> None:
        await self.send_json({"type": "error", "error": error})

    # -- layer messages --------------------------------------------------------------------

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json({k: event.get(k) for k in ("type", "room", "sender", "message")})

    async def presence_join(self, event: dict[str, Any]) -> None:
        name = event.get("info", {}).get("name")
        await self.send_json({"type": "presence.join", "channel": event["channel"], "name": name})

    async def presence_leave(self, event: dict[str, Any]) -> None:
        name = event.get("info", {}).get("name")
        await self.send_json(
            {
                "type": "presence.leave",
                "channel": event["channel"],
                "name": name,
                "reason": event.get("reason"),
            }
        )

    async def job_progress(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {"type": "job.progress", "job": event.get("job"), "percent": event.get("percent")}
        )
