"""Several Redis hosts: channels and groups sharded by consistent_hash, one script per shard."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from fast_channels.layers.history import Position
from fast_channels.layers.redis import RedisChannelLayer
from tests.layers.redis.conftest import command_calls, raw_client
from tests.support.redis_server import RedisServer


@pytest.fixture
def two_servers() -> Iterator[list[RedisServer]]:
    servers = [RedisServer(), RedisServer()]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.cleanup()


async def test_keys_land_on_every_shard_and_group_send_is_one_script_per_shard(
    two_servers: list[RedisServer],
) -> None:
    hosts = [server.url for server in two_servers]
    layers = [RedisChannelLayer(hosts=hosts, prefix="shard") for _ in range(12)]
    try:
        channels = [await layer.new_channel() for layer in layers]
        for channel, layer in zip(channels, layers, strict=True):
            await layer.group_add("room", channel)
        for index in range(20):
            await layers[0].send(f"plain{index}", {"type": "m"})
        await layers[0].group_send("room", {"type": "warm"})  # loads the script on both
        # Nobody receives yet, so no receive loop runs a script of its own.
        before = [command_calls(server, "evalsha") for server in two_servers]
        await layers[0].group_send("room", {"type": "m"})
        after = [command_calls(server, "evalsha") for server in two_servers]
        assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1]
        for channel, layer in zip(channels, layers, strict=True):
            assert (await asyncio.wait_for(layer.receive(channel), 3))["type"] == "warm"
            assert (await asyncio.wait_for(layer.receive(channel), 3))["type"] == "m"
        for server in two_servers:
            client = raw_client(server)
            assert client.keys("shard:g:*") == [b"shard:g:room"]
            assert len(client.keys("shard:ch:*")) > 0
            client.close()
        await layers[0].flush()
        for server in two_servers:
            client = raw_client(server)
            assert client.keys("shard:*") == []
            client.close()
    finally:
        for layer in layers:
            await layer.close()


async def test_a_history_group_has_one_position_across_shards(
    two_servers: list[RedisServer],
) -> None:
    """The group's shard appends (and delivers to its members); the other shards deliver the
    same position, told it: every member, on either shard, sees one offset per group_send."""
    hosts = [server.url for server in two_servers]
    options = {"hosts": hosts, "prefix": "hshard", "group_history": {"room": (10, 60)}}
    layers = [RedisChannelLayer(**options) for _ in range(12)]
    try:
        channels = [await layer.new_channel() for layer in layers]
        for channel, layer in zip(channels, layers, strict=True):
            await layer.group_add("room", channel)
        shards = {layer.shards.index(layer.process_id) for layer in layers}
        assert shards == {0, 1}  # members on both shards
        for n in range(1, 4):
            await layers[n].group_send("room", {"type": "m", "n": n})
        epoch = (await layers[0].read_history("room", None)).position.epoch
        for channel, layer in zip(channels, layers, strict=True):
            got = [await asyncio.wait_for(layer.receive(channel), 3) for _ in range(3)]
            assert [m["__position__"] for m in got] == [
                {"group": "room", "epoch": epoch, "offset": n} for n in range(1, 4)
            ]
        read = await layers[5].read_history("room", Position(epoch, 1))
        assert read.complete
        assert [m["n"] for m in read.messages] == [2, 3]
        home = layers[0].shards.index("room")
        for index, server in enumerate(two_servers):
            client = raw_client(server)
            assert client.exists("hshard:h:room", "hshard:hm:room") == (2 if index == home else 0)
            client.close()
    finally:
        await layers[0].flush()
        for layer in layers:
            await layer.close()
