"""A recovering consumer's first dict frame of a message, {**content, "_pos": position}, is
encoded once for every member of a burst (consumer/encode_once.py), on the in-memory and both
Redis layers, and each frame is still exactly json.dumps of that dict at its send."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from fast_channels.consumer import AsyncJsonWebsocketConsumer, encode_once
from fast_channels.layers import (
    BaseChannelLayer,
    InMemoryChannelLayer,
    channel_layers,
    register_channel_layer,
)
from fast_channels.layers.history import POSITION_KEY
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.testing import WebsocketCommunicator
from tests.support.redis_server import RedisServer

ALIAS = "positioned"
GROUP = "room.1"
MEMBERS = 40


class Room(AsyncJsonWebsocketConsumer):
    channel_layer_alias = ALIAS

    async def connect(self) -> None:
        await self.accept()
        await self.join_group(GROUP)

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["body"])


def positioned(body: dict[str, Any], position: dict[str, Any]) -> str:
    return json.dumps({**body, "_pos": position})


@pytest.fixture
def memory() -> Iterator[InMemoryChannelLayer]:
    layer = InMemoryChannelLayer(group_history={"room.*": (50, 60)})
    register_channel_layer(ALIAS, layer)
    encode_once.forget()
    yield layer
    channel_layers.unregister(ALIAS)


@pytest.fixture(params=[RedisChannelLayer, RedisPubSubChannelLayer], ids=["queue", "pubsub"])
async def redis_layer(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> AsyncIterator[BaseChannelLayer]:
    layer = request.param(
        hosts=[redis_server.url],
        prefix=f"pos-{uuid.uuid4().hex[:8]}",
        group_history={"room.*": (50, 60)},
    )
    register_channel_layer(ALIAS, layer)
    encode_once.forget()
    yield layer
    channel_layers.unregister(ALIAS)
    await layer.close()


async def connected(consumer: type[AsyncJsonWebsocketConsumer], n: int) -> list[Any]:
    """n members, each past its fc.recovery answer."""
    communicators = []
    for _ in range(n):
        communicator = WebsocketCommunicator(consumer.as_asgi(), "/ws")
        assert (await communicator.connect())[0]
        assert (await communicator.receive_json_from(timeout=5))["type"] == "fc.recovery"
        communicators.append(communicator)
    return communicators


async def texts(communicators: list[Any], count: int = 1) -> list[list[str]]:
    """Each member's next `count` frames, the very str objects the consumer sent."""
    frames = []
    for communicator in communicators:
        mine = []
        for _ in range(count):
            output = await communicator.receive_output(timeout=5)
            assert output["type"] == "websocket.send"
            mine.append(output["text"])
        frames.append(mine)
    return frames


async def disconnect(communicators: list[Any]) -> None:
    for communicator in communicators:
        await communicator.disconnect()


# -- encode_shared with a position ----------------------------------------------------------


def test_the_next_member_reuses_the_positioned_text() -> None:
    encode_once.forget()
    body, position = {"text": "hé", "n": [1]}, {"group": GROUP, "epoch": "e", "offset": 7}
    message = {"type": "chat.message", "body": body, POSITION_KEY: position}
    text = encode_once.encode_shared(body, message, False, position)
    assert text == positioned(body, position)
    assert "_pos" not in body  # the application's dict is not changed
    assert encode_once.encode_shared(body, dict(message), False, position) is text
    # The same content without the position is another frame, and another entry.
    plain = encode_once.encode_shared(body, dict(message), False)
    assert plain == json.dumps(body)
    assert encode_once.encode_shared(body, dict(message), False, position) is text
    assert encode_once.encode_shared(body, dict(message), False) is plain


def test_a_position_that_is_not_the_message_s_own_is_encoded_each_time() -> None:
    encode_once.forget()
    body = {"text": "hi"}
    message = {"type": "chat.message", "body": body, POSITION_KEY: {"offset": 1}}
    other = {"group": GROUP, "epoch": "e", "offset": 1}  # from a replay, say: not this message's
    first = encode_once.encode_shared(body, message, False, other)
    other["offset"] = 2
    second = encode_once.encode_shared(body, message, False, other)
    assert (json.loads(first)["_pos"]["offset"], json.loads(second)["_pos"]["offset"]) == (1, 2)
    assert encode_once._entries == ()


def test_a_re_encoding_of_the_content_drops_its_positioned_text() -> None:
    encode_once.forget()
    body, position = {"count": 0}, {"group": GROUP, "epoch": "e", "offset": 1}
    message = {"type": "chat.message", "body": body, POSITION_KEY: position}
    stale = encode_once.encode_shared(body, message, False, position)
    body["count"] = 1  # the member that sent it changes it, then sends it again (plain)
    assert encode_once.encode_shared(body, message, True) == '{"count": 1}'
    fresh = encode_once.encode_shared(body, dict(message), False, position)
    assert fresh == positioned(body, position)
    assert fresh is not stale


# -- consumers, in-memory layer -------------------------------------------------------------


