"""A stalled Redis (a proxy that stops forwarding): calls time out, /readyz says so, and traffic
resumes once Redis answers again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from redis.exceptions import RedisError
from starlette.applications import Starlette

from fast_channels.layers import channel_layers, register_channel_layer
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from fast_channels.layers.redis.common import RedisLayerBase
from fast_channels.service import add_observability_endpoints
from tests.support.tcp_proxy import TcpProxy

SOCKET_TIMEOUT = 0.5
# A call may need the socket timeout twice (redis-py retries once on a fresh connection after a
# ConnectionError) plus the connect timeout; anything beyond this bound is a hang.
BOUND = 2 * SOCKET_TIMEOUT + 0.5 + 0.5

LayerClass = type[RedisLayerBase]
LAYERS = [
    pytest.param(RedisChannelLayer, id="queue"),
    pytest.param(RedisPubSubChannelLayer, id="pubsub"),
]


def make_layer(cls: LayerClass, proxy: TcpProxy) -> Any:
    layer = cls(
        hosts=[proxy.url],
        prefix=f"stall-{uuid.uuid4().hex[:8]}",
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=0.5,
    )
    layer.bind_alias(f"stall-{uuid.uuid4().hex[:8]}")
    return layer


async def timed(call: Awaitable[Any]) -> tuple[Exception | None, float]:
    """What the call raised (None if it returned) and how long it took; never waits > 10 s."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(call, 10)
    except Exception as exc:  # the test inspects it
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


async def receive_all(layer: Any, channel: str, count: int, seconds: float) -> list[int]:
    got: list[int] = []
    async with asyncio.timeout(seconds):
        while len(got) < count:
            got.append((await layer.receive(channel))["n"])
    return got


def calls(layer: Any, channel: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    return {
        "send": lambda: layer.send(channel, {"type": "m", "n": -1}),
        "send_plain": lambda: layer.send("plain.stalled", {"type": "m"}),
        "group_send": lambda: layer.group_send("room", {"type": "m", "n": -1}),
        "group_add": lambda: layer.group_add("other-room", channel),
        "ping": layer.ping,
    }


CASES = [
    pytest.param(cls, name, id=f"{layer_id}-{name}")
    for cls, layer_id in ((RedisChannelLayer, "queue"), (RedisPubSubChannelLayer, "pubsub"))
    for name in ("send", "send_plain", "group_send", "group_add", "ping")
]


@pytest.mark.parametrize(("cls", "name"), CASES)
@pytest.mark.timeout(30)
async def test_a_call_raises_a_redis_error_within_the_timeout_while_redis_is_stalled(
    cls: LayerClass, name: str, proxy: TcpProxy
) -> None:
    layer = make_layer(cls, proxy)
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        await layer.send(channel, {"type": "m", "n": 0})
        assert await receive_all(layer, channel, 1, 5) == [0]
        proxy.pause()
        error, took = await timed(calls(layer, channel)[name]())
        assert took < BOUND, f"{name} took {took:.2f}s (bound {BOUND}s)"
        assert error is not None, f"{name} returned although Redis was stalled"
        assert isinstance(error, RedisError), f"{name} raised {error!r}, not a RedisError"
    finally:
        proxy.resume()
        await layer.close()


async def readyz(client: httpx.AsyncClient) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    response = await client.get("/readyz")
    return response.status_code, response.json(), time.monotonic() - started


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.timeout(60)
async def test_readyz_names_the_stalled_layer_and_traffic_resumes(
    cls: LayerClass, proxy: TcpProxy
) -> None:
    layer = make_layer(cls, proxy)
    alias = layer.alias
    register_channel_layer(alias, layer)
    app = Starlette()
    add_observability_endpoints(app, timeout=1.0)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            channel = await layer.new_channel()
            await layer.group_add("room", channel)
            status, body, _ = await readyz(client)
            assert alias not in body.get("failing", {}), body

            proxy.pause()
            status, body, took = await readyz(client)
            assert status == 503
            assert body["status"] == "unavailable"
            assert alias in body["failing"], body
            assert took < 1.0 + 0.5, f"/readyz took {took:.2f}s with a stalled Redis"
            with pytest.raises(RedisError):  # a send during the stall fails, in bounded time
                await asyncio.wait_for(layer.group_send("room", {"type": "m", "n": -1}), 5)

            proxy.resume()
            resumed = time.monotonic()
            status, body, _ = await readyz(client)
            assert alias not in body.get("failing", {}), body
            for index in range(50):
                await layer.send(channel, {"type": "m", "n": index})
                await layer.group_send("room", {"type": "m", "n": 100 + index})
            got = await receive_all(layer, channel, 100, 10)
            # A call that timed out may still be applied once the proxy forwards its bytes, so
            # the -1 sent during the stall may arrive (once); everything after resume arrives.
            if got.count(-1):
                got += await receive_all(layer, channel, got.count(-1), 10)
            assert got.count(-1) <= 1
            assert [n for n in got if 0 <= n < 100] == list(range(50))
            assert [n for n in got if n >= 100] == list(range(100, 150))
            print(f"\n{cls.__name__}: traffic back {time.monotonic() - resumed:.3f}s after resume")
    finally:
        proxy.resume()
        channel_layers.unregister(alias)
        await layer.close()
