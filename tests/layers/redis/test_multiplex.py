"""The shared hot-path connection (multiplex.py), against real Redis servers and a real proxy."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import NamedTuple

import hiredis
import pytest
from redis import asyncio as aioredis
from redis._parsers import BaseParser
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    MovedError,
    NoScriptError,
    RedisError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

from fast_channels.layers.redis import RedisChannelLayer
from fast_channels.layers.redis.multiplex import LargeCommand, MultiplexedConnection
from tests.support.redis_server import RedisServer
from tests.support.tcp_proxy import TcpProxy


class Setup(NamedTuple):
    client: aioredis.Redis
    connection: MultiplexedConnection
    key: str


@pytest.fixture
async def mux(redis_server: RedisServer) -> AsyncIterator[Setup]:
    """A redis-py client, a multiplexed connection over its pool, and a key to use."""
    client = aioredis.Redis.from_url(redis_server.url)
    connection = MultiplexedConnection(client)
    key = f"mux-{uuid.uuid4().hex}"
    yield Setup(client, connection, key)
    await connection.aclose()
    await client.delete(key)
    await client.aclose()


async def _clients_named(url: str, name: str) -> int:
    admin = aioredis.Redis.from_url(url)
    try:
        clients = await admin.client_list()
    finally:
        await admin.aclose()
    return sum(1 for entry in clients if entry.get("name") == name)


async def test_concurrent_callers_get_their_own_replies_over_one_connection(
    redis_server: RedisServer,
) -> None:
    name = f"mux-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(redis_server.url, client_name=name)
    connection = MultiplexedConnection(client)
    key = f"mux-{uuid.uuid4().hex}"
    try:
        results = await asyncio.gather(
            *(connection.execute_command("RPUSH", key, str(n)) for n in range(2000))
        )
        # One connection (opened by redis-py: it carries the configured client name), no pool use.
        assert await _clients_named(redis_server.url, name) == 1
        assert len(client.connection_pool._in_use_connections) == 0
        # Every caller got the list length right after its own push: replies matched in order.
        assert sorted(results) == list(range(1, 2001))
        assert await client.llen(key) == 2000
    finally:
        await connection.aclose()
        await client.delete(key)
        await client.aclose()


async def test_several_commands_of_one_call_come_back_together_in_order(mux: Setup) -> None:
    replies = await mux.connection.execute_commands(
        [
            ("SET", mux.key, b"\x00\xffbinary"),
            ("GET", mux.key),
            ("STRLEN", mux.key),
            ("GET", mux.key + "x"),
        ]
    )
    assert replies == [b"OK", b"\x00\xffbinary", 8, None]


async def test_error_replies_reach_only_their_caller_with_redis_py_classes(mux: Setup) -> None:
    connection = mux.connection
    await mux.client.set(mux.key, "not a list")
    calls = [
        connection.execute_command("PING"),
        connection.execute_command("RPUSH", mux.key, "x"),
        connection.evalsha("0" * 40, 0),
        connection.execute_command("PING"),
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [results[0], results[3]] == [b"PONG", b"PONG"]
    assert type(results[1]) is ResponseError
    assert "WRONGTYPE" in str(results[1])
    assert isinstance(results[2], NoScriptError)  # Scripts._call reloads on exactly this
    # raise_on_error=False: the error takes its reply's place, the rest still count.
    replies = await connection.execute_commands(
        [("INCR", mux.key), ("PING",)], raise_on_error=False
    )
    assert isinstance(replies[0], ResponseError)
    assert replies[1] == b"PONG"
    sha = await connection.script_load(b"return 41 + 1")
    assert isinstance(sha, str)
    assert await connection.evalsha(sha, 0) == 42


async def test_cancelled_callers_never_shift_the_others_replies(mux: Setup) -> None:
    rng = random.Random(11)
    for round_ in range(20):
        values = [f"{round_}-{n}" for n in range(30)]
        tasks = [
            asyncio.create_task(mux.connection.execute_command("ECHO", value)) for value in values
        ]
        await asyncio.sleep(0)
        for task in rng.sample(tasks, 10):
            task.cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        for value, result in zip(values, done, strict=True):
            assert isinstance(result, asyncio.CancelledError) or result == value.encode()


async def test_a_stalled_redis_fails_commands_within_the_timeout_then_recovers(
    redis_server: RedisServer,
) -> None:
    proxy = TcpProxy(redis_server.port)
    await proxy.start()
    client = aioredis.Redis.from_url(proxy.url, socket_timeout=0.3)
    connection = MultiplexedConnection(client)
    try:
        assert await connection.execute_command("PING") == b"PONG"
        proxy.pause()
        started = time.monotonic()
        results = await asyncio.gather(
            *(connection.execute_command("PING") for _ in range(5)), return_exceptions=True
        )
        waited = time.monotonic() - started
        assert all(isinstance(result, TimeoutError) for result in results), results
        assert waited < 0.3 * 3  # every command fails within about the timeout
        proxy.resume()
        # The stalled connection was dropped (its late replies cannot be matched): a new one.
        assert await connection.execute_command("ECHO", "again") == b"again"
    finally:
        proxy.resume()
        await connection.aclose()
        await client.aclose()
        await proxy.close()


async def test_a_restarted_redis_costs_in_flight_commands_only(
    own_redis_server: RedisServer,
) -> None:
    client = aioredis.Redis.from_url(own_redis_server.url, socket_timeout=2)
    connection = MultiplexedConnection(client)
    try:
        assert await connection.execute_command("PING") == b"PONG"
        blocked = asyncio.create_task(connection.execute_command("BLPOP", "nothing", 5))
        await asyncio.sleep(0.1)
        own_redis_server.stop()
        with pytest.raises(ConnectionError):
            await blocked
        own_redis_server.start()
        # The next command reconnects by itself (the pool's Retry allows one retry).
        assert await connection.execute_command("PING") == b"PONG"
    finally:
        await connection.aclose()
        await client.aclose()


async def test_a_closed_connection_refuses_commands(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    connection = MultiplexedConnection(client, retry=False)
    await connection.execute_command("PING")
    await connection.aclose()
    with pytest.raises(ConnectionError, match="closed"):
        await connection.execute_command("PING")
    await client.aclose()


async def test_unencodable_arguments_raise_before_anything_is_sent(mux: Setup) -> None:
    with pytest.raises(Exception, match="encode"):
        await mux.connection.execute_command("SET", "k", object())
    assert await mux.connection.execute_command("PING") == b"PONG"  # nothing half-written


async def test_a_layer_sends_through_one_connection_whatever_the_concurrency(
    redis_server: RedisServer,
) -> None:
    name = f"mux-layer-{uuid.uuid4().hex[:8]}"
    layer = RedisChannelLayer(
        hosts=[{"address": redis_server.url, "client_name": name}],
        prefix=f"mux{uuid.uuid4().hex[:6]}",
        capacity=10_000,
    )
    try:
        channel = await layer.new_channel()
        await asyncio.gather(*(layer.send(channel, {"type": "m", "n": n}) for n in range(500)))
        received = [(await layer.receive(channel))["n"] for _ in range(500)]
        assert sorted(received) == list(range(500))
        # One connection for every send, one for the process receive loop.
        assert await _clients_named(redis_server.url, name) == 2
    finally:
        await layer.flush()
        await layer.close()


@pytest.mark.parametrize(
    ("reply", "cls"),
    [
        ("TRYAGAIN Multiple keys request during rehashing of slot", TryAgainError),
        ("MOVED 1 127.0.0.1:1", MovedError),
        ("CLUSTERDOWN The cluster is down", ClusterDownError),
        ("NOSCRIPT No matching script", NoScriptError),
    ],
)
async def test_error_replies_map_as_redis_py_maps_them(
    mux: Setup, reply: str, cls: type[Exception]
) -> None:
    # A real Redis sends the error reply (a script returning it), over the multiplexed connection.
    script = "return redis.error_reply(ARGV[1])"
    got = await mux.connection.execute_commands([("EVAL", script, 0, reply)], raise_on_error=False)
    assert type(got[0]) is cls
    assert str(got[0]) == str(BaseParser.parse_error(reply))
    with pytest.raises(cls):
        await mux.client.eval(script, 0, reply)  # redis-py's own client: the same class


async def test_large_commands_are_packed_as_hiredis_packs_them(mux: Setup) -> None:
    value = bytes(random.randrange(256) for _ in range(1000)) * 300  # 300 KB, any byte
    commands = [
        ("SET", mux.key, b"x", "EX", 60),
        ("EVAL", "return ARGV[1]", 0, 1.5, -3, "é"),
        ("SET", mux.key, value),
    ]
    for command in commands:
        assert LargeCommand(command).pack() == hiredis.pack_command(command)
    replies = await mux.connection.execute_commands(
        [LargeCommand(commands[2]), ("GET", mux.key), LargeCommand(("STRLEN", mux.key))]
    )
    assert replies == [b"OK", value, len(value)]
    with pytest.raises(RedisError, match="encode"):
        await mux.connection.execute_commands([LargeCommand(("SET", mux.key, object()))])
    assert await mux.connection.execute_command("PING") == b"PONG"  # nothing half-written
