from fast_channels.layers.redis.core import RedisChannelLayer

__all__ = ["RedisChannelLayer"]
