"""Group history (README "Recovery"), on every layer: a layer without it says so; a layer that
promises `history` gives positions and answers read_history() by the same rules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fast_channels.layers.history import POSITION_KEY, HistoryRead, Position
from tests.layers.conftest import LayerMaker


async def test_without_group_history_a_group_has_none(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    layer = await make_layer()
    group = unique("plain")
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    await layer.group_send(group, {"type": "m"})
    assert await asyncio.wait_for(layer.receive(channel), 2) == {"type": "m"}
    for since in (None, Position("e", 1)):
        assert await layer.read_history(group, since) == HistoryRead([], False, Position("", 0))


async def test_history_positions_and_reads(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    make_layer.require("history")
    group = unique("room")
    layer = await make_layer(group_history={group: (3, 60)})
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    start = await layer.read_history(group, None)
    assert start.complete
    assert start.messages == []
    assert start.position.offset == 0
    epoch = start.position.epoch
    assert epoch
    for n in range(1, 6):
        await layer.group_send(group, {"type": "m", "n": n})
    got = [await asyncio.wait_for(layer.receive(channel), 2) for _ in range(5)]
    assert [m[POSITION_KEY] for m in got] == [
        {"group": group, "epoch": epoch, "offset": n} for n in range(1, 6)
    ]
    read = await layer.read_history(group, Position(epoch, 2))
    assert (read.complete, read.position) == (True, Position(epoch, 5))
    assert [m["n"] for m in read.messages] == [3, 4, 5]
    assert [m[POSITION_KEY]["offset"] for m in read.messages] == [3, 4, 5]
    trimmed = await layer.read_history(group, Position(epoch, 1))
    assert not trimmed.complete  # 2 is gone (size 3): never claimed complete
    assert [m["n"] for m in trimmed.messages] == [3, 4, 5]
    assert (await layer.read_history(group, Position(epoch, 5))) == ([], True, read.position)
    other = await layer.read_history(group, Position("another-epoch", 2))
    assert not other.complete
    assert [m["n"] for m in other.messages] == [3, 4, 5]
