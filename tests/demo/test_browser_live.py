"""The demo page watched live in headless Chromium while its server stops and comes back."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.demo.cdp import open_page
from tests.demo.conftest import DemoServer
from tests.demo.test_browser import CHROMIUM

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (apt-get install -y chromium)",
)

STATUS = "document.getElementById('status').dataset.state + '|' + document.getElementById('status').textContent"  # noqa: E501
MESSAGES = "document.getElementById('messages').textContent"


def test_page_reconnects_after_its_server_restarts() -> None:
    assert CHROMIUM is not None
    server = DemoServer("--step-delay", "0.01")
    try:
        with open_page(CHROMIUM, f"{server.http}/rooms/restart-room") as page:
            page.wait_for(STATUS, lambda s: s.startswith("connected|"), timeout=20)
            server.stop()
            down = page.wait_for(STATUS, lambda s: s.startswith("reconnecting|"), timeout=20)
            assert re.search(r"reconnecting in \d+s…$", down), down
            assert page.evaluate("document.getElementById('start-job').disabled") is True
            server = DemoServer("--step-delay", "0.01", port=server.port)
            page.wait_for(STATUS, lambda s: s == "connected|connected to room restart-room", 30)
            assert "reconnected" in page.evaluate(MESSAGES)
            # The new socket is in the room again: a broadcast reaches the page.
            httpx.post(
                f"{server.http}/api/rooms/restart-room/broadcast", json={"message": "back again"}
            ).raise_for_status()
            page.wait_for(MESSAGES, lambda text: "back again" in text, timeout=10)
            assert page.evaluate("document.getElementById('start-job').disabled") is False
    finally:
        server.stop()


def test_page_says_why_a_room_name_is_refused(demo_server: DemoServer) -> None:
    assert CHROMIUM is not None
    with open_page(CHROMIUM, f"{demo_server.http}/rooms/bad%20room") as page:
        status = page.wait_for(STATUS, lambda s: s.startswith("closed|"), timeout=20)
        assert status == (
            'closed|cannot join "bad room": room names are 1-64 ASCII letters, digits, '
            "'-', '_' or '.'"
        )
        assert page.evaluate("document.getElementById('start-job').disabled") is True


def test_page_fits_a_narrow_screen(demo_server: DemoServer) -> None:
    assert CHROMIUM is not None
    with open_page(CHROMIUM, f"{demo_server.http}/rooms/narrow") as page:
        page.wait_for(STATUS, lambda s: s.startswith("connected|"), timeout=20)
        page.set_viewport(420, 900)
        # Nothing wider than the screen (no sideways scrolling), the columns stacked.
        assert page.evaluate("document.documentElement.scrollWidth") <= 420
        assert page.evaluate("window.innerWidth") == 420
        stacked = (
            "document.querySelector('aside').getBoundingClientRect().top >= "
            "document.querySelector('section.chat').getBoundingClientRect().bottom"
        )
        assert page.evaluate(stacked) is True
