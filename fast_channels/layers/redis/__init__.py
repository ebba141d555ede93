from fast_channels.layers.redis.core import RedisChannelLayer
from fast_channels.layers.redis.memberships import GroupsRestoring
from fast_channels.layers.redis.pubsub import RedisPubSubChannelLayer

__all__ = ["GroupsRestoring", "RedisChannelLayer", "RedisPubSubChannelLayer"]
