"""Done when (issue 19), in a real browser: the demo page in several headless Chromium tabs,
spread over the demo servers behind a real nginx, loses nothing and repeats nothing on screen
while the servers restart one after the other, or while the proxy cuts every connection.

The layer kind is a parameter. The rolling restart is the Redis layer's (an in-memory history
dies with its process: that case must report "may be missing", checked below).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.demo.cdp import Page, open_tabs
from tests.demo.conftest import DemoServer
from tests.demo.stack import Broadcaster, Stack, broadcasting, demo_stack
from tests.demo.test_browser import CHROMIUM
from tests.support.nginx import NGINX, SKIP_REASON

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed"),
    pytest.mark.skipif(NGINX is None, reason=SKIP_REASON),
]
TABS = 4
STATUS = "document.getElementById('status').dataset.state"
# The chat lines on screen: "<sender>|<message>", in screen order.
CHAT = (
    "Array.from(document.querySelectorAll('#messages li.chat'))"
    ".map(li => li.querySelector('.sender').textContent + '|' + li.lastChild.textContent)"
)
SYSTEM = "Array.from(document.querySelectorAll('#messages li.system')).map(li => li.textContent)"


@pytest.fixture(params=["in-memory", "redis"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    redis_url = None
    if request.param == "redis":
        redis_url = request.getfixturevalue("own_redis_server").url
    with demo_stack(request.param, redis_url) as built:
        yield built


def wait_all_connected(tabs: list[Page]) -> None:
    for tab in tabs:
        tab.wait_for(STATUS, lambda state: state == "connected", timeout=30)


def wait_all_joined(tabs: list[Page], room: str) -> None:
    """Connected and in the room: the server answered the join (fc.recovery), so every later
    message reaches the tab live."""
    wait_all_connected(tabs)
    joined = f"socket.lastRecovery[{f'chat.{room}'!r}] !== undefined"
    for tab in tabs:
        tab.wait_for(joined, lambda value: value is True, timeout=30)


def open_sockets(server: DemoServer) -> float:
    """The server's open WebSockets, from its own /metrics (not through the proxy)."""
    text = httpx.get(f"{server.http}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("fast_channels_websocket_connections{")
    )


def assert_exactly_once_in_order(tab: Page, broadcaster: Broadcaster) -> None:
    """Every accepted message on screen once, in order; nothing else but unsure ones."""
    last = broadcaster.accepted[-1]
    lines = tab.wait_for(CHAT, lambda seen: f"http-api|{last}" in seen, timeout=30)
    shown = [line.split("|", 1)[1] for line in lines]
    assert len(shown) == len(set(shown)), "a message is repeated on screen"
    assert [m for m in shown if m not in broadcaster.unsure] == broadcaster.accepted


def test_tabs_lose_nothing_while_the_servers_restart_one_after_the_other(
    stack: Stack,
) -> None:
    if stack.layer == "in-memory":
        pytest.skip("an in-memory history dies with its process: see the incomplete test")
    assert CHROMIUM is not None
    room = f"rolling-{stack.layer}"
    with open_tabs(CHROMIUM, [f"{stack.proxy.url}/rooms/{room}"] * TABS) as tabs:
        wait_all_joined(tabs, room)
        # Spread over both servers (nginx alternates the sockets).
        assert [open_sockets(s) for s in stack.servers] == [TABS / 2, TABS / 2]
        with broadcasting(stack, room) as broadcaster:
            for index in range(len(stack.servers)):
                stack.restart(index)
                wait_all_connected(tabs)
        for tab in tabs:
            assert_exactly_once_in_order(tab, broadcaster)
            assert not [line for line in tab.evaluate(SYSTEM) if "may be missing" in line]
    assert len(broadcaster.accepted) > 20


def test_tabs_lose_nothing_when_the_proxy_cuts_every_connection(stack: Stack) -> None:
    assert CHROMIUM is not None
    room = f"cut-{stack.layer}"
    with open_tabs(CHROMIUM, [f"{stack.proxy.url}/rooms/{room}"] * TABS) as tabs:
        wait_all_joined(tabs, room)
        with broadcasting(stack, room) as broadcaster:
            stack.stop_proxy()
            for tab in tabs:  # each saw the cut
                tab.wait_for(STATUS, lambda state: state == "reconnecting", timeout=30)
            # Messages sent while every tab is cut off: each tab must get them by recovery.
            missed = len(broadcaster.accepted) + 3
            while len(broadcaster.accepted) < missed:
                broadcaster.progress.wait(timeout=5)
                broadcaster.progress.clear()
            stack.start_proxy()
            wait_all_connected(tabs)
        for tab in tabs:
            assert_exactly_once_in_order(tab, broadcaster)
            system = tab.evaluate(SYSTEM)
            assert not [line for line in system if "may be missing" in line]
            counts = re.findall(r"reconnected, (\d+) missed", " ".join(system))
            assert counts, system
            assert sum(int(n) for n in counts) >= 3, system


def test_an_in_memory_restart_is_reported_as_maybe_missing() -> None:
    """Recovery is never claimed when it did not happen: a restarted in-memory server has a
    new epoch, so the page says messages may be missing."""
    assert CHROMIUM is not None
    server = DemoServer("--step-delay", "0.01")
    try:
        with open_tabs(CHROMIUM, [f"{server.http}/rooms/amnesia"]) as (tab,):
            wait_all_connected([tab])
            httpx.post(
                f"{server.http}/api/rooms/amnesia/broadcast", json={"message": "before"}
            ).raise_for_status()
            tab.wait_for(CHAT, lambda lines: lines == ["http-api|before"], timeout=10)
            server.stop()
            server = DemoServer("--step-delay", "0.01", port=server.port)
            lines = tab.wait_for(SYSTEM, lambda x: any("may be missing" in s for s in x), 30)
            assert not [line for line in lines if "recovered" in line]
    finally:
        server.stop()
