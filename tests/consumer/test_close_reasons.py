"""Close reasons as a real uvicorn reports them, with raw sockets doing what browsers and
WebSocket libraries will not: vanish with a TCP reset, break the framing, leave mid-send."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.raw_ws import handshake, masked_frame, reset
from tests.support.scrape import get, post, sample
from tests.support.uvicorn_server import uvicorn_server

CLOSE, TEXT = 0x8, 0x1


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    with uvicorn_server("tests.support.close_app:app") as url:
        yield url, int(url.rsplit(":", 1)[1])


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not within the time allowed")
        time.sleep(0.05)


def closed(url: str, consumer: str, reason: str) -> float:
    return sample(url, "websocket_connections_closed_total", consumer=consumer, reason=reason)


def test_a_vanished_client_counts_as_abnormal(server: tuple[str, int]) -> None:
    url, port = server
    before = {reason: closed(url, "Plain", reason) for reason in ("abnormal", "other", "normal")}
    for _ in range(5):
        reset(handshake(port, "/ws/plain"))
    eventually(lambda: closed(url, "Plain", "abnormal") == before["abnormal"] + 5)
    assert closed(url, "Plain", "other") == before["other"]
    assert closed(url, "Plain", "normal") == before["normal"]
    assert get(f"{url}/codes").count(["Plain", 1006]) >= 5  # what disconnect() was told


def test_a_close_frame_without_a_status_counts_as_normal(server: tuple[str, int]) -> None:
    url, port = server
    before = closed(url, "Plain", "normal")
    sock = handshake(port, "/ws/plain")
    sock.sendall(masked_frame(CLOSE))  # what a browser's ws.close() sends: no status code
    eventually(lambda: closed(url, "Plain", "normal") == before + 1)
    sock.close()


@pytest.mark.parametrize(
    "frame",
    [masked_frame(TEXT, b"hi", mask=False), masked_frame(0x3, b"")],
    ids=["unmasked client frame", "reserved opcode"],
)
def test_protocol_violations_count_as_protocol_error(server: tuple[str, int], frame: bytes) -> None:
    url, port = server
    before = {reason: closed(url, "Plain", reason) for reason in ("protocol_error", "other")}
    sock = handshake(port, "/ws/plain")
    sock.sendall(frame)
    eventually(lambda: closed(url, "Plain", "protocol_error") == before["protocol_error"] + 1)
    assert closed(url, "Plain", "other") == before["other"]
    sock.close()


def out_frames(url: str) -> float:
    return sample(url, "websocket_messages_total", consumer="Dropping", direction="out")


def test_a_client_leaving_during_a_blocked_send_is_not_a_handler_error(
    server: tuple[str, int],
) -> None:
    url, port = server
    before = closed(url, "Dropping", "abnormal")
    sock = handshake(port, "/ws/dropping", rcvbuf=4096)  # and never read
    post(f"{url}/blast?group=dropping&n=200&size=60000")  # 12 MB: the send blocks
    sent = -1.0
    while out_frames(url) != sent:  # until the handler is stuck in its send
        sent = out_frames(url)
        time.sleep(0.5)
    reset(sock)
    eventually(lambda: closed(url, "Dropping", "abnormal") == before + 1)
    assert sample(url, "consumer_errors_total", consumer="Dropping") == 0
    assert sample(url, "websocket_connections", consumer="Dropping") == 0


def test_disconnect_codes_of_uvicorn_events() -> None:
    from fast_channels.consumer.websocket import disconnect_code

    # uvicorn's two 1005s: a connection lost (no "reason") and a close frame without a status.
    assert disconnect_code({"type": "websocket.disconnect", "code": 1005}) == 1006
    assert disconnect_code({"type": "websocket.disconnect", "code": 1005, "reason": ""}) == 1005
    assert disconnect_code({"type": "websocket.disconnect"}) == 1000
