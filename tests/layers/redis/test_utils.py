from __future__ import annotations

import binascii

import pytest
from redis.asyncio.connection import SSLConnection
from redis.asyncio.sentinel import SentinelConnectionPool

from fast_channels.layers.redis.connection import create_pool
from fast_channels.layers.redis.utils import consistent_hash, decode_hosts


def test_consistent_hash_matches_the_channels_redis_ring() -> None:
    for value in ("a", "group-1", "specific.abc!def", "zzz"):
        slot = binascii.crc32(value.encode()) & 0xFFF
        assert consistent_hash(value, 3) == int(slot / (4096 / 3))
        assert consistent_hash(value.encode(), 3) == consistent_hash(value, 3)
    assert consistent_hash("anything", 1) == 0
    assert {consistent_hash(f"name{index}", 4) for index in range(200)} == {0, 1, 2, 3}


def test_decode_hosts_accepts_urls_pairs_and_dicts() -> None:
    assert decode_hosts(None) == [{"address": "redis://localhost:6379"}]
    assert decode_hosts(["redis://u:p@h:1/2", ("h2", "6380"), {"host": "h3", "port": 7}]) == [
        {"address": "redis://u:p@h:1/2"},
        {"host": "h2", "port": 6380},
        {"host": "h3", "port": 7},
    ]


def test_decode_hosts_refuses_a_bare_string_and_odd_entries() -> None:
    with pytest.raises(ValueError, match="list of Redis hosts"):
        decode_hosts("redis://localhost")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="42"):
        decode_hosts([42])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "host", ["foo://x", "localhost:6379", "http://redis:6379", {"address": "tcp://redis:6379"}]
)
def test_decode_hosts_refuses_a_url_redis_cannot_open(host: object) -> None:
    # Refused when the layer is built, not at its first command.
    with pytest.raises(ValueError, match=r"starts with redis://, rediss://, unix://"):
        decode_hosts([host])  # type: ignore[list-item]


def test_decode_hosts_parses_a_sentinel_dict() -> None:
    (host,) = decode_hosts(
        [
            {
                "sentinels": ["s1:26379", ("s2", 26380)],
                "master_name": "mymaster",
                "sentinel_kwargs": {"password": "sentinel-pw"},
                "password": "redis-pw",
            }
        ]
    )
    assert host == {
        "sentinels": [("s1", 26379), ("s2", 26380)],
        "master_name": "mymaster",
        "sentinel_kwargs": {"password": "sentinel-pw"},
        "password": "redis-pw",
    }
    pool = create_pool(host, socket_timeout=1.0)
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "mymaster"
    with pytest.raises(ValueError, match="master_name"):
        decode_hosts([{"sentinels": ["s1:26379"]}])


def test_create_pool_understands_tls_and_acl_urls() -> None:
    pool = create_pool({"address": "rediss://alice:pw@example.com:6380/3"}, socket_timeout=1.5)
    assert pool.connection_class is SSLConnection
    kwargs = pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("alice", "pw", 3)
    assert kwargs["socket_timeout"] == 1.5


def test_a_host_dict_overrides_the_default_timeouts() -> None:
    pool = create_pool({"host": "h", "port": 1, "socket_timeout": 9}, socket_timeout=1.5)
    assert pool.connection_kwargs["socket_timeout"] == 9


def test_decode_hosts_parses_a_sentinel_url() -> None:
    (host,) = decode_hosts(["redis+sentinel://al%40ice:p%3Aw@s1:26379,s2:26380/mymaster/2"])
    assert host == {
        "sentinels": [("s1", 26379), ("s2", 26380)],
        "master_name": "mymaster",
        "db": 2,
        "username": "al@ice",
        "password": "p:w",
    }
    (tls,) = decode_hosts(["rediss+sentinel://s1:26379/mymaster"])
    assert tls == {"sentinels": [("s1", 26379)], "master_name": "mymaster", "ssl": True}
    assert isinstance(create_pool(tls), SentinelConnectionPool)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://s1:26379", "master_name"),
        ("redis+sentinel://s1:26379/m/x", "master_name"),
        ("redis+sentinel://s1/m", "host:port"),
        ("redis+sentinel://s1:1/m?db=2", "Query options"),
        ("redis+cluster://", "no host"),
    ],
)
def test_decode_hosts_refuses_malformed_multi_host_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_hosts([url])


def test_decode_hosts_parses_cluster_urls_and_dicts() -> None:
    (host,) = decode_hosts(["redis+cluster://u:pw@n1:7000,n2:7001"])
    assert host == {
        "startup_nodes": [("n1", 7000), ("n2", 7001)],
        "cluster": True,
        "username": "u",
        "password": "pw",
    }
    assert decode_hosts([{"cluster": True, "address": "redis://n1:7000"}]) == [
        {"cluster": True, "address": "redis://n1:7000"}
    ]
    with pytest.raises(ValueError, match="only host"):
        decode_hosts([{"cluster": True, "address": "redis://n1:7000"}, "redis://other"])
    with pytest.raises(ValueError, match="startup_nodes"):
        decode_hosts([{"cluster": True}])
    with pytest.raises(ValueError, match="create_cluster"):
        create_pool(host)


async def test_a_cluster_node_pool_keeps_credentials_tls_and_timeouts_only() -> None:
    from fast_channels.layers.redis.connection import Shards

    (host,) = decode_hosts(
        [{"cluster": True, "address": "rediss://u:pw@n1:7000", "read_from_replicas": True}]
    )
    shards = Shards([host], socket_timeout=1.5, socket_connect_timeout=0.5)
    pool = shards.node_pool("n2", 7001)
    kwargs = pool.connection_kwargs
    assert pool.connection_class is SSLConnection
    assert (kwargs["host"], kwargs["port"], kwargs["username"], kwargs["password"]) == (
        "n2",
        7001,
        "u",
        "pw",
    )
    assert kwargs["socket_timeout"] == 1.5
    assert "read_from_replicas" not in kwargs
    await pool.aclose()
