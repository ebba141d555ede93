"""One rule for what a message may hold, on every layer: the same message is either delivered
as the same value everywhere (what Redis gives back: tuples as lists, subclasses as their base
type) or refused everywhere with the same TypeError naming where and what (README, Channel
layers). Before, the in-memory layer took sets, datetimes and objects that Redis refuses,
delivered tuples that Redis turns into lists, and raised RecursionError on deep nesting."""

from __future__ import annotations

import asyncio
import collections
import datetime
import enum
import math
from collections.abc import Callable
from typing import Any

import pytest

from fast_channels.layers.values import CARRIED
from tests.layers.conftest import LayerMaker
from tests.support.values import identical, nested


class Colour(enum.IntEnum):
    RED = 1


class Mood(enum.StrEnum):
    CALM = "calm"


Point = collections.namedtuple("Point", "x y")

NAN = float("nan")

# id, the value sent under "v", what the receiver gets under "v"
DELIVERED: list[tuple[str, Any, Any]] = [
    ("tuple", (1, "a", (2, 3)), [1, "a", [2, 3]]),
    ("namedtuple", Point(1, 2), [1, 2]),
    ("intenum", Colour.RED, 1),
    ("strenum", Mood.CALM, "calm"),
    ("ordereddict", collections.OrderedDict(b=1, a=2), {"b": 1, "a": 2}),
    ("bytes", b"\x00\xff", b"\x00\xff"),
    ("uint64-max", 2**64 - 1, 2**64 - 1),
    ("int64-min", -(2**63), -(2**63)),
    ("nan", NAN, NAN),
    ("inf", -math.inf, -math.inf),
    ("non-ascii-text", "h\u00e9llo \u263a \U0001f600", "h\u00e9llo \u263a \U0001f600"),
    ("bools-and-none", [True, False, None, 0, 0.0], [True, False, None, 0, 0.0]),
]

# id, the message, what the TypeError says after "Message cannot be sent: "
REFUSED: list[tuple[str, dict[Any, Any], str]] = [
    ("set", {"v": {1, 2}}, "message['v'] is of type set"),
    ("frozenset", {"v": [frozenset()]}, "message['v'][0] is of type frozenset"),
    (
        "datetime",
        {"v": {"at": datetime.datetime(2026, 12, 7)}},
        "message['v']['at'] is of type datetime.datetime",
    ),
    ("object", {"v": object()}, "message['v'] is of type object"),
    ("bytearray", {"v": bytearray(b"x")}, "message['v'] is of type bytearray"),
    ("complex", {"v": 1j}, "message['v'] is of type complex"),
    ("int-key", {"v": {1: "one"}}, "message['v'] has a key of type int (1): keys must be str"),
    ("bytes-key", {b"k": 1}, "message has a key of type bytes (b'k'): keys must be str"),
    (
        "tuple-key",
        {"v": {(1, 2): "x"}},
        "message['v'] has a key of type tuple ((1, 2)): keys must be str",
    ),
    ("uint64-max+1", {"v": 2**64}, "message['v'] is an int outside -2**63..2**64-1 (65 bits)"),
    (
        "int64-min-1",
        {"v": -(2**63) - 1},
        "message['v'] is an int outside -2**63..2**64-1 (64 bits)",
    ),
    (
        "huge-int",
        {"v": [10**400]},
        "message['v'][0] is an int outside -2**63..2**64-1 (1329 bits)",
    ),
    ("surrogate", {"v": "a\ud800"}, "message['v'] is a str with a lone surrogate at index 1"),
    (
        "deep-dict",
        nested(10_000),
        "message['a']['a']['a']…(94 levels)…['a']['a']['a'] is nested deeper than 100 levels",
    ),
    (
        "deep-list",
        nested(10_000, "list"),
        "message['a'][0][0]…(94 levels)…[0][0][0] is nested deeper than 100 levels",
    ),
    ("101-deep", nested(101), "is nested deeper than 100 levels"),
]


@pytest.mark.parametrize(
    ("sent", "expected"), [c[1:] for c in DELIVERED], ids=[c[0] for c in DELIVERED]
)
async def test_a_carried_value_arrives_as_redis_gives_it_back(
    make_layer: LayerMaker, sent: Any, expected: Any
) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "m", "v": sent})
    got = await asyncio.wait_for(layer.receive(channel), 2)
    assert identical({"type": "m", "v": expected}, got), got


async def test_100_levels_deep_is_carried(make_layer: LayerMaker) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    for container in ("dict", "list"):
        await layer.send(channel, nested(100, container))
        assert identical(nested(100, container), await asyncio.wait_for(layer.receive(channel), 2))


@pytest.mark.parametrize(("message", "says"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
async def test_a_value_no_layer_carries_is_refused_with_the_same_words(
    make_layer: LayerMaker, unique: Callable[[str], str], message: dict[Any, Any], says: str
) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    await layer.group_add(unique("room"), channel)
    for call in (
        lambda: layer.send(channel, message),
        lambda: layer.group_send(unique("room"), message),
    ):
        with pytest.raises(TypeError) as raised:
            await call()
        text = str(raised.value)
        assert text.startswith("Message cannot be sent: ")
        assert says in text
        assert text.endswith(f"a message carries only {CARRIED}")
    await layer.send(channel, {"type": "after"})
    assert (await asyncio.wait_for(layer.receive(channel), 2)) == {"type": "after"}


async def test_mutating_a_sent_message_changes_nothing_delivered(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    layer = await make_layer()
    group = unique("room")
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    message: dict[str, Any] = {"type": "m", "items": [1, {"k": [2]}]}
    await layer.send(channel, message)
    await layer.group_send(group, message)
    message["items"][1]["k"].append(3)
    message["type"] = "changed"
    for _ in range(2):
        got = await asyncio.wait_for(layer.receive(channel), 2)
        assert got == {"type": "m", "items": [1, {"k": [2]}]}
