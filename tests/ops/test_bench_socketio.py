"""The end-to-end anchors of issue 22: the raw-socket WebSocket / Engine.IO subscriber against
real servers (Node Socket.IO, uvicorn), and the Socket.IO and uvicorn-variant rows as the
harness runs them. Skipped, with the reason, where node/npm or python-socketio are missing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ops.bench import harness, plan
from ops.bench.worker import impl_socketio_node, impl_socketio_py, rawws
from tests.support.redis_server import RedisServer, free_port

WORKER = plan.HERE / "worker"
SIZES = [10, 300, 70_000]  # 7-bit, 16-bit and 64-bit payload lengths on the wire


def body(seq: int, size: int) -> dict[str, Any]:
    return {"seq": seq, "pad": "x" * size}


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65_535, 65_536])
def test_a_client_frame_reads_back_through_the_parser(size: int) -> None:
    payload = os.urandom(size)
    wire = rawws.frame(rawws.OP_BINARY, payload)
    assert wire[1] & 0x80  # masked, as a client frame must be
    frames, used = rawws.parse_frames(bytearray(wire + b"\x81"))  # and a next frame's 1st byte
    assert frames == [(rawws.OP_BINARY, True, False, payload)]
    assert used == len(wire)


def test_a_frame_split_across_reads_waits_for_its_rest() -> None:
    wire = rawws.frame(rawws.OP_TEXT, b"y" * 300)
    for cut in (1, 2, 3, 7, len(wire) - 1):
        assert rawws.parse_frames(bytearray(wire[:cut])) == ([], 0)
    assert rawws.parse_frames(bytearray(wire))[0][0][3] == b"y" * 300


@contextlib.asynccontextmanager
async def serving(
    argv: list[str], port: int, env: dict[str, str] | None = None
) -> AsyncIterator[None]:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=WORKER, env={**os.environ, **(env or {})}
    )
    try:
        for _ in range(200):
            assert process.returncode is None, f"{argv[:2]} exited with {process.returncode}"
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        yield
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def clients(
    port: int, path: str, count: int, engineio: bool
) -> tuple[list[rawws.RawClient], list[list[Any]]]:
    inboxes: list[list[Any]] = [[] for _ in range(count)]
    handlers = [inbox.append for inbox in inboxes]
    return await rawws.connect_all("127.0.0.1", port, path, handlers, engineio), inboxes


async def until(check: Any, limit: float = 10.0) -> None:
    """Wait for `check()` (a bound, not a measure: a failure names what never arrived)."""
    for _ in range(int(limit / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)


async def broadcast_reaches_everyone(
    sockets: list[rawws.RawClient], inboxes: list[list[Any]], seq0: int
) -> None:
    for i, size in enumerate(SIZES):
        sockets[0].send(body(seq0 + i, size))
    want = [body(seq0 + i, size) for i, size in enumerate(SIZES)]
    await until(lambda: all(len(inbox) >= seq0 + len(SIZES) for inbox in inboxes))
    for inbox in inboxes:
        assert inbox[seq0:] == want  # every message, whole, in order, to the sender too


def node_or_skip(kind: str) -> None:
    why = impl_socketio_node.available(kind)
    if why:
        pytest.skip(why)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_engineio_client_against_node_socketio(kind: str, redis_server: RedisServer) -> None:
    node_or_skip(kind)
    port = free_port()
    # pingInterval = pingTimeout = 200 ms: a client that did not answer would be dropped.
    argv = [*impl_socketio_node.server_command(kind, port, redis_server.url), "200"]
    async with serving(argv, port):
        sockets, inboxes = await clients(port, impl_socketio_node.WS_PATH, 3, engineio=True)
        assert all(s.inflate is None for s in sockets)  # Socket.IO 4 does not compress
        await broadcast_reaches_everyone(sockets, inboxes, 0)
        await until(lambda: all(s.pings >= 4 for s in sockets))
        assert all(s.pings >= 4 for s in sockets)
        assert not any(s.closed.done() for s in sockets)  # answered: still connected
        await broadcast_reaches_everyone(sockets, inboxes, len(SIZES))
        for s in sockets:
            await s.close()
            assert s.closed.done()


@pytest.mark.parametrize("deflate", ["1", "0"])
async def test_websocket_client_inflates_what_uvicorn_compresses(deflate: str) -> None:
    port = free_port()
    argv = [sys.executable, str(WORKER / "server.py"), "bare", "-", str(port), "-"]
    async with serving(argv, port, {"BENCH_UVICORN_DEFLATE": deflate}):
        sockets, inboxes = await clients(port, "/ws", 3, engineio=False)
        assert all((s.inflate is not None) == (deflate == "1") for s in sockets)
        await broadcast_reaches_everyone(sockets, inboxes, 0)
        await broadcast_reaches_everyone(sockets, inboxes, len(SIZES))  # context carried over
        for s in sockets:
            await s.close()


@pytest.mark.parametrize("deflate", ["1", "0"])
async def test_preframed_frames_built_once_read_back_in_every_client(deflate: str) -> None:
    """The experiment of worker/preframed.py: one frame per broadcast, compressed without
    context, reads back in clients that keep their inflate context (7-, 16- and 64-bit
    lengths, twice: the second round inflates after the first's bytes are in the window)."""
    port = free_port()
    argv = [sys.executable, str(WORKER / "server.py"), "preframed", "-", str(port), "-"]
    env = {"BENCH_UVICORN_DEFLATE": deflate, "BENCH_UVICORN_WS": "websockets-sansio"}
    async with serving(argv, port, env):
        sockets, inboxes = await clients(port, "/ws", 3, engineio=False)
        assert all((s.inflate is not None) == (deflate == "1") for s in sockets)
        assert not any(s.reset_inflate for s in sockets)  # context kept: the harder case
        await broadcast_reaches_everyone(sockets, inboxes, 0)
        await broadcast_reaches_everyone(sockets, inboxes, len(SIZES))
        for s in sockets:
            await s.close()


@pytest.fixture(scope="module")
def harness_rows() -> dict[str, dict[str, Any]]:
    """One round of a tiny end-to-end scenario over bare, Socket.IO and the uvicorn variants,
    through the harness and its worker subprocesses, as `python -m ops.bench` runs them."""
    servers = [plan.BARE, *plan.SOCKETIO, *plan.WS_VARIANTS]
    scenario = plan.Scenario(
        "e2e_anchors_tiny",
        "e2e",
        servers,
        {"clients": 20, "messages": 3, "timeout": 5.0, "repeat": 1},
        ["rate"],
    )
    redis = harness.RedisServer()
    try:
        return harness.run_interleaved(servers, scenario, redis)
    finally:
        redis.stop()


def only_run(rows: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    entry = rows[name]
    if "skipped" in entry:
        pytest.skip(entry["skipped"])
    assert "runs" in entry, entry
    (run,) = entry["runs"]
    return dict(run)


EXPECTED_DEFLATE = {
    "bare": 1,
    **{impl.name: 0 for impl in plan.SOCKETIO if impl.module == "socketio_node"},
    **{impl.name: 1 for impl in plan.SOCKETIO if impl.module == "socketio_py"},
    **{impl.name: int(impl.env["BENCH_UVICORN_DEFLATE"] == "1") for impl in plan.WS_VARIANTS},
}


@pytest.mark.parametrize("name", list(EXPECTED_DEFLATE))
def test_the_harness_runs_every_anchor_and_loses_nothing(
    harness_rows: dict[str, dict[str, Any]], name: str
) -> None:
    run = only_run(harness_rows, name)
    assert run["delivered"] == run["expected"] == 21 * 3
    assert run["lost"] == run["duplicates"] == 0
    assert run["errors"] == {}
    assert run["server_cpu_us"] >= 0  # from /proc in clock ticks: 0 for a run this short
    assert run["client_cpu_us"] > 0
    assert run["deflate"] == EXPECTED_DEFLATE[name]
    if (os.cpu_count() or 1) > 1:
        assert run["server_cpu"] >= 0  # pinned


def test_python_socketio_is_said_missing_or_runs(harness_rows: dict[str, dict[str, Any]]) -> None:
    entry = harness_rows["socketio-py-memory"]
    if impl_socketio_py.available("memory"):
        assert "python-socketio is not installed" in entry["skipped"]
    else:
        assert len(entry["runs"]) == 1


def test_without_node_the_rows_are_skipped_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert impl_socketio_node.available("memory") == (
        "node and npm not on the PATH (Node Socket.IO needs Node >= 18 and npm)"
    )


def test_the_e2e_server_imports_from_the_workers_pythonpath(tmp_path: Any) -> None:
    """ops.bench.compare puts the fast_channels tree under test on the worker's PYTHONPATH;
    the server subprocess must import from it too (it used to replace it with the worker
    dir, and so served the venv's fast_channels for base and new alike)."""
    (tmp_path / "impl_probe.py").write_text(
        "from server import bare_app\n\n"
        "def available(kind):\n    return None\n\n"
        "def consumer_app(kind, url, group):\n    return bare_app()\n"
    )
    redis = harness.RedisServer()
    try:
        done = subprocess.run(
            [sys.executable, str(WORKER / "run.py"), "probe", "-", "e2e", redis.url,
             '{"clients": 5, "messages": 2, "timeout": 5, "repeat": 1}'],
            cwd=WORKER, env={**os.environ, "PYTHONPATH": str(tmp_path)},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        redis.stop()
    (line,) = [x for x in done.stdout.splitlines() if x.startswith(harness.MARK)]
    (run,) = json.loads(line[len(harness.MARK) :])["runs"]
    assert run["delivered"] == run["expected"] == 6 * 2
