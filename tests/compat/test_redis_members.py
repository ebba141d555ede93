"""The Redis layers' members that 1.x and channels_redis code reads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.layers.redis.serializers import MsgPackSerializer, registry
from tests.support.redis_server import RedisServer

Make = Callable[..., Any]
BOTH = [RedisChannelLayer, RedisPubSubChannelLayer]


@pytest.mark.parametrize("cls", BOTH)
async def test_client_prefix_names_new_channels_and_is_read_only(
    make_redis: Make, cls: Any
) -> None:
    layer = make_redis(cls)
    channel = await layer.new_channel()
    assert channel.startswith(f"specific.{layer.client_prefix}!")
    with pytest.raises(AttributeError):
        layer.client_prefix = "other"


@pytest.mark.parametrize("cls", BOTH)
def test_ring_size_counts_the_hosts(redis_server: RedisServer, cls: Any) -> None:
    layer = cls(hosts=[redis_server.url, redis_server.url])
    assert layer.ring_size == 2


async def test_queue_serialize_round_trips_with_a_random_prefix(make_redis: Make) -> None:
    layer = make_redis(RedisChannelLayer)
    first, second = layer.serialize({"type": "a"}), layer.serialize({"type": "a"})
    assert first != second  # the random prefix channels_redis adds
    assert layer.deserialize(first) == {"type": "a"}


async def test_pubsub_serialize_is_plain_serializer_bytes(make_redis: Make) -> None:
    layer = make_redis(RedisPubSubChannelLayer)
    data = layer.serialize({"type": "a"})
    assert data == MsgPackSerializer().serialize({"type": "a"})
    assert layer.deserialize(data) == {"type": "a"}


@pytest.mark.parametrize("length", [-1, -12])
def test_a_negative_random_prefix_length_means_none(length: int) -> None:
    serializer = MsgPackSerializer(random_prefix_length=length)
    assert serializer.serialize({"a": 1}) == MsgPackSerializer().serialize({"a": 1})


async def test_close_pools_closes_and_the_layer_still_works(make_redis: Make) -> None:
    layer = make_redis(RedisChannelLayer)
    await layer.send("jobs", {"type": "one"})
    await layer.close_pools()
    await layer.send("jobs", {"type": "two"})
    got = [(await asyncio.wait_for(layer.receive("jobs"), 5))["type"] for _ in range(2)]
    assert got == ["one", "two"]


async def test_pubsub_channels_and_groups_are_read_only_views(make_redis: Make) -> None:
    layer = make_redis(RedisPubSubChannelLayer)
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    assert channel in layer.channels
    assert channel in layer.groups["room"]
    with pytest.raises(TypeError):
        layer.groups["other"] = {}  # type: ignore[index]
    with pytest.raises(AttributeError):
        layer.channels = {}
    await layer.group_discard("room", channel)
    assert "room" not in layer.groups


@pytest.mark.parametrize("cls", BOTH)
async def test_receive_on_another_instances_channel_is_also_an_assertion_error(
    make_redis: Make, cls: Any
) -> None:
    channel = await make_redis(cls).new_channel()
    other = make_redis(cls)
    with pytest.raises(ValueError, match="another layer instance") as caught:
        await other.receive(channel)
    assert isinstance(caught.value, AssertionError)


def test_a_bad_serializer_registration_is_a_type_and_assertion_error() -> None:
    with pytest.raises(TypeError) as caught:
        registry.register_serializer("nothing", object)
    assert isinstance(caught.value, AssertionError)
