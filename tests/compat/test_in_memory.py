"""The in-memory layer behaves as 1.x's where 1.x code relies on it."""

from __future__ import annotations

import asyncio

import pytest

from fast_channels.layers import InMemoryChannelLayer


async def test_a_bang_channel_not_from_new_channel_delivers() -> None:
    layer = InMemoryChannelLayer()
    receiving = asyncio.ensure_future(layer.receive("worker!abc"))
    await asyncio.sleep(0)
    await layer.send("worker!abc", {"type": "job"})
    assert (await asyncio.wait_for(receiving, 1))["type"] == "job"


async def test_a_bang_channel_sent_to_first_delivers_later() -> None:
    layer = InMemoryChannelLayer()
    await layer.send("worker!abc", {"type": "job"})
    assert (await asyncio.wait_for(layer.receive("worker!abc"), 1))["type"] == "job"


async def test_a_released_channel_still_drops_what_is_sent_to_it() -> None:
    layer = InMemoryChannelLayer()
    channel = await layer.new_channel()
    await layer.release_channel(channel)
    await layer.send(channel, {"type": "late"})
    assert channel not in layer.channels


async def test_expired_named_channels_are_swept_and_leave_their_groups() -> None:
    layer = InMemoryChannelLayer(expiry=0.05)
    for index in range(1000):
        await layer.send(f"named-{index}", {"type": "m"})
    await layer.group_add("room", "named-0")
    await asyncio.sleep(0.1)
    await layer.group_send("other", {"type": "m"})
    assert layer.channels == {}
    assert "room" not in layer.groups


async def test_expired_named_channels_are_swept_by_receive() -> None:
    layer = InMemoryChannelLayer(expiry=0.05)
    for index in range(1000):
        await layer.send(f"named-{index}", {"type": "m"})
    await asyncio.sleep(0.1)
    await layer.send("fresh", {"type": "new"})
    assert (await layer.receive("fresh"))["type"] == "new"
    assert layer.channels == {}


async def test_timed_out_receives_leave_nothing_behind() -> None:
    layer = InMemoryChannelLayer()
    for index in range(1000):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(f"idle-{index}"), 0.0001)
    assert layer.channels == {}


async def test_a_channel_deleted_between_wake_up_and_read_loses_nothing() -> None:
    layer = InMemoryChannelLayer()
    woken = asyncio.ensure_future(layer.receive("shared"))
    await asyncio.sleep(0)
    await layer.send("shared", {"type": "a"})  # wakes `woken`, which has not run yet
    # Another receiver takes "a" first and, finding the channel empty, deletes it.
    assert (await layer.receive("shared"))["type"] == "a"
    await layer.send("shared", {"type": "b"})  # into the channel made anew
    assert (await asyncio.wait_for(woken, 1))["type"] == "b"
    assert layer.channels == {}
