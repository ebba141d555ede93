"""The local core (layers/local.py) every layer keeps its process-local channels and groups in.

Driven through a real in-memory layer's `local`; the contract suite (tests/layers/contract)
covers the same rules through each layer's public methods."""

from __future__ import annotations

import time

from fast_channels.layers import InMemoryChannelLayer
from fast_channels.layers.buffer import Delivery, shared_delivery
from fast_channels.layers.local import LocalChannel


def _delivery(text: str = "hi") -> Delivery:
    now = time.time()
    return shared_delivery({"type": "m", "text": text}, "group_send", now, now + 60, None)


async def test_a_channel_is_its_buffer_and_the_layer_shows_it_under_1x_names() -> None:
    layer = InMemoryChannelLayer(channel_capacity={"small.*": 2})
    channel = await layer.new_channel("small")
    local = layer.local.channels[channel]
    assert isinstance(local, LocalChannel)
    assert local.buffer is local
    assert local.owned
    assert local.capacity == 2
    assert layer.channels[channel] is local  # 1.x's `channels`: the same dict
    assert layer._owned == {channel}
    assert channel not in layer.local.named


async def test_liveness_a_waiting_receiver_keeps_a_channel_live_past_group_expiry() -> None:
    layer = InMemoryChannelLayer(group_expiry=10)
    idle, waited_on = await layer.new_channel(), await layer.new_channel()
    waiter = layer.local.channels[waited_on].waiter()
    later = time.monotonic() + 11
    assert layer.local.is_live(idle, time.monotonic())
    assert not layer.local.is_live(idle, later)
    assert layer.local.is_live(waited_on, later)
    assert not layer.local.is_live("never-seen", time.monotonic())
    layer.local.channels[waited_on].abandon(waiter)


async def test_lapse_group_drops_old_joins_of_idle_channels_only() -> None:
    layer = InMemoryChannelLayer(group_expiry=10)
    idle, waited_on = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("room", idle)
    await layer.group_add("room", waited_on)
    waiter = layer.local.channels[waited_on].waiter()
    layer.local.lapse_group("room", time.monotonic())  # joined just now: nothing lapses
    assert set(layer.groups["room"]) == {idle, waited_on}
    layer.local.lapse_group("room", time.monotonic() + 11)
    assert set(layer.groups["room"]) == {waited_on}
    assert layer._memberships == {waited_on: {"room"}}
    layer.local.channels[waited_on].abandon(waiter)


async def test_lapse_idle_returns_the_groups_it_emptied() -> None:
    layer = InMemoryChannelLayer(group_expiry=10)
    kept, gone = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("stays", kept)
    await layer.group_add("empties", gone)
    waiter = layer.local.channels[kept].waiter()
    assert layer.local.lapse_idle(time.monotonic() + 11) == ["empties"]
    assert set(layer.groups) == {"stays"}
    layer.local.channels[kept].abandon(waiter)


async def test_fan_out_counts_full_members_and_makes_channels_only_when_asked() -> None:
    layer = InMemoryChannelLayer(capacity=1)
    full, free = await layer.new_channel(), await layer.new_channel()
    await layer.send(full, {"type": "first"})
    delivery = _delivery()
    assert layer.local.fan_out(delivery, [full, free, "unknown"]) == (1, 1)
    assert "unknown" not in layer.channels
    assert layer.local.fan_out(delivery, ["named"], make=True) == (1, 0)
    assert layer.local.named == {"named"}
    assert len(layer.channels["named"]) == 1


async def test_forget_drops_the_buffer_and_both_membership_maps() -> None:
    layer = InMemoryChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("a", channel)
    await layer.group_add("b", channel)
    assert sorted(layer.local.forget(channel)) == ["a", "b"]
    assert layer.channels == {}
    assert layer.groups == {}
    assert layer._memberships == {}
    assert layer.local.forget(channel) == []


async def test_a_rejoin_keeps_the_join_order() -> None:
    layer = InMemoryChannelLayer()
    first, second = await layer.new_channel(), await layer.new_channel()
    assert layer.local.add_member("room", first)
    assert layer.local.add_member("room", second)
    assert not layer.local.add_member("room", first)  # again: a new join time, same place
    assert list(layer.groups["room"]) == [first, second]
