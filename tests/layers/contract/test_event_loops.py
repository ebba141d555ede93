"""A layer serves more than one event loop, as fast-channels 1.x code expects.

Such code drives a layer from synchronous code through asgiref's `async_to_sync`, which (outside
asgiref's own thread hand-off) runs each call on a new event loop in a thread of its own: one
loop after another when the whole program is synchronous, or beside the app's own loop when a
sync endpoint runs in a worker thread. The first two tests are synchronous on purpose: each runs
several loops one after another and closes its layer on the last one.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis
from asgiref.sync import async_to_sync

from fast_channels.layers import BaseChannelLayer
from fast_channels.layers.redis import RedisChannelLayer, RedisPubSubChannelLayer
from tests.layers.conftest import LAYER_KINDS, LayerKind, LayerMaker
from tests.support.redis_server import RedisServer

T = TypeVar("T")
OnFreshLoops = Callable[[Callable[[BaseChannelLayer], Awaitable[Any]]], Any]


@pytest.fixture(params=LAYER_KINDS, ids=lambda kind: kind.name)
def on_fresh_loops(request: pytest.FixtureRequest) -> Iterator[OnFreshLoops]:
    """run(step): runs `step(layer)` through async_to_sync, so on an event loop of its own,
    with the same layer every time; flushed and closed afterwards, on one more loop."""
    kind: LayerKind = request.param
    layers: list[BaseChannelLayer] = []

    def run(step: Callable[[BaseChannelLayer], Awaitable[T]]) -> T:
        async def body() -> T:
            if not layers:
                layers.append(await kind.factory(request, {}))
            return await step(layers[0])

        return async_to_sync(body)()

    yield run

    async def close(layer: BaseChannelLayer) -> None:
        await layer.flush()
        await layer.close()

    if layers:
        run(close)


def test_every_call_on_a_loop_of_its_own_still_delivers(on_fresh_loops: OnFreshLoops) -> None:
    group = f"loops-{uuid.uuid4().hex[:8]}"

    async def round_trip(layer: BaseChannelLayer) -> dict[str, Any]:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        await layer.group_send(group, {"type": "hello"})
        return await asyncio.wait_for(layer.receive(channel), 5)

    for _ in range(3):
        assert on_fresh_loops(round_trip) == {"type": "hello"}


def test_a_channel_made_on_one_loop_receives_on_the_next(on_fresh_loops: OnFreshLoops) -> None:
    # The second loop only receives and sends: nothing there subscribes anew, so the layer
    # itself must start reading again. A pub/sub layer loses what it publishes before its
    # subscriptions are back (at most once), hence the repeated sends.
    group = f"loops-{uuid.uuid4().hex[:8]}"

    async def join(layer: BaseChannelLayer) -> str:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        return channel

    channel = on_fresh_loops(join)

    async def receive(layer: BaseChannelLayer) -> dict[str, Any]:
        receiver = asyncio.create_task(layer.receive(channel))
        async with asyncio.timeout(5):
            while not receiver.done():
                await layer.group_send(group, {"type": "again"})
                await asyncio.wait([receiver], timeout=0.05)
        return receiver.result()

    assert on_fresh_loops(receive) == {"type": "again"}


async def test_sync_code_in_a_thread_sends_while_the_app_loop_sends_and_receives(
    make_layer: LayerMaker,
) -> None:
    # A sync endpoint in a worker thread: async_to_sync(layer.group_send) runs on a new loop
    # in yet another thread, while the app's loop goes on using the same layer.
    if make_layer.kind.name == "inmemory":
        pytest.skip("the in-memory layer's buffers belong to one event loop and one thread")
    layer = await make_layer()
    group = f"threads-{uuid.uuid4().hex[:8]}"
    channel = await layer.new_channel()
    await layer.group_add(group, channel)

    def sync_endpoint() -> None:
        for n in range(20):
            async_to_sync(layer.group_send)(group, {"type": "sync", "n": n})

    from_thread = asyncio.get_running_loop().run_in_executor(None, sync_endpoint)
    for n in range(20):
        await layer.send(channel, {"type": "app", "n": n})
        await asyncio.sleep(0.002)
    await asyncio.wait_for(from_thread, 20)
    received = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(40)]
    for source in ("sync", "app"):
        assert [m["n"] for m in received if m["type"] == source] == list(range(20))


@pytest.mark.parametrize("layer_class", [RedisChannelLayer, RedisPubSubChannelLayer])
def test_the_connections_of_finished_loops_are_let_go(
    own_redis_server: RedisServer, layer_class: type[BaseChannelLayer]
) -> None:
    # Every async_to_sync call is a new loop with connections of its own: they must not pile
    # up, neither in the layer nor at Redis.
    layer = layer_class(hosts=[own_redis_server.url])  # type: ignore[call-arg]
    admin = redis.Redis.from_url(own_redis_server.url)

    def connected() -> int:
        gc.collect()  # the sockets of dropped clients close when they are collected
        return int(admin.info("clients")["connected_clients"])

    try:
        before = connected()
        for n in range(30):
            async_to_sync(layer.send)("loops", {"type": "n", "n": n})
        assert connected() - before <= 2
    finally:
        async_to_sync(layer.close)()
        admin.close()
