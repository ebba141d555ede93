"""Serializers, encryption and what happens to payloads that cannot be decoded."""

from __future__ import annotations

import asyncio
import datetime
import pickle
import time
from collections.abc import Callable
from typing import Any

import pytest

from fast_channels.layers.redis import RedisChannelLayer
from fast_channels.layers.redis.serializers import (
    BaseMessageSerializer,
    JSONSerializer,
    MsgPackSerializer,
    registry,
)
from tests.layers.redis.conftest import metric, raw_client
from tests.support.redis_server import RedisServer

Make = Callable[..., Any]


async def receive(layer: RedisChannelLayer, channel: str, timeout: float = 3) -> dict[str, Any]:
    return await asyncio.wait_for(layer.receive(channel), timeout)


def raw_frames(server: RedisServer, layer: RedisChannelLayer) -> list[bytes]:
    client = raw_client(server)
    try:
        return list(client.lrange(layer.process_keys(layer.process_id)[0], 0, -1))
    finally:
        client.close()


@pytest.mark.parametrize("serializer_format", ["msgpack", "json"])
async def test_round_trip_of_nested_values(make_redis: Make, serializer_format: str) -> None:
    layer = make_redis(serializer_format=serializer_format)
    channel = await layer.new_channel()
    message = {"type": "m", "text": "héllo ✓", "n": 3, "x": 1.5, "nested": {"a": [1, None, True]}}
    await layer.send(channel, message)
    assert await receive(layer, channel) == message


async def test_encrypted_messages_round_trip_and_are_unreadable_in_redis(
    make_redis: Make, redis_server: RedisServer
) -> None:
    layer = make_redis(symmetric_encryption_keys=["s3cret"])
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "m", "text": "attack at dawn"})
    (frame,) = raw_frames(redis_server, layer)
    assert b"attack at dawn" not in frame
    assert b"text" not in frame
    assert await receive(layer, channel) == {"type": "m", "text": "attack at dawn"}


async def test_key_rotation_first_key_encrypts_every_key_decrypts(make_redis: Make) -> None:
    prefix = f"rot-{time.monotonic_ns()}"
    old = make_redis(prefix=prefix, symmetric_encryption_keys=["old"])
    rotated = make_redis(prefix=prefix, symmetric_encryption_keys=["new", "old"])
    new_only = make_redis(prefix=prefix, symmetric_encryption_keys=["new"])
    channel = await rotated.new_channel()
    await old.send(channel, {"type": "from.old"})
    await new_only.send(channel, {"type": "from.new"})
    await rotated.send(channel, {"type": "from.rotated"})
    got = [(await receive(rotated, channel))["type"] for _ in range(3)]
    assert got == ["from.old", "from.new", "from.rotated"]


async def test_a_wrong_key_is_a_counted_drop_not_a_crash(make_redis: Make) -> None:
    prefix = f"wrong-{time.monotonic_ns()}"
    receiver = make_redis(prefix=prefix, symmetric_encryption_keys=["right"])
    intruder = make_redis(prefix=prefix, symmetric_encryption_keys=["wrong"])
    plain = make_redis(prefix=prefix)
    channel = await receiver.new_channel()
    await intruder.send(channel, {"type": "bad"})
    await plain.send(channel, {"type": "unencrypted"})
    await receiver.send(channel, {"type": "good"})
    assert (await receive(receiver, channel))["type"] == "good"
    assert metric("layer_messages_dropped_total", layer=receiver.alias, reason="undecodable") == 2


async def test_garbage_in_the_process_key_is_dropped_and_counted(
    make_redis: Make, redis_server: RedisServer
) -> None:
    layer = make_redis()
    channel = await layer.new_channel()
    queue = layer.process_keys(layer.process_id)[0]
    client = raw_client(redis_server)
    future = b"%.3f" % (time.time() + 60)
    client.rpush(queue, b"no frame at all", future + b"\n" + channel.encode() + b"\n\xc1garbage")
    client.close()
    await layer.send(channel, {"type": "after.garbage"})
    assert (await receive(layer, channel))["type"] == "after.garbage"
    assert metric("layer_messages_dropped_total", layer=layer.alias, reason="undecodable") == 2
    await layer.send(channel, {"type": "still.alive"})
    assert (await receive(layer, channel))["type"] == "still.alive"


class UpperJSONSerializer(BaseMessageSerializer):
    """A custom format: JSON with a marker, to prove the registry's class is the one used."""

    def as_bytes(self, message: dict[str, Any]) -> bytes:
        return b"UPPER" + JSONSerializer().as_bytes(message)

    def from_bytes(self, data: bytes) -> dict[str, Any]:
        if not data.startswith(b"UPPER"):
            raise ValueError("not ours")
        return JSONSerializer().from_bytes(data[5:])


async def test_a_registered_custom_serializer_is_used(
    make_redis: Make, redis_server: RedisServer
) -> None:
    registry.register_serializer("upper-json", UpperJSONSerializer)
    layer = make_redis(serializer_format="upper-json", random_prefix_length=0)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "custom"})
    (frame,) = raw_frames(redis_server, layer)
    assert frame.split(b"\n", 2)[2].startswith(b'UPPER{"type":"custom"')
    assert await receive(layer, channel) == {"type": "custom"}


def test_registering_something_that_is_not_a_serializer_is_refused() -> None:
    with pytest.raises(TypeError, match="serialize"):
        registry.register_serializer("bad", object)


def test_random_prefix_is_added_and_stripped() -> None:
    plain = MsgPackSerializer(random_prefix_length=0).serialize({"a": 1})
    first = MsgPackSerializer(random_prefix_length=12).serialize({"a": 1})
    second = MsgPackSerializer(random_prefix_length=12).serialize({"a": 1})
    assert len(first) == len(plain) + 12
    assert first != second
    assert MsgPackSerializer(random_prefix_length=12).deserialize(first) == {"a": 1}


def test_a_single_key_string_is_refused() -> None:
    with pytest.raises(ValueError, match="list of keys"):
        RedisChannelLayer(symmetric_encryption_keys="one-key")  # type: ignore[arg-type]


class PickleSerializer(BaseMessageSerializer):
    """A format that carries more than msgpack (pickle: for this test only, never untrusted)."""

    def as_bytes(self, message: dict[str, Any]) -> bytes:
        return pickle.dumps(message)

    def from_bytes(self, data: bytes) -> dict[str, Any]:
        return pickle.loads(data)  # type: ignore[no-any-return]


async def test_a_registered_serializer_sets_its_own_rule_for_values(make_redis: Make) -> None:
    # The layers' value rule (dict, list, str, bytes, int, float, bool, None) is what msgpack
    # and JSON carry; a serializer you register may carry datetimes or sets, and is let.
    registry.register_serializer("pickle-test", PickleSerializer)
    layer = make_redis(serializer_format="pickle-test")
    channel = await layer.new_channel()
    message = {"type": "m", "at": datetime.datetime(2026, 12, 7), "tags": {"a"}, "pair": (1, 2)}
    await layer.send(channel, message)
    assert await receive(layer, channel) == message
    with pytest.raises(TypeError, match=r"message\['at'\] is of type datetime.datetime"):
        await make_redis().send(channel, message)
