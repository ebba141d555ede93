from __future__ import annotations

from tests.layers.redis.conftest import make_redis

__all__ = ["make_redis"]
