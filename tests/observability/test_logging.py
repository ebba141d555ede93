from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from fast_channels.consumer import AsyncJsonWebsocketConsumer
from fast_channels.layers import InMemoryChannelLayer
from fast_channels.observability.logging import RateLimitedLog, configure_logging
from fast_channels.testing import WebsocketCommunicator


class Logged(AsyncJsonWebsocketConsumer):
    channel_layer_alias = "default"


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


async def test_one_event_per_connect_and_disconnect_with_duration_code_and_context(
    memory_layer: InMemoryChannelLayer,
) -> None:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        client = WebsocketCommunicator(Logged.as_asgi(), "/")
        await client.connect()
        await client.send_json_to({"secret": "hunter2"})
        await client.disconnect(code=1001)
    events = [entry for entry in logs if entry["event"].startswith("websocket")]
    assert [entry["event"] for entry in events] == ["websocket connected", "websocket disconnected"]
    connected, disconnected = events
    assert disconnected["code"] == 1001
    assert disconnected["duration"] >= 0
    assert connected["connection_id"] == disconnected["connection_id"]
    assert connected["channel"].startswith("specific.")
    assert "hunter2" not in repr(logs)  # payloads are never logged


def test_rate_limited_log_folds_a_flood_into_one_line() -> None:
    with capture_logs() as logs:
        log = RateLimitedLog(structlog.get_logger(), "message dropped", interval=60)
        results = [log(("layer", "expired"), layer="layer") for _ in range(100)]
        log(("layer", "undecodable"), layer="layer")
    assert results.count(True) == 1
    assert [entry["event"] for entry in logs] == ["message dropped", "message dropped"]
    assert logs[0]["suppressed"] == 0


def test_rate_limited_log_reports_what_it_suppressed() -> None:
    with capture_logs() as logs:
        log = RateLimitedLog(structlog.get_logger(), "message dropped", interval=0)
        log._last[()] = float("inf")  # pretend we just logged
        log()
        log()
        log._last[()] = -1e9  # the interval has passed
        log()
    assert len(logs) == 1
    assert logs[0]["suppressed"] == 2


def test_configure_logging_writes_json_lines(
    capsys: pytest.CaptureFixture[str], restore_structlog: None
) -> None:
    configure_logging(json=True, level=logging.INFO)
    structlog.get_logger("t").info("hello", answer=42)
    structlog.get_logger("t").debug("hidden")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 1
    assert lines[0]["event"] == "hello"
    assert lines[0]["answer"] == 42
    assert lines[0]["level"] == "info"
    assert "timestamp" in lines[0]
