"""fast_channels.client: backoff, the recover URL, how answers move positions, and sending
across a reconnection (against a real uvicorn serving tests/support/recovery_app.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fast_channels.client import RecoveringClient, State, backoff_delay, connect, recover_url
from fast_channels.layers.history import Position
from tests.support.tcp_proxy import TcpProxy
from tests.support.uvicorn_server import uvicorn_server

WAIT = 20.0


@given(
    attempt=st.integers(0, 100),
    base=st.floats(0.001, 5),
    cap=st.floats(0.01, 60),
    draw=st.floats(0, 0.999999),
)
def test_backoff_is_full_jitter_capped(attempt: int, base: float, cap: float, draw: float) -> None:
    delay = backoff_delay(attempt, base, cap, lambda: draw)
    assert 0 <= delay <= cap
    assert delay == pytest.approx(draw * min(cap, base * 2.0 ** min(attempt, 32)))


def test_backoff_grows_exponentially_until_the_cap() -> None:
    delays = [backoff_delay(n, 0.1, 1.0, lambda: 1.0) for n in range(6)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_recover_url_keeps_the_query_and_replaces_recover() -> None:
    url = recover_url(
        "ws://h:1/ws/a?token=x%20y&recover=old", {"room.a": Position("e1", 4), "b": Position("", 0)}
    )
    query = parse_qs(urlsplit(url).query)
    assert query["token"] == ["x y"]
    assert json.loads(query["recover"][0]) == {
        "room.a": {"epoch": "e1", "offset": 4},
        "b": {"epoch": "", "offset": 0},
    }
    assert recover_url("ws://h:1/ws?a=1&recover=old", {}) == "ws://h:1/ws?a=1"


def answer(**fields: object) -> str:
    frame = {"type": "fc.recovery", "group": "g", "replayed": 0, "offset": 5, **fields}
    return json.dumps(frame)


async def test_answers_and_positions_move_the_clients_positions() -> None:
    client = RecoveringClient("ws://unused", positions={"g": Position("e", 2)})
    client._on_frame(answer(recovered=True, epoch="e", replayed=3))
    assert client.positions["g"] == Position("e", 2)  # replayed messages move it, not this
    client._on_frame(json.dumps({"x": 1, "_pos": {"group": "g", "epoch": "e", "offset": 3}}))
    assert client.positions["g"] == Position("e", 3)
    client._on_frame(answer(recovered=False, epoch="e2"))
    assert client.positions["g"] == Position("e2", 5)  # failed: resume from the answer
    client._on_frame(answer(recovered=False, epoch="", offset=0, fresh=True))
    assert "g" not in client.positions  # no history there: nothing to resume
    assert [(o.recovered, o.position.epoch) for o in client.outcomes] == [
        (True, "e"),
        (False, "e2"),
        (False, ""),
    ]
    client._on_frame("not json")
    client._on_frame(b"\x00")
    assert [await client.recv(), await client.recv(), await client.recv()] == [
        {"x": 1, "_pos": {"group": "g", "epoch": "e", "offset": 3}},
        "not json",
        b"\x00",
    ]


def test_the_url_must_be_a_websocket_url() -> None:
    with pytest.raises(ValueError, match="ws://"):
        RecoveringClient("http://127.0.0.1/ws")


async def test_close_ends_the_iteration_and_refuses_sends() -> None:
    client = RecoveringClient("ws://127.0.0.1:9/never")  # nothing listens: keeps retrying
    await client.start()
    await client.wait_state(State.RECONNECTING, WAIT)
    await client.close()
    assert client.state is State.CLOSED
    assert [m async for m in client] == []
    assert [o async for o in client.recoveries()] == []
    with pytest.raises(EOFError):
        await client.recv()
    with pytest.raises(RuntimeError, match="closed"):
        await client.send_json({"n": 1})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with uvicorn_server("tests.support.recovery_app:app") as url:
        yield url


async def test_send_json_waits_for_the_next_connection(server: str) -> None:
    proxy = TcpProxy(int(server.rsplit(":", 1)[1]))
    await proxy.start()
    states: list[State] = []
    try:
        url = f"ws://127.0.0.1:{proxy.port}/ws/sender"
        async with connect(url, backoff_base=0.02, backoff_cap=0.2, on_state=states.append) as c:
            await c.wait_open(WAIT)
            proxy.refusing = True
            await proxy.cut()
            await c.wait_state(State.RECONNECTING, WAIT)
            sending = asyncio.ensure_future(c.send_json({"n": 41}))
            await asyncio.sleep(0)
            assert not sending.done()  # no connection to send on
            proxy.refusing = False
            await asyncio.wait_for(sending, WAIT)
            message = await asyncio.wait_for(c.recv(), WAIT)
            assert message["n"] == 41
            assert states == [State.OPEN, State.RECONNECTING, State.OPEN]
    finally:
        await proxy.close()
    assert states[-1] is State.CLOSED
