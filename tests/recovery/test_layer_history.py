"""group_history= and read_history() on the in-memory layer; the base layer's default."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from fast_channels.layers import BaseChannelLayer, InMemoryChannelLayer
from fast_channels.layers.history import POSITION_KEY, HistoryRead, Position


async def test_every_member_gets_the_same_position_once_per_group_send() -> None:
    layer = InMemoryChannelLayer(group_history={"room.*": (10, 60)})
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("room.1", a)
    await layer.group_add("room.1", b)
    await layer.group_send("room.1", {"type": "m", "n": 1})
    await layer.group_send("room.1", {"type": "m", "n": 2})
    got_a = [await layer.receive(a), await layer.receive(a)]
    got_b = [await layer.receive(b), await layer.receive(b)]
    assert got_a == got_b
    epoch = got_a[0][POSITION_KEY]["epoch"]
    assert [m[POSITION_KEY] for m in got_a] == [
        {"group": "room.1", "epoch": epoch, "offset": 1},
        {"group": "room.1", "epoch": epoch, "offset": 2},
    ]


async def test_a_group_without_a_policy_is_unchanged() -> None:
    layer = InMemoryChannelLayer(group_history={"room.*": (10, 60)})
    channel = await layer.new_channel()
    await layer.group_add("lobby", channel)
    await layer.group_send("lobby", {"type": "m"})
    assert await layer.receive(channel) == {"type": "m"}
    assert await layer.read_history("lobby", None) == ([], False, Position("", 0))


async def test_read_history_since_a_position() -> None:
    layer = InMemoryChannelLayer(group_history={"room.*": (3, 60)})
    for n in range(1, 6):
        await layer.group_send("room.1", {"type": "m", "n": n})
    current = (await layer.read_history("room.1", None)).position
    assert current.offset == 5
    read = await layer.read_history("room.1", Position(current.epoch, 2))
    assert read.complete  # 3, 4 and 5 are kept
    assert [m["n"] for m in read.messages] == [3, 4, 5]
    trimmed = await layer.read_history("room.1", Position(current.epoch, 1))
    assert not trimmed.complete  # 2 was trimmed (size 3)
    assert [m["n"] for m in trimmed.messages] == [3, 4, 5]


async def test_a_receiver_changing_its_message_does_not_change_the_history() -> None:
    layer = InMemoryChannelLayer(group_history={"room.*": (3, 60)})
    channel = await layer.new_channel()
    await layer.group_add("room.1", channel)
    await layer.group_send("room.1", {"type": "m"})
    (await layer.receive(channel))["type"] = "changed"
    read = await layer.read_history("room.1", Position("", 0))
    assert read.messages[0]["type"] == "m"


async def test_the_senders_dict_is_not_given_a_position() -> None:
    layer = InMemoryChannelLayer(group_history={"room.*": (3, 60)})
    message: dict[str, Any] = {"type": "m"}
    await layer.group_send("room.1", message)
    assert message == {"type": "m"}


async def test_flush_loses_the_history_and_changes_the_epoch() -> None:
    layer = InMemoryChannelLayer(group_history={"room.*": (3, 60)})
    await layer.group_send("room.1", {"type": "m"})
    before = (await layer.read_history("room.1", None)).position
    await layer.flush()
    read = await layer.read_history("room.1", before)
    assert not read.complete
    assert read.position.epoch != before.epoch


async def test_a_new_layer_instance_has_new_epochs() -> None:
    options = {"group_history": {"room.*": (3, 60)}}
    first, second = InMemoryChannelLayer(**options), InMemoryChannelLayer(**options)
    await first.group_send("room.1", {"type": "m"})
    position = (await first.read_history("room.1", None)).position
    read = await second.read_history("room.1", position)
    assert read.complete is False
    assert read.position.epoch != position.epoch


async def test_read_history_validates_the_group_name() -> None:
    layer = InMemoryChannelLayer(group_history={"*": (3, 60)})
    with pytest.raises(TypeError):
        await layer.read_history("not a group!", None)
    with pytest.raises(TypeError):
        await InMemoryChannelLayer().read_history("bad name", None)


async def test_invalid_group_history_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="group_history"):
        InMemoryChannelLayer(group_history={"room.*": (0, 60)})


async def test_history_size_is_exported_at_scrape() -> None:
    layer = InMemoryChannelLayer(group_history={"room.*": (2, 60)})
    layer.bind_alias("history-gauge-test")
    for _ in range(3):
        await layer.group_send("room.1", {"type": "m"})
    await layer.group_send("room.2", {"type": "m"})
    await layer.refresh_backlog()
    value = REGISTRY.get_sample_value(
        "fast_channels_layer_history_messages", {"layer": "history-gauge-test"}
    )
    assert value == 3  # room.1 keeps 2 (its size), room.2 one


class OneXLayer(BaseChannelLayer):
    """A 1.x-style third-party layer: never calls our __init__."""

    def __init__(self) -> None:
        pass


async def test_the_base_layer_has_no_history() -> None:
    for layer in (OneXLayer(), InMemoryChannelLayer()):
        read = await layer.read_history("room", Position("e", 3))
        assert read == HistoryRead([], False, Position("", 0))
        assert layer.history_policy("room") is None
        assert layer.history_size() == 0
