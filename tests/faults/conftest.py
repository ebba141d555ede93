from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.redis_server import RedisServer
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
async def proxy(own_redis_server: RedisServer) -> AsyncIterator[TcpProxy]:
    """A pausable TCP proxy in front of a redis-server of this test's own."""
    tcp_proxy = TcpProxy(own_redis_server.port)
    await tcp_proxy.start()
    yield tcp_proxy
    await tcp_proxy.close()
