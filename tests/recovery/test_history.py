"""layers/history.py: positions, policies, the ring buffer's complete/incomplete rules."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fast_channels.layers.history import (
    POSITION_KEY,
    GroupHistory,
    HistoryPolicy,
    LocalHistory,
    Position,
    history_policies,
    position_of,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_policies_first_match_wins_globs_and_regexes() -> None:
    table = history_policies(
        {"room.vip.*": (5, 1), re.compile(r"room\."): HistoryPolicy(10, 2.5), "feed": (1, 3)}
    )
    assert table.lookup("room.vip.a") == HistoryPolicy(5, 1.0)
    assert table.lookup("room.a") == HistoryPolicy(10, 2.5)
    assert table.lookup("feed") == HistoryPolicy(1, 3.0)
    assert table.lookup("feeds") is None  # a glob matches the whole name
    assert table.lookup("lobby") is None
    assert not history_policies(None)
    assert history_policies({"a": (1, 1)})


@pytest.mark.parametrize("value", [(0, 10), (5, 0), (5, -1), (True, 1), (5,), "5", (1.5, 1)])
def test_invalid_policies_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="group_history"):
        history_policies({"room.*": value})  # type: ignore[dict-item]


def test_invalid_pattern_is_refused() -> None:
    with pytest.raises(TypeError, match="group_history keys"):
        history_policies({3: (1, 1)})  # type: ignore[dict-item]


def test_offsets_count_from_one_and_are_put_on_the_message() -> None:
    stream = GroupHistory(HistoryPolicy(10, 60), now=0.0)
    assert stream.position == Position(stream.epoch, 0)
    messages = [{"type": "m", "n": n} for n in range(3)]
    for message in messages:
        stream.append("room", message, now=1.0)
    assert [m[POSITION_KEY] for m in messages] == [
        {"group": "room", "epoch": stream.epoch, "offset": n} for n in (1, 2, 3)
    ]
    assert position_of(messages[2]) == Position(stream.epoch, 3)
    assert stream.position == Position(stream.epoch, 3)


def test_since_none_is_complete_and_empty() -> None:
    stream = GroupHistory(HistoryPolicy(10, 60), now=0.0)
    stream.append("g", {"type": "m"}, now=0.0)
    assert stream.read(None, now=0.0) == ([], True, Position(stream.epoch, 1))


def test_another_epoch_is_incomplete_but_hands_over_what_there_is() -> None:
    stream = GroupHistory(HistoryPolicy(10, 60), now=0.0)
    for n in range(3):
        stream.append("g", {"type": "m", "n": n}, now=0.0)
    read = stream.read(Position("old-epoch", 3), now=0.0)
    assert not read.complete
    assert [m["n"] for m in read.messages] == [0, 1, 2]


def test_a_position_the_stream_never_gave_is_incomplete() -> None:
    stream = GroupHistory(HistoryPolicy(10, 60), now=0.0)
    stream.append("g", {"type": "m"}, now=0.0)
    assert stream.read(Position(stream.epoch, 7), now=0.0) == (
        [],
        False,
        Position(stream.epoch, 1),
    )


def test_reads_are_copies() -> None:
    stream = GroupHistory(HistoryPolicy(10, 60), now=0.0)
    stream.append("g", {"type": "m"}, now=0.0)
    stream.read(Position(stream.epoch, 0), now=0.0).messages[0]["type"] = "changed"
    assert stream.read(Position(stream.epoch, 0), now=0.0).messages[0]["type"] == "m"


# A model of what a stream must answer: sends at times (non-decreasing), then a read at
# `read_at` since an offset; kept = the last `size` messages not older than `ttl`.
@given(
    size=st.integers(1, 8),
    ttl=st.floats(0.5, 20),
    gaps=st.lists(st.floats(0, 5), max_size=30),
    read_after=st.floats(0, 25),
    since=st.integers(0, 35),
)
def test_trimming_by_size_and_ttl_and_the_complete_rule(
    size: int, ttl: float, gaps: list[float], read_after: float, since: int
) -> None:
    stream = GroupHistory(HistoryPolicy(size, ttl), now=0.0)
    now, sent_at = 0.0, []
    for gap in gaps:
        now += gap
        stream.append("g", {"type": "m"}, now)
        sent_at.append(now)
    read_at = now + read_after
    read = stream.read(Position(stream.epoch, since), read_at)

    sent = len(sent_at)
    kept = [n for n in range(1, sent + 1) if n > sent - size and sent_at[n - 1] + ttl > read_at]
    assert read.position == Position(stream.epoch, sent)
    if since > sent:
        assert read == ([], False, read.position)
        return
    assert [m[POSITION_KEY]["offset"] for m in read.messages] == [n for n in kept if n > since]
    # Complete exactly when every message after `since` is there: never claimed otherwise.
    assert read.complete == all(n in kept for n in range(since + 1, sent + 1))


def test_local_history_without_a_policy_has_none() -> None:
    history = LocalHistory(history_policies({"room.*": (5, 10)}).lookup)
    message = {"type": "m"}
    history.record("lobby", message)
    assert POSITION_KEY not in message
    assert history.read("lobby", None) == ([], False, Position("", 0))
    assert history.size() == 0


def test_local_history_positions_per_group() -> None:
    history = LocalHistory(history_policies({"room.*": (5, 10)}).lookup)
    a, b = {"type": "m"}, {"type": "m"}
    history.record("room.a", a)
    history.record("room.b", b)
    assert a[POSITION_KEY]["offset"] == b[POSITION_KEY]["offset"] == 1
    assert a[POSITION_KEY]["epoch"] != b[POSITION_KEY]["epoch"]  # one epoch per stream
    assert history.size() == 2


def test_a_read_gives_an_unsent_group_an_epoch_to_hold_a_position_in() -> None:
    history = LocalHistory(history_policies({"room.*": (5, 10)}).lookup)
    before = history.read("room.a", None).position
    assert before.epoch
    assert before.offset == 0
    message = {"type": "m"}
    history.record("room.a", message)
    read = history.read("room.a", before)
    assert read.complete
    assert read.messages == [message]


def test_an_expired_stream_is_forgotten_and_starts_a_new_epoch() -> None:
    clock = Clock()
    history = LocalHistory(history_policies({"room.*": (5, 10)}).lookup, clock=clock)
    first = {"type": "m"}
    history.record("room.a", first)
    old = Position(first[POSITION_KEY]["epoch"], 1)
    clock.now += 5
    assert history.read("room.a", old).complete  # still kept: nothing missed
    clock.now += 6  # the message's ttl is over: the stream holds nothing and is dropped
    assert history.size() == 0
    second = {"type": "m"}
    history.record("room.a", second)
    assert second[POSITION_KEY]["epoch"] != old.epoch
    assert second[POSITION_KEY]["offset"] == 1
    read = history.read("room.a", old)
    assert not read.complete
    assert read.messages == [second]


def test_clear_loses_every_stream() -> None:
    history = LocalHistory(history_policies({"*": (5, 10)}).lookup)
    message = {"type": "m"}
    history.record("g", message)
    history.clear()
    assert history.size() == 0
    assert history.read("g", None).position.epoch != message[POSITION_KEY]["epoch"]
