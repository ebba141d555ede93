from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.layers.conftest import LayerMaker


async def receive_nothing(layer: object, channel: str, timeout: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(layer.receive(channel), timeout)  # type: ignore[attr-defined]
    except TimeoutError:
        return True
    return False


async def test_group_send_reaches_members_whatever_their_channel_prefix(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    # A process-local name is <prefix>.<process>!<local>: the prefix may hold dots or none.
    layer = await make_layer()
    group = unique("prefixes")
    members = [await layer.new_channel(prefix) for prefix in ("specific", "a.b.c", "x-y_z")]
    for channel in members:
        await layer.group_add(group, channel)
    await layer.group_send(group, {"type": "hello"})
    for channel in members:
        assert (await asyncio.wait_for(layer.receive(channel), 2))["type"] == "hello"


async def test_group_send_reaches_every_member_and_no_one_else(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    layer = await make_layer()
    group = unique("room")
    members = [await layer.new_channel() for _ in range(3)]
    outsider = await layer.new_channel()
    for channel in members:
        await layer.group_add(group, channel)
    await layer.group_send(group, {"type": "chat.message", "text": "hi"})
    for channel in members:
        message = await asyncio.wait_for(layer.receive(channel), 2)
        assert message == {"type": "chat.message", "text": "hi"}
    assert await receive_nothing(layer, outsider)


async def test_group_discard_stops_delivery(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    layer = await make_layer()
    group = unique("room")
    stays, leaves = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(group, stays)
    await layer.group_add(group, leaves)
    await layer.group_discard(group, leaves)
    await layer.group_send(group, {"type": "after"})
    assert (await asyncio.wait_for(layer.receive(stays), 2))["type"] == "after"
    assert await receive_nothing(layer, leaves)


async def test_group_add_twice_delivers_once(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    layer = await make_layer()
    group = unique("room")
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    await layer.group_add(group, channel)
    await layer.group_send(group, {"type": "once"})
    assert (await asyncio.wait_for(layer.receive(channel), 2))["type"] == "once"
    assert await receive_nothing(layer, channel)


async def test_discarding_an_unknown_member_is_harmless(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    layer = await make_layer()
    await layer.group_discard(unique("never"), await layer.new_channel())
    await layer.group_send(unique("empty"), {"type": "to.nobody"})


async def test_group_send_skips_a_full_member_and_delivers_to_the_rest(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    make_layer.require("channel_full")
    layer = await make_layer(capacity=1)
    group = unique("room")
    full, free = await layer.new_channel(), await layer.new_channel()
    await layer.send(full, {"type": "filler"})
    await layer.group_add(group, full)
    await layer.group_add(group, free)
    await layer.group_send(group, {"type": "broadcast"})
    assert (await asyncio.wait_for(layer.receive(free), 2))["type"] == "broadcast"
    assert (await asyncio.wait_for(layer.receive(full), 2))["type"] == "filler"
    assert await receive_nothing(layer, full)


async def test_group_memberships_lapse_after_group_expiry(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    make_layer.require("send_to_unreceived")
    layer = await make_layer(group_expiry=1)
    group = unique("room")
    channel = unique("leaked")  # nobody receives on it: a leaked membership
    await layer.group_add(group, channel)
    await asyncio.sleep(1.5)
    await layer.group_send(group, {"type": "too.late"})
    assert await receive_nothing(layer, channel)


async def test_a_live_receiver_keeps_its_membership_past_group_expiry(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    layer = await make_layer(group_expiry=1)
    group = unique("room")
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    receiving = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(1.6)
    await layer.group_send(group, {"type": "still.here"})
    assert (await asyncio.wait_for(receiving, 2))["type"] == "still.here"


@pytest.mark.parametrize(
    "name",
    ["", "has space", "bad/char", "ü-nicode", "x" * 100, 42, None, b"bytes"],
    ids=["empty", "space", "slash", "unicode", "too-long", "int", "none", "bytes"],
)
async def test_invalid_names_raise_type_error_naming_them(
    make_layer: LayerMaker, name: object
) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    with pytest.raises(TypeError, match="name"):
        await layer.send(name, {"type": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Group name"):
        await layer.group_add(name, channel)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Group name"):
        await layer.group_send(name, {"type": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Channel name"):
        await layer.group_add("fine", name)  # type: ignore[arg-type]


async def test_the_error_message_names_the_offending_name(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    with pytest.raises(TypeError, match="'bad/name'"):
        await layer.send("bad/name", {"type": "x"})


async def test_a_message_that_is_not_a_dict_is_refused(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    with pytest.raises(TypeError, match="must be a dict"):
        await layer.send(channel, ["type", "x"])  # type: ignore[arg-type]


async def test_reserved_envelope_keys_are_refused(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    with pytest.raises(ValueError, match="__fc_ts"):
        await layer.send(channel, {"type": "x", "__fc_ts": 1})
    with pytest.raises(ValueError, match="reserved"):
        await layer.group_send(unique("room"), {"type": "x", "__fc_to": []})
    assert await receive_nothing(layer, channel)
