"""In-memory group_send queues one Delivery for all members: each receiver still gets its own."""

from __future__ import annotations

import pytest

from fast_channels.exceptions import ChannelFull
from fast_channels.layers import InMemoryChannelLayer


async def test_each_member_gets_its_own_dict_and_the_sender_keeps_its_own() -> None:
    layer = InMemoryChannelLayer()
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:
        await layer.group_add("room", channel)
    message = {"type": "note", "items": [1], "text": "hi"}
    await layer.group_send("room", message)
    message["text"] = "changed by the sender"
    message["items"].append(2)
    first = await layer.receive(channels[0])
    first["text"] = "changed by the first receiver"  # top-level keys are each receiver's own
    second = await layer.receive(channels[1])
    third = await layer.receive(channels[2])
    assert second == third == {"type": "note", "items": [1], "text": "hi"}
    assert second is not third
    assert second["items"] is not message["items"]


async def test_members_at_capacity_are_skipped_and_the_rest_still_receive() -> None:
    layer = InMemoryChannelLayer(capacity=1)
    busy, free = await layer.new_channel(), await layer.new_channel()
    for channel in (busy, free):
        await layer.group_add("room", channel)
    await layer.send(busy, {"type": "first"})
    await layer.group_send("room", {"type": "second"})
    assert (await layer.receive(free))["type"] == "second"
    assert (await layer.receive(busy))["type"] == "first"
    await layer.send(free, {"type": "third"})
    with pytest.raises(ChannelFull):
        await layer.send(free, {"type": "fourth"})
