"""send_json encodes a group message's value once for every member in the process
(consumer/encode_once.py), and every frame is still what json.dumps gives at its send."""

from __future__ import annotations

import json
from typing import Any

from fast_channels.consumer import AsyncJsonWebsocketConsumer, encode_once
from fast_channels.layers import InMemoryChannelLayer
from fast_channels.testing import WebsocketCommunicator

GROUP = "room"


def test_a_member_on_the_next_burst_does_not_evict_the_previous_one() -> None:
    encode_once.forget()
    first = {"type": "chat.message", "body": {"seq": 1}}
    second = {"type": "chat.message", "body": {"seq": 2}}
    text_1 = encode_once.encode_shared(first["body"], first, False)
    text_2 = encode_once.encode_shared(second["body"], second, False)  # a member a burst ahead
    assert encode_once.encode_shared(first["body"], dict(first), False) is text_1
    assert encode_once.encode_shared(second["body"], dict(second), False) is text_2


async def _connected(consumer: type[AsyncJsonWebsocketConsumer], n: int) -> list[Any]:
    communicators = [WebsocketCommunicator(consumer.as_asgi(), "/") for _ in range(n)]
    for communicator in communicators:
        connected, _ = await communicator.connect()
        assert connected
    return communicators


async def _frames(communicators: list[Any], count: int) -> list[list[Any]]:
    return [[json.loads(await c.receive_from()) for _ in range(count)] for c in communicators]


def test_the_next_member_reuses_the_text_and_a_second_send_re_encodes() -> None:
    encode_once.forget()
    body = {"text": "hi", "n": [1, 2]}
    message = {"type": "chat.message", "body": body}
    text = encode_once.encode_shared(body, message, False)
    assert text == json.dumps(body)
    assert encode_once.encode_shared(body, dict(message), False) is text  # the next member
    body["n"].append(3)  # against the read-only rule, but by the member that just sent it:
    again = encode_once.encode_shared(body, message, True)  # its second send re-encodes
    assert again == json.dumps(body)
    assert again is not text
    assert encode_once.encode_shared(body, message, False) is again  # the member after it


def test_only_values_of_the_group_message_are_remembered() -> None:
    encode_once.forget()
    mine = {"n": 1}
    message = {"type": "chat.message", "body": {"n": 1}}
    assert encode_once.encode_shared(mine, message, False) == '{"n": 1}'
    mine["n"] = 2  # the application's own object, changed between two members' sends
    assert encode_once.encode_shared(mine, message, False) == '{"n": 2}'
    assert encode_once.encode_shared({"n": 3}, message, False) == '{"n": 3}'


async def test_members_get_the_value_encoded_once(memory_layer: InMemoryChannelLayer) -> None:
    class Room(AsyncJsonWebsocketConsumer):
        groups = [GROUP]
        channel_layer_alias = "default"

        async def chat_message(self, event: dict[str, Any]) -> None:
            await self.send_json(event["body"])

    encode_once.forget()
    communicators = await _connected(Room, 3)
    body = {"text": "héllo", "seq": [1, 2.5, None]}
    await memory_layer.group_send(GROUP, {"type": "chat.message", "body": body})
    assert await _frames(communicators, 1) == [[body]] * 3
    remembered = encode_once._entries[0][0]
    assert remembered == body
    assert remembered is not body  # the members' shared copy
    for communicator in communicators:
        await communicator.disconnect()


async def test_a_member_changing_the_value_between_its_sends_sends_it_current(
    memory_layer: InMemoryChannelLayer,
) -> None:
    class Counting(AsyncJsonWebsocketConsumer):
        groups = [GROUP]
        channel_layer_alias = "default"

        async def chat_message(self, event: dict[str, Any]) -> None:
            body = event["body"]
            await self.send_json(body)
            body["count"] = body.get("count", 0) + 1
            await self.send_json(body)

    communicators = await _connected(Counting, 3)
    await memory_layer.group_send(GROUP, {"type": "chat.message", "body": {}})
    frames = await _frames(communicators, 2)
    for before, after in frames:  # each member's second frame shows its own change
        assert after["count"] == before.get("count", 0) + 1
    assert sorted(after["count"] for _, after in frames) == [1, 2, 3]
    for communicator in communicators:
        await communicator.disconnect()


async def test_an_object_of_the_application_is_encoded_at_each_send(
    memory_layer: InMemoryChannelLayer,
) -> None:
    state = {"sent": 0}

    class Stateful(AsyncJsonWebsocketConsumer):
        groups = [GROUP]
        channel_layer_alias = "default"

        async def chat_message(self, event: dict[str, Any]) -> None:
            state["sent"] += 1
            await self.send_json(state)

    communicators = await _connected(Stateful, 3)
    await memory_layer.group_send(GROUP, {"type": "chat.message"})
    frames = await _frames(communicators, 1)
    assert sorted(frame["sent"] for [frame] in frames) == [1, 2, 3]
    for communicator in communicators:
        await communicator.disconnect()


async def test_a_value_sent_again_after_another_is_sent_current(
    memory_layer: InMemoryChannelLayer,
) -> None:
    class Twice(AsyncJsonWebsocketConsumer):
        groups = [GROUP]
        channel_layer_alias = "default"

        async def chat_message(self, event: dict[str, Any]) -> None:
            body = event["body"]
            await self.send_json(body)
            await self.send_json(event["other"])
            body["seen"] = body.get("seen", 0) + 1
            await self.send_json(body)

    communicators = await _connected(Twice, 2)
    await memory_layer.group_send(GROUP, {"type": "chat.message", "body": {}, "other": [1]})
    frames = await _frames(communicators, 3)
    for before, other, after in frames:
        assert other == [1]
        assert after["seen"] == before.get("seen", 0) + 1
    for communicator in communicators:
        await communicator.disconnect()
