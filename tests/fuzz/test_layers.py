"""Random messages and names into every layer: a message is either received intact or refused
with a clear TypeError/ValueError; invalid names and reserved keys raise errors naming them; a
message too large raises MessageTooLarge before any command reaches Redis."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from fast_channels.exceptions import MessageTooLarge
from fast_channels.layers import BaseChannelLayer, InMemoryChannelLayer
from fast_channels.layers.base import RESERVED_KEY_PREFIX
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from tests.fuzz.conftest import FUZZ
from tests.support.names import is_valid_channel_name, is_valid_group_name
from tests.support.redis_server import RedisServer

VALID_NAME = re.compile(r"[a-zA-Z0-9\-_.]+")


class Harness:
    """One layer on one event loop for all of a test's examples: a layer per example would pay
    for its connections and its receive loop's shutdown every time."""

    def __init__(self, runner: asyncio.Runner, layer: BaseChannelLayer) -> None:
        self.runner = runner
        self.layer = layer

    def run(self, body: Callable[[BaseChannelLayer], Awaitable[None]]) -> None:
        self.runner.run(body(self.layer))


@pytest.fixture(params=["memory", "queue", "pubsub"])
def harness(request: pytest.FixtureRequest, redis_server: RedisServer) -> Iterator[Harness]:
    prefix = f"fuzz-{uuid.uuid4().hex[:8]}"
    layer: BaseChannelLayer
    if request.param == "memory":
        layer = InMemoryChannelLayer()
    else:
        cls = RedisChannelLayer if request.param == "queue" else RedisPubSubChannelLayer
        layer = cls(hosts=[redis_server.url], prefix=prefix, max_message_size=64 * 1024)
    with asyncio.Runner() as runner:
        yield Harness(runner, layer)
        with contextlib.suppress(Exception):
            runner.run(layer.flush())
        runner.run(layer.close())


def same(sent: Any, got: Any) -> bool:
    """Equal after a round trip through a serializer: tuples come back as lists, NaN as NaN."""
    if isinstance(sent, float) and math.isnan(sent):
        return isinstance(got, float) and math.isnan(got)
    if isinstance(sent, list | tuple):
        return (
            isinstance(got, list | tuple)
            and len(sent) == len(got)
            and all(same(a, b) for a, b in zip(sent, got, strict=True))
        )
    if isinstance(sent, dict):
        return (
            isinstance(got, dict)
            and sent.keys() == got.keys()
            and all(same(value, got[key]) for key, value in sent.items())
        )
    if type(sent) in (object, ValueError):  # compared by identity: a deep copy is another one
        return type(got) is type(sent)
    return type(sent) is type(got) and bool(sent == got)


scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits msgpack refuses: a TypeError
    | st.floats()
    | st.text(max_size=30)
    | st.binary(max_size=30)
)
exotic = st.sampled_from([object(), {1, 2}, 1j, frozenset(), Ellipsis, ValueError("x")])
values = st.recursive(
    scalars | exotic,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6) | st.integers(-9, 9), inner, max_size=4)
    ),
    max_leaves=12,
)
user_keys = st.text(max_size=12).filter(lambda key: not key.startswith(RESERVED_KEY_PREFIX))
messages = st.dictionaries(
    user_keys | st.integers(-5, 5) | st.booleans() | st.binary(max_size=4), values, max_size=6
).map(lambda body: {"type": "fuzz.message", **body})


@FUZZ
@given(message=messages)
def test_a_message_is_received_intact_or_refused_clearly(
    harness: Harness, message: dict[Any, Any]
) -> None:
    async def body(layer: BaseChannelLayer) -> None:
        channel = await layer.new_channel()
        try:
            error: Exception | None = None
            try:
                await layer.send(channel, message)
            except (TypeError, ValueError) as exc:
                error = exc
            if error is not None:
                assert str(error), "the error says what is wrong"
                return
            got = await asyncio.wait_for(layer.receive(channel), 5)
            assert same(message, got), (message, got)
        finally:
            await layer.release_channel(channel)

    harness.run(body)


names = (
    st.text(max_size=120)
    | st.from_regex(VALID_NAME, fullmatch=True)
    | st.text(alphabet="abc.-_!", min_size=1, max_size=110)
    | st.integers()
    | st.binary(max_size=10)
    | st.none()
)


def valid(name: Any, channel: bool) -> bool:
    return is_valid_channel_name(name) if channel else is_valid_group_name(name)


