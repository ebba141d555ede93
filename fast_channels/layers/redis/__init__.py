# cluster: its classes declare themselves the cluster variants of the two layers, which
# RedisLayerBase.__new__ (common.py) builds for Redis Cluster hosts. Imported here because
# Python runs a package's __init__ before any of its modules: whoever imports a layer class,
# from wherever, has the variants declared.
from fast_channels.layers.redis import cluster  # noqa: F401
from fast_channels.layers.redis.core import RedisChannelLayer
from fast_channels.layers.redis.memberships import GroupsRestoring
from fast_channels.layers.redis.pubsub import RedisPubSubChannelLayer

__all__ = ["GroupsRestoring", "RedisChannelLayer", "RedisPubSubChannelLayer"]
