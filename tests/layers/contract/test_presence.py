"""Presence on every layer (issue 20): join, read, leave, events to opted-in members only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from fast_channels.layers import BaseChannelLayer
from fast_channels.layers.presence import MAX_INFO_BYTES, PresenceInfoError, events_group
from tests.layers.conftest import LayerMaker


async def next_message(layer: BaseChannelLayer, channel: str) -> dict[str, Any]:
    return await asyncio.wait_for(layer.receive(channel), 5)


async def test_members_are_read_with_their_info_until_they_leave(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    layer = await make_layer()
    group = unique("room")
    ann, bob = await layer.new_channel(), await layer.new_channel()
    assert await layer.read_presence(group) == {}
    await layer.presence_join(group, ann, {"name": "ann", "id": 1})
    await layer.presence_join(group, bob, {"name": "bob", "id": 2})
    assert await layer.read_presence(group) == {
        ann: {"name": "ann", "id": 1},
        bob: {"name": "bob", "id": 2},
    }
    await layer.presence_join(group, ann, {"name": "ann2", "id": 1})  # replaces, not adds
    await layer.presence_leave(group, bob)
    await layer.presence_leave(group, bob)  # a second leave is a no-op
    assert await layer.read_presence(group) == {ann: {"name": "ann2", "id": 1}}
    await layer.presence_leave(group, ann)
    assert await layer.read_presence(group) == {}
    assert layer.presence.held == {}


async def test_events_reach_the_events_group_only(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    layer = await make_layer()
    group = unique("room")
    watcher, bystander, ann = [await layer.new_channel() for _ in range(3)]
    await layer.group_add(events_group(group), watcher)
    await layer.group_add(group, bystander)  # in the group, not opted in to its events
    await layer.presence_join(group, ann, {"name": "ann"})
    joined = await next_message(layer, watcher)
    assert joined == {
        "type": "presence.join",
        "group": group,
        "channel": ann,
        "info": {"name": "ann"},
    }
    await layer.presence_join(group, ann, {"name": "ann"})  # the same info: no second event
    await layer.presence_leave(group, ann)
    left = await next_message(layer, watcher)
    assert left["type"] == "presence.leave"
    assert (left["channel"], left["info"], left["reason"]) == (ann, {"name": "ann"}, "left")
    await layer.group_send(group, {"type": "marker"})
    assert await next_message(layer, bystander) == {"type": "marker"}  # and nothing before it


@pytest.mark.parametrize(
    ("info", "error"),
    [
        (["name"], "must be a dict"),
        ({"x": "y" * MAX_INFO_BYTES}, "at most 512"),
        ({"nested": {"a": 1}}, "must be a str, int, float, bool or None"),
        ({1: "a"}, "keys must be str"),
        ({str(i): i for i in range(17)}, "at most 16"),
        ({"x": float("nan")}, "finite"),
    ],
)
async def test_info_must_be_a_small_flat_dict(
    make_layer: LayerMaker, unique: Callable[[str], str], info: Any, error: str
) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    with pytest.raises(PresenceInfoError, match=error):
        await layer.presence_join(unique("room"), channel, info)
    assert layer.presence.held == {}


async def test_group_names_leave_room_for_the_events_group(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    with pytest.raises(ValueError, match="at most 87 characters"):
        await layer.presence_join("g" * 88, channel, {})
    await layer.presence_join("g" * 87, channel, {})
    assert await layer.read_presence("g" * 87) == {channel: {}}
    await layer.presence_leave("g" * 87, channel)
