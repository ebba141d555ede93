"""The types a Redis Cluster gets: `RedisChannelLayer(...)` and `RedisPubSubChannelLayer(...)`
with cluster hosts (`{"cluster": True, "address": url}` or `redis+cluster://`) return these.

They have no behaviour of their own. A layer composes what differs on a Cluster, picked from
its shards when it is built: the queue layer a key scheme (keys.py: hash-tagged, so each
script touches one slot) and a group_send strategy (groupsend.py: the group's members, then
one delivery per member process, pipelined); the pub/sub layer its subscriptions (sharded.py:
SSUBSCRIBE per node, SPUBLISH, re-homing when a slot moves). So the same layer class would
work on a Cluster by itself.

Why these classes remain: fast-channels 1.x code and our tests ask `type(layer)` and
`RedisChannelLayer.cluster_variant` for them, and `isinstance(layer, RedisClusterChannelLayer)`
is how an application tells a Cluster deployment apart. The mechanism that returns them
(`cluster_variant_of=` here, RedisLayerBase.__new__ in common.py) is what is left of the
variant selection: the variant names its base, never the base its variant, so no layer module
imports this one.
"""

from __future__ import annotations

from fast_channels.layers.redis.core import RedisChannelLayer
from fast_channels.layers.redis.pubsub import RedisPubSubChannelLayer
from fast_channels.layers.redis.sharded import NodeSubscriber, NodeSubscriptions

__all__ = ["RedisClusterChannelLayer", "RedisClusterPubSubChannelLayer"]


class RedisClusterChannelLayer(RedisChannelLayer, cluster_variant_of=RedisChannelLayer):
    """RedisChannelLayer on a Redis Cluster (hash-tagged keys, pipelined group_send)."""


class RedisClusterPubSubChannelLayer(
    RedisPubSubChannelLayer, cluster_variant_of=RedisPubSubChannelLayer
):
    """RedisPubSubChannelLayer on a Redis Cluster (sharded pub/sub)."""

    subscriptions: NodeSubscriptions

    @property
    def _placement(self) -> dict[bytes, NodeSubscriber]:
        # Which node serves each subscribed name (tests/layers/redis/test_cluster.py reads it).
        return self.subscriptions.placement
