"""Random frames over a real socket to a real uvicorn: the server answers or closes with the
documented code, counts each close by reason, and stays up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from fast_channels.consumer import AsyncWebsocketConsumer
from tests.fuzz.conftest import FUZZ
from tests.fuzz.test_frames import REASONS, Echo, JsonEcho, expected_close, frames
from tests.support.uvicorn_server import spawn_uvicorn, stop

PATHS: dict[str, type[AsyncWebsocketConsumer]] = {"/json": JsonEcho, "/echo": Echo}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Any]]:
    process, port = spawn_uvicorn("tests.fuzz.app:app")
    try:
        yield f"127.0.0.1:{port}", process
    finally:
        stop(process)


def closes(base: str) -> dict[tuple[str, str], float]:
    text = httpx.get(f"http://{base}/metrics", timeout=5).text
    counts = {}
    for family in text_string_to_metric_families(text):
        if family.name == "fast_channels_websocket_connections_closed":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["consumer"], sample.labels["reason"]] = sample.value
    return counts


def answer(base: str, path: str, kind: str, data: Any) -> tuple[str, Any]:
    """("reply", frame) or ("close", code) for one frame on a new connection."""
    with connect(f"ws://{base}{path}", open_timeout=5, close_timeout=5) as ws:
        ws.send(data)
        try:
            return "reply", ws.recv(timeout=5)
        except ConnectionClosed as closed:
            # None: the server dropped the socket without a close frame (asserted by the caller)
            return "close", None if closed.rcvd is None else closed.rcvd.code


@settings(FUZZ, max_examples=40)
@given(path=st.sampled_from(sorted(PATHS)), frame=frames)
def test_a_real_server_answers_or_closes_with_the_right_code_and_counts_it(
    server: tuple[str, Any], path: str, frame: tuple[str, Any]
) -> None:
    base, process = server
    kind, data = frame
    consumer = PATHS[path]
    before = closes(base)
    outcome, value = answer(base, path, kind, data)
    code = expected_close(consumer, kind, data)
    if code is None:
        assert outcome == "reply"
        if consumer is JsonEcho:
            assert value == json.dumps(json.loads(data))
        else:
            assert value == data
        reason = "normal"
    else:
        assert (outcome, value) == ("close", code)
        reason = REASONS[code]
    after = closes(base)
    key = (consumer.__name__, reason)
    # The count is bumped when the consumer's cleanup ends, just after the close frame.
    for _ in range(50):
        if after.get(key, 0) == before.get(key, 0) + 1:
            break
        after = closes(base)
    assert after.get(key, 0) == before.get(key, 0) + 1
    assert process.poll() is None, "uvicorn died"
    assert httpx.get(f"http://{base}/healthz", timeout=5).status_code == 200
