"""Channel and group names follow the documented rule exactly, on every layer: ASCII letters,
digits, `-`, `_`, `.` (a channel may have one `!`, not first), shorter than 100 characters;
anything else is a TypeError naming the name (README, Channel layers)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.layers.conftest import LayerMaker
from tests.support.names import is_valid_channel_name, is_valid_group_name

# Each was accepted before: `$` matched before a trailing newline, and \d, \w matched any
# Unicode digit or letter (Arabic-Indic three, fullwidth one, é).
REFUSED = ["room\n", "a\u0663", "a\uff11", "x.y!\u00e9", "a\x00b", "\nroom", "a\tb", "r\u00f6om"]
REFUSED_CHANNELS = [*REFUSED, "a!b!c", "!a", "a!b\n"]
ACCEPTED_CHANNELS = ["a", "a!", "a-b_c.d!e-f_g.h", "x" * 99, "9.9"]

name_chars = st.sampled_from("aZ09-_.!")
odd_chars = st.characters(categories=["L", "Nd", "Nl", "No", "Cc", "Zs", "Zl", "Zp", "P"])
names = (
    st.text(name_chars | odd_chars, max_size=12)
    | st.text(name_chars, min_size=1, max_size=12).map(lambda name: name + "\n")
    | st.text(name_chars, min_size=95, max_size=105)
)
PROPERTY = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


async def test_the_validators_accept_exactly_the_documented_names(make_layer: LayerMaker) -> None:
    layer = await make_layer()

    @PROPERTY
    @given(name=names)
    def check(name: str) -> None:
        for validate, reference in (
            (layer.require_valid_channel_name, is_valid_channel_name),
            (layer.require_valid_group_name, is_valid_group_name),
        ):
            if reference(name):
                assert validate(name) is True
            else:
                with pytest.raises(TypeError) as raised:
                    validate(name)
                assert repr(name) in str(raised.value) or str(len(name)) in str(raised.value)

    check()


@pytest.mark.parametrize("name", REFUSED_CHANNELS)
async def test_every_call_refuses_a_name_outside_the_rule(
    make_layer: LayerMaker, name: str
) -> None:
    layer = await make_layer()
    channel = await layer.new_channel()
    with pytest.raises(TypeError, match="Channel name") as raised:
        await layer.send(name, {"type": "x"})
    assert repr(name) in str(raised.value)
    with pytest.raises(TypeError, match="Channel name"):
        await layer.group_add("fine", name)
    with pytest.raises(TypeError, match="Channel name"):
        await layer.group_discard("fine", name)
    with pytest.raises(TypeError, match="Channel name"):
        await asyncio.wait_for(layer.receive(name), 2)
    if name in REFUSED:
        for call in (
            lambda: layer.group_add(name, channel),
            lambda: layer.group_discard(name, channel),
            lambda: layer.group_send(name, {"type": "x"}),
        ):
            with pytest.raises(TypeError, match="Group name"):
                await call()


@pytest.mark.parametrize("name", ACCEPTED_CHANNELS)
async def test_names_at_the_edges_of_the_rule_are_accepted(
    make_layer: LayerMaker, name: str
) -> None:
    layer = await make_layer()
    assert layer.require_valid_channel_name(name)
    if "!" in name:
        with pytest.raises(TypeError, match="Group name"):
            layer.require_valid_group_name(name)
    else:
        await layer.group_add(name, await layer.new_channel())
        await layer.group_send(name, {"type": "x"})


async def test_a_newline_suffixed_member_cannot_black_out_its_group(
    make_layer: LayerMaker, unique: Callable[[str], str]
) -> None:
    # Before: the queue layer took `<member>\n` into the group, and every group_send frame of
    # that process then carried a target list with a newline in it: 0 of 5 group_sends reached
    # any of the 3 real members, each counted undecodable.
    layer = await make_layer()
    group = unique("room")
    members = [await layer.new_channel() for _ in range(3)]
    for channel in members:
        await layer.group_add(group, channel)
    with pytest.raises(TypeError, match="Channel name"):
        await layer.group_add(group, members[0] + "\n")
    for index in range(5):
        await layer.group_send(group, {"type": "chat", "n": index})
    for channel in members:
        got = [(await asyncio.wait_for(layer.receive(channel), 2))["n"] for _ in range(5)]
        assert got == list(range(5))
