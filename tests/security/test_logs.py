"""Nothing sensitive in logs by default: payloads, tokens, cookies and passwords stay out of what
the library logs (structlog events) and out of a real server's output."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
import redis
from structlog.testing import capture_logs
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.layers import InMemoryChannelLayer, channel_layers, register_channel_layer
from fast_channels.layers.redis import RedisChannelLayer
from fast_channels.middleware.auth import AuthMiddleware
from fast_channels.testing import WebsocketCommunicator
from tests.security.conftest import Server
from tests.security.constants import TOKEN
from tests.support.redis_server import RedisServer

PAYLOAD = "payload-secret-5b1e77"
COOKIE = "cookie-secret-93ac0d"
SECRETS = (TOKEN, PAYLOAD, COOKIE)


class Chat(AsyncJsonWebsocketConsumer):
    groups = ["room"]
    max_frame_size = 4096
    rate_limit_messages = 20

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        assert self.channel_layer is not None
        await self.channel_layer.group_send("room", {"type": "chat.message", **content})

    async def chat_message(self, message: dict[str, Any]) -> None:
        await self.send_json(message)


async def authenticate(scope: Any) -> object | None:
    headers = dict(scope["headers"])
    return (
        {"name": "alice"} if headers.get(b"authorization") == f"Bearer {TOKEN}".encode() else None
    )


async def session(alias: str) -> None:
    app = AuthMiddleware(Chat.as_asgi(channel_layer_alias=alias), authenticate, require_user=True)
    headers = [
        (b"authorization", f"Bearer {TOKEN}".encode()),
        (b"cookie", f"sid={COOKIE}".encode()),
    ]
    communicator = WebsocketCommunicator(app, "/ws", headers=headers)
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"text": PAYLOAD})
    assert (await communicator.receive_json_from(timeout=5))["text"] == PAYLOAD
    await communicator.send_to(text_data='{"text": "' + PAYLOAD)  # malformed: closes 1007
    assert (await communicator.receive_output(timeout=5))["code"] == 1007
    await communicator.disconnect(code=1007)
    # Refused ones log too: a missing token, and an oversized frame with the secret in it.
    refused = WebsocketCommunicator(app, "/ws", headers=[(b"cookie", f"sid={COOKIE}".encode())])
    assert not (await refused.connect())[0]
    big = WebsocketCommunicator(app, "/ws", headers=headers)
    assert (await big.connect())[0]
    await big.send_to(text_data=PAYLOAD * 1000)
    assert (await big.receive_output(timeout=5))["code"] == 1009
    await big.disconnect(code=1009)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_library_log_events_hold_no_secrets(kind: str, redis_server: RedisServer) -> None:
    alias = f"logs-{uuid.uuid4().hex[:6]}"
    layer = (
        InMemoryChannelLayer()
        if kind == "memory"
        else RedisChannelLayer(hosts=[redis_server.url], prefix=alias)
    )
    register_channel_layer(alias, layer)
    try:
        with capture_logs() as logs:
            await session(alias)
    finally:
        channel_layers.unregister(alias)
        await layer.flush()
        await layer.close()
    assert len(logs) >= 6  # connected/disconnected, malformed, refused, too large...
    text = repr(logs)
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} logged: {text}"


async def test_an_undecodable_frame_is_logged_without_its_content(
    redis_server: RedisServer,
) -> None:
    prefix = f"logs-{uuid.uuid4().hex[:6]}"
    layer = RedisChannelLayer(hosts=[redis_server.url], prefix=prefix)
    raw = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        channel = await layer.new_channel()
        queue, _ = layer.process_keys(layer.process_id)
        with capture_logs() as logs:
            await raw.rpush(queue, f"{PAYLOAD} from a foreign writer".encode())
            await layer.send(channel, {"type": "m"})
            assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "m"}
        assert any("undecodable" in str(event) for event in logs)
        assert PAYLOAD not in repr(logs)
    finally:
        await layer.flush()
        await layer.close()
        await raw.aclose()


def test_a_real_server_logs_no_tokens_cookies_or_payloads(server: Server) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Cookie": f"sid={COOKIE}"}
    origin = "https://app.example.com"
    with connect(f"ws://{server.base}/ws", origin=origin, additional_headers=headers) as ws:
        ws.send('{"text": "' + PAYLOAD + '"}')
        assert PAYLOAD in str(ws.recv(timeout=5))
        ws.send('{"text": "' + PAYLOAD)  # malformed JSON: 1007
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    with pytest.raises(InvalidStatus):
        connect(f"ws://{server.base}/ws", origin=origin, additional_headers={"Cookie": COOKIE})
    deadline = time.monotonic() + 5
    while "websocket disconnected" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    output = server.log()
    assert "websocket connected" in output  # the server did log the session (at DEBUG)
    for secret in SECRETS:
        assert secret not in output, f"{secret!r} in the server output:\n{output}"
