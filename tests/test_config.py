"""The layer built from the environment the Helm chart sets, against real redis-servers."""

from __future__ import annotations

import asyncio

import pytest

from fast_channels.config import layer_from_env
from fast_channels.layers import InMemoryChannelLayer
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
