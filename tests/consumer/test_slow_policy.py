"""The slow-consumer options: checked at mount time, and the watchdog's bound on a held-back
send (the end-to-end behaviour, under uvicorn, is in tests/faults/test_slow_readers.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from fast_channels.consumer import AsyncWebsocketConsumer
from fast_channels.observability.instruments import close_reason


class Echo(AsyncWebsocketConsumer):
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"slow_consumer_policy": "kick"}, "slow_consumer_policy must be one of"),
        ({"slow_consumer_policy": None}, "slow_consumer_policy must be one of"),
        ({"send_timeout": 0}, "send_timeout must be None or a number of seconds >= 0.01"),
        ({"send_timeout": -1.0}, "got -1.0"),
        ({"send_timeout": "10"}, "got '10'"),
        ({"send_timeout": True}, "got True"),
        ({"send_timeout": float("inf")}, "got inf"),
        ({"send_timeout": float("nan")}, "got nan"),
    ],
)
def test_bad_options_fail_at_mount_time(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        Echo.as_asgi(**options)
    assert "Echo." in str(raised.value)  # names the class and the option


@pytest.mark.parametrize(
    "options", [{}, {"slow_consumer_policy": "drop"}, {"send_timeout": None}, {"send_timeout": 3}]
)
def test_good_options_are_accepted(options: dict[str, Any]) -> None:
    Echo.as_asgi(**options)


def test_close_reasons_of_the_codes_we_use() -> None:
    assert close_reason(1002) == "protocol_error"
    assert close_reason(1005) == "normal"  # a close frame without a status code
    assert close_reason(1013) == "try_again_later"  # an app's own 1013, not ours
    assert close_reason(4321) == "other"


class Connection:
    """An ASGI server side whose `send` of a frame waits until `release` is set."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.release = asyncio.Event()
        self.sent: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            await self.release.wait()
        self.sent.append(message)


async def test_a_lagging_event_loop_does_not_make_a_send_look_slow() -> None:
    # Ticks are counted, never timestamps: a loop blocked for 1 s while a send waits makes
    # the watchdog see it once, not as 1 s of waiting.
    connection = Connection()
    app = Echo.as_asgi(send_timeout=0.2)
    task = asyncio.create_task(app({"type": "websocket"}, connection.inbox.get, connection.send))
    await connection.inbox.put({"type": "websocket.connect"})
    await connection.inbox.put({"type": "websocket.receive", "text": "hi"})
    await asyncio.sleep(0.03)  # the send is waiting
    time.sleep(1.0)  # the loop is blocked  # noqa: ASYNC251
    asyncio.get_running_loop().call_later(0.03, connection.release.set)
    await asyncio.sleep(0.3)
    assert not task.done()  # not closed
    assert connection.sent[-1] == {"type": "websocket.send", "text": "hi"}
    await connection.inbox.put({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(task, 5)


async def test_a_send_held_back_past_send_timeout_stops_the_consumer() -> None:
    connection = Connection()
    disconnects: list[int] = []

    class Held(Echo):
        async def disconnect(self, code: int) -> None:
            disconnects.append(code)

    app = Held.as_asgi(send_timeout=0.2)
    task = asyncio.create_task(app({"type": "websocket"}, connection.inbox.get, connection.send))
    await connection.inbox.put({"type": "websocket.connect"})
    await connection.inbox.put({"type": "websocket.receive", "text": "hi"})
    started = time.monotonic()
    # No transport to abort here: the consumer is cancelled out of its send.
    await asyncio.wait_for(task, 5)
    assert 0.2 <= time.monotonic() - started < 1.0
    assert disconnects == [1013]
