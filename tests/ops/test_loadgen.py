"""The load generator against a real uvicorn serving a small room-broadcast app on loopback."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.loadgen import Config, run
from ops.loadgen.stats import latency_summary, percentile
from tests.support.redis_server import free_port
from tests.support.uvicorn_server import uvicorn_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ws_url() -> Iterator[str]:
    with uvicorn_server("tests.ops.echo_app:app") as base:
        yield base.replace("http://", "ws://")


def loadgen(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.loadgen", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False,
    )  # fmt: skip


def test_cli_counts_every_delivery_and_writes_json(ws_url: str, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = loadgen(
        "--url", ws_url, "--clients", "6", "--rooms", "2", "--rate", "40", "--duration", "2.5",
        "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["connected"] == 6
    assert report["connect_errors"] == 0
    assert 70 <= report["sent"] <= 110  # 40/s for 2.5 s
    assert report["expected"] == report["sent"] * 3  # three members per room, sender included
    assert report["received"] == report["expected"]
    assert report["lost"] == 0
    assert report["duplicates"] == 0
    latency = report["latency_s"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"] < 2
    assert "p99" in result.stdout
    assert f"deliveries {report['received']} received" in result.stdout
    progress = [line for line in result.stderr.splitlines() if "received" in line]
    assert len(progress) >= 2, result.stderr  # once a second while running, and a final line


async def test_custom_path_and_key_keep_rooms_apart(ws_url: str) -> None:
    sink = io.StringIO()
    config = Config(
        url=ws_url + "/rooms/{room}/socket", clients=5, rooms=3, rate=30, duration=1.5,
        key="text", extra={}, room_prefix="custom", progress=sink,
    )  # fmt: skip
    report = await run(config)
    # Rooms hold clients 0,3 | 1,4 | 2: a message reaches only its own room.
    assert report.connected == 5
    assert report.sent > 20
    assert report.received == report.expected
    assert report.sent * 1 < report.expected < report.sent * 2
    assert report.lost == 0
    assert report.latency_s["max"] >= report.latency_s["p99"] > 0
    assert "clients 5/5" in sink.getvalue()


def test_undelivered_messages_are_counted_lost(ws_url: str) -> None:
    result = loadgen(
        "--url", ws_url + "/mute/{room}", "--clients", "4", "--rooms", "2", "--rate", "20",
        "--duration", "1", "--drain", "0.5", "--quiet",
    )  # fmt: skip
    assert result.returncode == 1  # messages sent, none delivered
    assert result.stderr == ""
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    sent = int(lines["sent"].split()[0])
    assert sent > 10
    assert lines["deliveries"].startswith(f"0 received / {sent * 2} expected, {sent * 2} lost")


def test_unreachable_url_fails_fast() -> None:
    started = time.monotonic()
    result = loadgen(
        "--url", f"ws://127.0.0.1:{free_port()}", "--clients", "3", "--duration", "0.5",
        "--connect-timeout", "2", "--quiet",
    )  # fmt: skip
    assert result.returncode == 1
    assert "0/3 connected" in result.stdout
    assert "(3 failed" in result.stdout
    # The reason, once: the same refusal three times is one line.
    failed = [line for line in result.stdout.splitlines() if line.startswith("failed ")]
    assert len(failed) == 1, result.stdout
    assert "ConnectionRefusedError" in failed[0], result.stdout
    assert time.monotonic() - started < 20


def test_error_replies_are_shown_with_the_losses(ws_url: str) -> None:
    result = loadgen(
        "--url", ws_url + "/refuse/{room}", "--frame", '{"action": "chatt"}', "--clients", "2",
        "--rate", "20", "--duration", "0.5", "--drain", "0.2", "--quiet",
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    sent = int(dict(line.split(None, 1) for line in lines)["sent"].split()[0])
    assert f"errors     {sent} error replies from the server, e.g.:" in lines, result.stdout
    assert "           unknown action 'chatt'" in lines, result.stdout


def test_help_shows_the_defaults() -> None:
    text = " ".join(loadgen("--help").stdout.split())
    for expected in (
        "sockets to open (default: 10)",
        "messages/s, all clients together (default: 10.0)",
        "seconds of sending (default: 10.0)",
        "(default: /ws/chat/{room})",
    ):
        assert expected in text


def test_rejects_non_websocket_url() -> None:
    result = loadgen("--url", "http://127.0.0.1:1", "--duration", "1")
    assert result.returncode == 2
    assert "must start with ws://" in result.stderr


def test_percentiles_are_ordered_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    summary = latency_summary(list(reversed(values)))
    assert summary["p50"] <= summary["p90"] <= summary["p99"] <= summary["max"] == 100
    assert latency_summary([]) == {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
