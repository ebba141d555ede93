"""Random nested values through every layer at once: each message gets the same answer on the
in-memory, Redis queue and Redis pub/sub layers (and the queue layer with JSON, which has no
bytes) — delivered as the model in tests/support/values.py says, or refused with one TypeError
whose words are the same on every layer."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fast_channels.layers import BaseChannelLayer, InMemoryChannelLayer
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from tests.fuzz.conftest import FUZZ
from tests.support.redis_server import RedisServer
from tests.support.values import Refused, identical, received


class Layers:
    """The four layers on one event loop for all of a test's examples."""

    def __init__(self, runner: asyncio.Runner, layers: dict[str, BaseChannelLayer]) -> None:
        self.runner = runner
        self.layers = layers

    def answers(self, message: dict[str, Any]) -> dict[str, tuple[str, Any]]:
        run = self.runner.run
        return {name: run(answer(layer, message)) for name, layer in self.layers.items()}


async def answer(layer: BaseChannelLayer, message: dict[str, Any]) -> tuple[str, Any]:
    channel = await layer.new_channel()
    try:
        await layer.send(channel, message)
    except TypeError as exc:
        await layer.release_channel(channel)
        return "refused", str(exc)
    try:
        return "delivered", await asyncio.wait_for(layer.receive(channel), 5)
    finally:
        await layer.release_channel(channel)


@pytest.fixture
def layers(redis_server: RedisServer) -> Iterator[Layers]:
    prefix = f"values-{uuid.uuid4().hex[:8]}"
    made: dict[str, BaseChannelLayer] = {
        "memory": InMemoryChannelLayer(),
        "queue": RedisChannelLayer(hosts=[redis_server.url], prefix=prefix),
        "pubsub": RedisPubSubChannelLayer(hosts=[redis_server.url], prefix=prefix),
        "queue-json": RedisChannelLayer(
            hosts=[redis_server.url], prefix=prefix + "j", serializer_format="json"
        ),
    }
    with asyncio.Runner() as runner:
        yield Layers(runner, made)
        for layer in made.values():
            with contextlib.suppress(Exception):
                runner.run(layer.flush())
            runner.run(layer.close())


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([2**64 - 1, 2**64, -(2**63), -(2**63) - 1])
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
foreign = st.sampled_from([{1, 2}, frozenset(), 1j, object(), bytearray(b"x"), Ellipsis])
values = st.recursive(
    scalars | foreign,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
        | st.dictionaries(st.integers(0, 3) | st.binary(max_size=2), inner, min_size=1, max_size=2)
    ),
    max_leaves=10,
)
deep = st.integers(95, 105).map(lambda depth: _nest(depth))


def _nest(depth: int) -> Any:
    value: Any = []
    for level in range(depth - 2):
        value = {"k": value} if level % 2 else [value]
    return value


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, dict):
        return any(_has_bytes(item) for item in value.values())
    return isinstance(value, list) and any(_has_bytes(item) for item in value)


@FUZZ
@given(value=values | deep)
def test_every_layer_gives_a_message_the_same_answer(layers: Layers, value: Any) -> None:
    message = {"type": "fuzz", "v": value}
    answers = layers.answers(message)
    json_answer = answers.pop("queue-json")
    try:
        expected = received(message)
    except Refused:
        texts = {kind: text for kind, (outcome, text) in answers.items() if outcome == "refused"}
        assert texts.keys() == answers.keys(), answers
        assert len(set(texts.values())) == 1, texts
        assert json_answer == ("refused", texts["memory"])
        return
    for kind, (outcome, got) in answers.items():
        assert outcome == "delivered", (kind, got)
        assert identical(expected, got), (kind, got)
    if _has_bytes(expected):  # JSON has no bytes: its serializer refuses them
        assert json_answer[0] == "refused"
        assert "'json'" in json_answer[1]
    else:
        assert json_answer[0] == "delivered"
        assert identical(expected, json_answer[1])