@FUZZ
@given(name=names)
def test_invalid_names_raise_a_type_error_naming_them(harness: Harness, name: Any) -> None:
    async def body(layer: BaseChannelLayer) -> None:
        calls = {
            "send": (True, lambda: layer.send(name, {"type": "m"})),
            "group_add": (False, lambda: layer.group_add(name, "plain.channel")),
            "group_discard": (False, lambda: layer.group_discard(name, "plain.channel")),
            "group_send": (False, lambda: layer.group_send(name, {"type": "m"})),
        }
        for call_name, (is_channel, call) in calls.items():
            if valid(name, is_channel):
                await call()  # accepted: no error of any kind
                continue
            with pytest.raises(TypeError) as raised:
                await call()
            text = str(raised.value)
            assert repr(name) in text or (isinstance(name, str) and str(len(name)) in text), (
                call_name,
                text,
            )

    harness.run(body)


@FUZZ
@given(suffix=st.text(max_size=10), nested=st.booleans())
def test_reserved_keys_raise_a_value_error_naming_the_key(
    harness: Harness, suffix: str, nested: bool
) -> None:
    key = RESERVED_KEY_PREFIX + suffix

    async def body(layer: BaseChannelLayer) -> None:
        message = {"type": "m", key: 1}
        for call in (lambda: layer.send("plain", message), lambda: layer.group_send("g", message)):
            with pytest.raises(ValueError, match="reserved") as raised:
                await call()
            assert repr(key) in str(raised.value)
        # Only top-level keys are the envelope's: nested ones are the user's data.
        if nested:
            channel = await layer.new_channel()
            await layer.send(channel, {"type": "m", "data": {key: 1}})
            assert (await asyncio.wait_for(layer.receive(channel), 5))["data"] == {key: 1}
            await layer.release_channel(channel)

    harness.run(body)


def commands_run(client: redis.Redis) -> dict[str, int]:
    """Calls per command from INFO commandstats, without INFO itself. One long-lived client
    asks, so that its own connection set-up (HELLO, CLIENT SETINFO) is counted once, before."""
    stats = client.info("commandstats")
    return {name: int(s["calls"]) for name, s in stats.items() if name != "cmdstat_info"}


@pytest.fixture
def quiet_redis(own_redis_server: RedisServer) -> Iterator[tuple[RedisServer, redis.Redis]]:
    """A redis-server nobody else uses, and a client to read its command statistics."""
    client = redis.Redis.from_url(own_redis_server.url)
    client.ping()
    yield own_redis_server, client
    client.close()


@pytest.mark.parametrize("cls", [RedisChannelLayer, RedisPubSubChannelLayer])
@FUZZ
@given(size=st.integers(1001, 50_000), op=st.sampled_from(["send", "group_send", "plain"]))
def test_a_message_too_large_raises_before_touching_redis(
    quiet_redis: tuple[RedisServer, redis.Redis], cls: type[RedisChannelLayer], size: int, op: str
) -> None:
    server, stats = quiet_redis

    async def body() -> None:
        layer = cls(hosts=[server.url], prefix="big", max_message_size=1000)
        try:
            message = {"type": "m", "blob": "x" * size}
            before = commands_run(stats)
            calls = {
                "send": lambda: layer.send(f"specific.{layer.process_id}!abc", message),
                "plain": lambda: layer.send("plain", message),
                "group_send": lambda: layer.group_send("room", message),
            }
            with pytest.raises(MessageTooLarge, match=r"max_message_size"):
                await calls[op]()
            assert commands_run(stats) == before
        finally:
            await layer.close()

    asyncio.run(body())


@pytest.mark.parametrize("cls", [RedisChannelLayer, RedisPubSubChannelLayer])
@pytest.mark.parametrize(
    "message",
    [{"type": "m", (1, 2): "x"}, {"type": "m", "nested": {(1,): 1}}],
    ids=["top", "nested"],
)
async def test_a_tuple_key_is_refused_or_delivered(
    redis_server: RedisServer, cls: type[RedisChannelLayer], message: dict[Any, Any]
) -> None:
    layer = cls(hosts=[redis_server.url], prefix=f"fuzz-{uuid.uuid4().hex[:8]}")
    try:
        channel = await layer.new_channel()
        try:
            await layer.send(channel, message)
        except TypeError:
            return  # refused clearly: fine
        got = await asyncio.wait_for(layer.receive(channel), 2)
        assert same(message, got)
    finally:
        await layer.close()
