"""The Lua scripts ship as files: every one scripts.py loads is in the package and in the built
wheel, and the prelude's membership pruning forgets lapsed members with their capacities."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import uuid
import zipfile
from importlib import resources
from pathlib import Path

import pytest
from redis import asyncio as aioredis

from fast_channels.layers.redis import presence
from fast_channels.layers.redis.scripts import (
    HISTORY_PRELUDE,
    NAMES,
    PRELUDE,
    Scripts,
    lua_source,
)
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[3]
FILES = {
    f"{name}.lua" for name in (PRELUDE, HISTORY_PRELUDE, *NAMES, presence.PRELUDE, *presence.NAMES)
}


def test_every_script_loaded_is_a_file_of_the_package_and_no_file_is_left_over() -> None:
    lua = resources.files("fast_channels.layers.redis") / "lua"
    present = {entry.name for entry in lua.iterdir() if entry.name.endswith(".lua")}
    assert present == FILES


@pytest.mark.skipif(importlib.util.find_spec("hatchling") is None, reason="no hatchling here")
def test_the_built_wheel_ships_every_script(tmp_path: Path) -> None:
    # The PEP 517 hook pip calls, run from the checkout.
    build = "import sys, hatchling.build as b; print(b.build_wheel(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / result.stdout.split()[-1]) as wheel:
        shipped = {
            name.rsplit("/", 1)[1]: wheel.read(name).decode()
            for name in wheel.namelist()
            if name.startswith("fast_channels/layers/redis/lua/")
        }
    assert set(shipped) == FILES
    for file, text in shipped.items():
        assert text == lua_source(file.removesuffix(".lua"))


async def test_lapsed_members_are_forgotten_with_their_capacities(
    redis_server: RedisServer,
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    group, caps = f"lua-{uuid.uuid4().hex}:g", f"lua-{uuid.uuid4().hex}:gc"
    try:
        # Joined at 1 and 100 (lapsed at 250 with group_expiry 100), and at 200.
        await client.zadd(group, {"old": 1, "older-cap": 100, "live": 200})
        await client.hset(caps, mapping={"older-cap": 5, "live": 7})
        members, flat_caps = await Scripts().group_members(client, [group, caps], [250, 100])
        assert members == [b"live"]
        assert flat_caps == [b"live", b"7"]
        assert await client.zrange(group, 0, -1) == [b"live"]
        assert await client.hgetall(caps) == {b"live": b"7"}
    finally:
        await client.delete(group, caps)
        await client.aclose()