async def test_members_get_one_text_exactly_json_dumps_of_the_positioned_dict(
    memory: InMemoryChannelLayer,
) -> None:
    communicators = await connected(Room, MEMBERS)
    for n in range(3):
        body = {"text": f"héllo {n}", "seq": [n, 2.5, None]}
        await memory.group_send(GROUP, {"type": "chat.message", "body": body})
        frames = [frame for [frame] in await texts(communicators)]
        position = json.loads(frames[0])["_pos"]
        assert position["offset"] == n + 1
        assert frames[0] == positioned(body, position)
        assert all(frame is frames[0] for frame in frames)  # encoded once, for all members
    await disconnect(communicators)


async def test_only_the_first_dict_frame_carries_the_position(
    memory: InMemoryChannelLayer,
) -> None:
    class Several(Room):
        async def chat_message(self, event: dict[str, Any]) -> None:
            await self.send_json(event["items"])  # a list: sent as it is
            await self.send_json(event["body"])
            await self.send_json(event["other"])

    communicators = await connected(Several, 5)
    body, other, items = {"text": "a"}, {"text": "b"}, [1, 2]
    message = {"type": "chat.message", "body": body, "other": other, "items": items}
    await memory.group_send(GROUP, message)
    frames = await texts(communicators, 3)
    position = json.loads(frames[0][1])["_pos"]
    expected = [json.dumps(items), positioned(body, position), json.dumps(other)]
    assert frames == [expected] * 5
    assert all(mine[1] is frames[0][1] for mine in frames)
    await disconnect(communicators)


async def test_a_handler_s_own_dicts_are_sent_as_they_are_at_each_send(
    memory: InMemoryChannelLayer,
) -> None:
    state = {"sent": 0}

    class Own(Room):
        async def chat_message(self, event: dict[str, Any]) -> None:
            state["sent"] += 1
            await self.send_json(state)  # the application's object: the positioned frame
            reply = dict(event["body"])
            reply["by"] = state["sent"]
            await self.send_json(reply)  # a dict of its own, built per member

    communicators = await connected(Own, 4)
    await memory.group_send(GROUP, {"type": "chat.message", "body": {"text": "x"}})
    frames = [[json.loads(text) for text in mine] for mine in await texts(communicators, 2)]
    assert sorted(first["sent"] for first, _ in frames) == [1, 2, 3, 4]
    assert all("_pos" in first and "_pos" not in second for first, second in frames)
    assert [second for _, second in frames] == [
        {"text": "x", "by": first["sent"]} for first, _ in frames
    ]
    await disconnect(communicators)


async def test_a_member_changing_the_value_between_its_sends_sends_it_current(
    memory: InMemoryChannelLayer,
) -> None:
    class Counting(Room):
        async def chat_message(self, event: dict[str, Any]) -> None:
            body = event["body"]
            await self.send_json(body)
            body["count"] = body.get("count", 0) + 1
            await self.send_json(body)

    communicators = await connected(Counting, 3)
    await memory.group_send(GROUP, {"type": "chat.message", "body": {}})
    frames = [[json.loads(text) for text in mine] for mine in await texts(communicators, 2)]
    for before, after in frames:  # the second frame shows the member's own change
        assert "_pos" in before
        assert "_pos" not in after
        assert after["count"] == before.get("count", 0) + 1
    assert sorted(after["count"] for _, after in frames) == [1, 2, 3]
    await disconnect(communicators)


async def test_a_custom_encode_json_or_send_json_still_sees_every_positioned_frame(
    memory: InMemoryChannelLayer,
) -> None:
    class Encoding(Room):
        @classmethod
        async def encode_json(cls, content: Any) -> str:
            return json.dumps(content, sort_keys=True, separators=(",", ":"))

    seen: list[Any] = []

    class Sending(Room):
        async def send_json(self, content: Any, close: bool = False) -> None:
            if content.get("type") != "fc.recovery":
                seen.append(content)
            await super().send_json(content, close)

    communicators = [*await connected(Encoding, 2), *await connected(Sending, 2)]
    body = {"z": 1, "a": 2}
    await memory.group_send(GROUP, {"type": "chat.message", "body": body})
    frames = [frame for [frame] in await texts(communicators)]
    position = json.loads(frames[2])["_pos"]  # its keys in the layer's order
    compact = json.dumps({**body, "_pos": position}, sort_keys=True, separators=(",", ":"))
    assert frames == [compact, compact, positioned(body, position), positioned(body, position)]
    assert seen == [{**body, "_pos": position}] * 2
    await disconnect(communicators)


# -- consumers, Redis layers ----------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_redis_members_get_one_text_exactly_json_dumps_of_the_positioned_dict(
    redis_layer: BaseChannelLayer,
) -> None:
    communicators = await connected(Room, MEMBERS)
    for n in range(3):
        body = {"text": f"redis {n}", "seq": [n, None]}
        await redis_layer.group_send(GROUP, {"type": "chat.message", "body": body})
        frames = [frame for [frame] in await texts(communicators)]
        position = json.loads(frames[0])["_pos"]
        assert position["offset"] == n + 1
        assert frames[0] == positioned(body, position)
        assert all(frame is frames[0] for frame in frames)
    await disconnect(communicators)
