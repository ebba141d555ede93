"""The cluster variants of the two Redis layers: declared by the variant (no import from the
layer's base to its subclasses), always declared whatever module a caller imported first, and
built only for the class they name. No Redis needed: constructing a layer connects nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.layers.redis.cluster import (
    RedisClusterChannelLayer,
    RedisClusterPubSubChannelLayer,
)

CLUSTER = ["redis+cluster://127.0.0.1:7000"]


def test_each_layer_names_the_variant_that_declared_itself() -> None:
    assert RedisChannelLayer.cluster_variant is RedisClusterChannelLayer
    assert RedisPubSubChannelLayer.cluster_variant is RedisClusterPubSubChannelLayer


def test_a_subclass_of_yours_is_built_as_itself_for_cluster_hosts() -> None:
    class Mine(RedisChannelLayer):
        pass

    assert type(Mine(hosts=CLUSTER)) is Mine
    assert type(RedisClusterChannelLayer(hosts=CLUSTER)) is RedisClusterChannelLayer


def test_a_second_cluster_variant_is_refused_naming_both() -> None:
    with pytest.raises(TypeError, match=r"RedisClusterChannelLayer.*Other"):

        class Other(RedisChannelLayer, cluster_variant_of=RedisChannelLayer):
            pass


@pytest.mark.parametrize(
    ("module", "name", "variant"),
    [
        ("core", "RedisChannelLayer", "RedisClusterChannelLayer"),
        ("pubsub", "RedisPubSubChannelLayer", "RedisClusterPubSubChannelLayer"),
    ],
)
def test_importing_one_layer_module_first_still_builds_the_variant(
    module: str, name: str, variant: str
) -> None:
    # A fresh interpreter that imports the layer's own module, never cluster.py by name.
    code = (
        f"from fast_channels.layers.redis.{module} import {name}\n"
        f"print(type({name}(hosts={CLUSTER!r})).__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == variant
