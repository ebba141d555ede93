"""Group history (README "Recovery"), on every layer: a layer without it says so; a layer that
promises `history` gives positions and answers read_history() by the same rules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

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


async def test_history_edges_give_the_in_memory_answers(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    make_layer.require("history")
    group = unique("edges")
    layer = await make_layer(group_history={group: (10, 60)})
    for n in range(1, 4):
        await layer.group_send(group, {"type": "m", "n": n})
    epoch = (await layer.read_history(group, None)).position.epoch
    current = Position(epoch, 3)
    # A position this stream never gave: ahead of it, or negative.
    for since in (Position(epoch, 4), Position(epoch, 10**30), Position(epoch, -1)):
        assert await layer.read_history(group, since) == ([], False, current)
    # From the start of the epoch: everything, and complete (nothing was trimmed).
    everything = await layer.read_history(group, Position(epoch, 0))
    assert everything.complete
    assert [m["n"] for m in everything.messages] == [1, 2, 3]
    # A client that stored the "no history" position: all of it, never complete.
    empty_epoch = await layer.read_history(group, Position("", 0))
    assert not empty_epoch.complete
    assert [m["n"] for m in empty_epoch.messages] == [1, 2, 3]
    # Any other shape is the caller's bug: refused, on every layer, history or not.
    for garbage in ("1:2", (1, 2), (epoch, "2"), (epoch, True), {"epoch": epoch}, 3):
        for target in (group, unique("no-history")):
            with pytest.raises(TypeError):
                await layer.read_history(target, garbage)  # type: ignore[arg-type]


async def test_history_entries_older_than_ttl_are_never_replayed(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    make_layer.require("history")
    group = unique("ttl")
    layer = await make_layer(group_history={group: (10, 2.0)})
    await layer.group_send(group, {"type": "m", "n": 1})
    await layer.group_send(group, {"type": "m", "n": 2})
    epoch = (await layer.read_history(group, None)).position.epoch
    await asyncio.sleep(1.4)
    await layer.group_send(group, {"type": "m", "n": 3})
    await asyncio.sleep(1.0)  # 1 and 2 are 2.4 s old, past the ttl; 3 is 1.0 s old
    trimmed = await layer.read_history(group, Position(epoch, 0))
    assert (trimmed.complete, trimmed.position) == (False, Position(epoch, 3))
    assert [m["n"] for m in trimmed.messages] == [3]
    reaching = await layer.read_history(group, Position(epoch, 2))
    assert reaching.complete
    assert [m["n"] for m in reaching.messages] == [3]
    await asyncio.sleep(2.2)  # idle for longer than the ttl: the history is gone, epoch too
    gone = await layer.read_history(group, Position(epoch, 3))
    assert not gone.complete
    assert gone.messages == []
    assert gone.position.offset == 0
    assert gone.position.epoch not in ("", epoch)


async def test_flush_loses_the_history_and_says_so(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    make_layer.require("history")
    group = unique("flushed")
    layer = await make_layer(group_history={group: (10, 60)})
    await layer.group_send(group, {"type": "m"})
    before = (await layer.read_history(group, None)).position
    await layer.flush()
    after = await layer.read_history(group, before)
    assert not after.complete
    assert after.position.epoch not in ("", before.epoch)
    await layer.group_send(group, {"type": "m"})
    assert (await layer.read_history(group, None)).position == Position(after.position.epoch, 1)
