"""A group_send queues ONE delivery for every local member; each receiver still owns its dict."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer


@pytest.mark.parametrize("cls", [RedisChannelLayer, RedisPubSubChannelLayer])
async def test_each_local_member_gets_its_own_top_level_dict(
    make_redis: Callable[..., Any], cls: type[Any]
) -> None:
    layer = make_redis(cls)
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:
        await layer.group_add("room", channel)
    await layer.group_send("room", {"type": "note", "text": "hi", "items": [1]})
    first = await asyncio.wait_for(layer.receive(channels[0]), 3)
    first["text"] = "changed by the first receiver"
    first["extra"] = True
    second = await asyncio.wait_for(layer.receive(channels[1]), 3)
    third = await asyncio.wait_for(layer.receive(channels[2]), 3)
    assert second == third == {"type": "note", "text": "hi", "items": [1]}
    assert second is not third
    # A plain send is not copied again (one target), and still arrives whole.
    await layer.send(channels[0], {"type": "direct", "n": 1})
    assert await asyncio.wait_for(layer.receive(channels[0]), 3) == {"type": "direct", "n": 1}
