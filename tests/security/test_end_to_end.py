"""Origin check, authentication and the rate limit through a real uvicorn and a real client."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.security.conftest import Server
from tests.security.constants import TOKEN

GOOD_ORIGIN = "https://app.example.com"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def connect_count(server: Server) -> int:
    return int(httpx.get(f"http://{server.base}/debug/connects", timeout=5).json()["count"])


def closed_total(server: Server, consumer: str, reason: str) -> float:
    text = httpx.get(f"http://{server.base}/debug/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "fast_channels_websocket_connections_closed_total"
                and sample.labels == {"consumer": consumer, "reason": reason}
            ):
                return sample.value
    return 0.0


def test_a_trusted_origin_with_a_token_is_accepted(server: Server) -> None:
    before = connect_count(server)
    with connect(f"ws://{server.base}/ws", origin=GOOD_ORIGIN, additional_headers=AUTH) as ws:
        ws.send('{"hello": 1}')
        assert ws.recv(timeout=5) == '{"echo": {"hello": 1}, "user": "alice"}'
    assert connect_count(server) == before + 1


@pytest.mark.parametrize(
    ("origin", "headers"),
    [
        pytest.param("https://evil.example.com", AUTH, id="forged-origin"),
        pytest.param("https://app.example.com.evil.com", AUTH, id="suffix-origin"),
        pytest.param("http://app.example.com", AUTH, id="wrong-scheme"),
        pytest.param(None, AUTH, id="no-origin"),
        pytest.param(GOOD_ORIGIN, {}, id="missing-token"),
        pytest.param(GOOD_ORIGIN, {"Authorization": "Bearer wrong"}, id="wrong-token"),
    ],
)
def test_refused_before_accept_and_connect_never_runs(
    server: Server, origin: str | None, headers: dict[str, str]
) -> None:
    before = connect_count(server)
    with pytest.raises(InvalidStatus) as refused:
        connect(
            f"ws://{server.base}/ws",
            origin=origin,  # type: ignore[arg-type]
            additional_headers=headers,
            open_timeout=5,
        )
    assert refused.value.response.status_code == 403
    assert connect_count(server) == before


def test_the_rate_limit_closes_with_1008_and_is_counted(server: Server) -> None:
    before = closed_total(server, "Limited", "policy_violation")
    with connect(f"ws://{server.base}/limited", origin=GOOD_ORIGIN, additional_headers=AUTH) as ws:
        for index in range(5):
            ws.send(str(index))
            assert ws.recv(timeout=5) == str(index)
        ws.send("one too many")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    for _ in range(50):  # counted when the consumer's cleanup ends, just after the close
        if closed_total(server, "Limited", "policy_violation") == before + 1:
            break
    assert closed_total(server, "Limited", "policy_violation") == before + 1
