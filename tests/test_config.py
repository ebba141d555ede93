"""The layer built from the environment the Helm chart sets, against real redis-servers."""

from __future__ import annotations

import asyncio

import pytest

from fast_channels.config import layer_from_env, parse_group_history
from fast_channels.layers import InMemoryChannelLayer
from fast_channels.layers.history import HistoryPolicy, Position
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from tests.support.redis_server import RedisServer


def test_nothing_set_means_in_memory() -> None:
    assert isinstance(layer_from_env({}), InMemoryChannelLayer)


async def test_a_url_means_the_queue_layer_that_really_talks_to_it(
    redis_server: RedisServer,
) -> None:
    layer = layer_from_env(
        {"FAST_CHANNELS_REDIS_URL": redis_server.url, "FAST_CHANNELS_REDIS_PREFIX": "cfg"}
    )
    assert isinstance(layer, RedisChannelLayer)
    assert layer.prefix == "cfg"
    try:
        await layer.ping()
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "hello"})
        assert (await asyncio.wait_for(layer.receive(channel), 3))["type"] == "hello"
    finally:
        await layer.flush()
        await layer.close()


async def test_pubsub_is_chosen_by_name(redis_server: RedisServer) -> None:
    layer = layer_from_env(
        {"FAST_CHANNELS_REDIS_URL": redis_server.url, "FAST_CHANNELS_LAYER": "redis_pubsub"}
    )
    assert isinstance(layer, RedisPubSubChannelLayer)
    await layer.close()


async def test_the_password_comes_from_its_own_variable(own_redis_server: RedisServer) -> None:
    own_redis_server.stop()
    own_redis_server.extra_args = ["--requirepass", "s3cret"]
    own_redis_server.start()
    env = {"FAST_CHANNELS_REDIS_URL": own_redis_server.url}
    without = layer_from_env(env)
    with pytest.raises(Exception, match=r"(?i)auth"):
        await without.ping()
    await without.close()
    layer = layer_from_env({**env, "FAST_CHANNELS_REDIS_PASSWORD": "s3cret"})
    try:
        await layer.ping()
    finally:
        await layer.close()


def test_sentinel_variables_make_a_sentinel_host() -> None:
    layer = layer_from_env(
        {
            "FAST_CHANNELS_REDIS_SENTINELS": "s0:26379, s1:26379",
            "FAST_CHANNELS_REDIS_MASTER_NAME": "mymaster",
            "FAST_CHANNELS_REDIS_PASSWORD": "pw",
        }
    )
    assert isinstance(layer, RedisChannelLayer)
    (host,) = layer.hosts
    assert host["sentinels"] == [("s0", 26379), ("s1", 26379)]
    assert host["master_name"] == "mymaster"
    assert host["password"] == "pw"


def test_the_cluster_flag_makes_a_cluster_host() -> None:
    env = {"FAST_CHANNELS_REDIS_URL": "redis://n0:6379", "FAST_CHANNELS_REDIS_CLUSTER": "true"}
    for kind in ("redis", "redis_pubsub"):
        layer = layer_from_env(
            {**env, "FAST_CHANNELS_LAYER": kind, "FAST_CHANNELS_REDIS_PASSWORD": "pw"}
        )
        assert type(layer).__name__.startswith("RedisCluster")
        assert layer.hosts == [{"address": "redis://n0:6379", "password": "pw", "cluster": True}]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAST_CHANNELS_LAYER": "kafka"}, "must be one of memory, redis, redis_pubsub"),
        ({"FAST_CHANNELS_LAYER": "redis"}, "needs FAST_CHANNELS_REDIS_URL"),
        ({"FAST_CHANNELS_REDIS_SENTINELS": "s0:26379"}, "FAST_CHANNELS_REDIS_MASTER_NAME"),
        (
            {
                "FAST_CHANNELS_REDIS_SENTINELS": "s0:26379",
                "FAST_CHANNELS_REDIS_MASTER_NAME": "m",
                "FAST_CHANNELS_REDIS_CLUSTER": "true",
            },
            "CLUSTER=true needs FAST_CHANNELS_REDIS_URL",
        ),
    ],
)
def test_bad_settings_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        layer_from_env(env)


# -- FAST_CHANNELS_GROUP_HISTORY ---------------------------------------------------------------


def test_group_history_entries_parse_to_policies() -> None:
    assert parse_group_history(" chat.*=100:600, orders.*=50:0.5 ") == {
        "chat.*": HistoryPolicy(100, 600.0),
        "orders.*": HistoryPolicy(50, 0.5),
    }
    assert parse_group_history("none") == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("chat.*", "bad entry 'chat.\\*'"),
        ("chat.*=100", "bad entry"),
        ("chat.*=0:600", "bad entry"),
        ("chat.*=100:0", "bad entry"),
        ("chat.*=ten:600", "bad entry"),
        ("chat.*=100:inf", "bad entry"),
        ("=100:600", "bad entry"),
        ("chat.*=100:600,", "bad entry ''"),
        ("a=1:1,a=2:2", "pattern 'a' given twice"),
    ],
)
def test_a_bad_group_history_names_the_variable_the_entry_and_the_format(
    value: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        layer_from_env({"FAST_CHANNELS_GROUP_HISTORY": value})
    assert "FAST_CHANNELS_GROUP_HISTORY" in str(raised.value)


async def test_the_variable_gives_the_in_memory_layer_its_history() -> None:
    layer = layer_from_env({"FAST_CHANNELS_GROUP_HISTORY": "room.*=2:60"})
    assert layer.history_policy("room.a") == HistoryPolicy(2, 60.0)
    assert layer.history_policy("other") is None
    channel = await layer.new_channel()
    await layer.group_add("room.a", channel)
    for number in range(3):
        await layer.group_send("room.a", {"type": "m", "n": number})
    # Another epoch: incomplete, but what is kept comes back; size 2, so the oldest is gone.
    read = await layer.read_history("room.a", Position("another-epoch", 0))
    assert (read.complete, [m["n"] for m in read.messages]) == (False, [1, 2])
    assert read.position.offset == 3


def test_the_variable_replaces_or_turns_off_the_apps_default() -> None:
    default = {"chat.*": HistoryPolicy(100, 600.0)}
    assert layer_from_env({}, group_history=default).history_policy("chat.x") == default["chat.*"]
    changed = layer_from_env({"FAST_CHANNELS_GROUP_HISTORY": "chat.*=5:10"}, group_history=default)
    assert changed.history_policy("chat.x") == HistoryPolicy(5, 10.0)
    off = layer_from_env({"FAST_CHANNELS_GROUP_HISTORY": "none"}, group_history=default)
    assert off.history_policy("chat.x") is None


async def test_the_variable_gives_the_redis_layers_their_history(redis_server: RedisServer) -> None:
    for kind in ("redis", "redis_pubsub"):
        env = {
            "FAST_CHANNELS_REDIS_URL": redis_server.url,
            "FAST_CHANNELS_LAYER": kind,
            "FAST_CHANNELS_REDIS_PREFIX": f"cfg-history-{kind}",
            "FAST_CHANNELS_GROUP_HISTORY": "room.*=10:60",
        }
        layer = layer_from_env(env)
        try:
            channel = await layer.new_channel()
            await layer.group_add("room.r", channel)
            await layer.group_send("room.r", {"type": "m", "n": 1})
            read = await layer.read_history("room.r", None)
            assert (read.complete, read.position.offset) == (True, 1)
            assert read.position.epoch
        finally:
            await layer.flush()
            await layer.close()
