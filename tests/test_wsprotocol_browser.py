"""The kit's WebSocket protocol read by a real browser: headless Chromium tabs, whose
WebSocket offers permessage-deflate and keeps its inflate context, read every frame of a
broadcast (shared texts framed once, texts of their own, binary frames; 7-, 16- and 64-bit
lengths) exactly as sent, with compression agreed and without."""

from __future__ import annotations

import json

import pytest

from fast_channels import wsprotocol
from tests.demo.cdp import open_tabs
from tests.demo.test_browser import CHROMIUM
from tests.support import broadcast_app
from tests.support.uvicorn_server import uvicorn_server

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (apt-get install -y chromium)",
)
TABS = 2


def as_seen(frames: list[str | bytes]) -> list[list[str]]:
    """Frames as the page keeps them (broadcast_app.PAGE)."""
    return [["t", f] if isinstance(f, str) else ["b", f.decode()] for f in frames]


def room_index(got: list[list[str]]) -> int:
    """Which socket of the room the tab is (tabs connect in no set order): from the first
    text of its own, "own <index> 0"."""
    own = next(text for kind, text in got if kind == "t" and text.startswith("own "))
    return int(own.split()[1])


@pytest.mark.parametrize("deflate", ["true", "false"])
@pytest.mark.timeout(120)
def test_chromium_reads_every_frame_as_sent(deflate: str) -> None:
    options = ["--ws", wsprotocol.PROTOCOL, "--ws-per-message-deflate", deflate]
    count = len(broadcast_app.expected(0))
    with (
        uvicorn_server("tests.support.broadcast_app:app", *options) as url,
        open_tabs(CHROMIUM or "", [f"{url}/"] * TABS) as tabs,
    ):
        for tab in tabs:  # the page's own script connects (broadcast_app.PAGE)
            tab.wait_for("window.opened", lambda opened: opened is True, timeout=30)
        agreed = tabs[0].evaluate("window.ws.extensions")
        tabs[0].evaluate("window.ws.send('burst')")
        indexes = []
        for tab in tabs:
            tab.wait_for("window.got.length", lambda n: n is not None and n >= count, timeout=60)
            got = json.loads(tab.evaluate("JSON.stringify(window.got)"))
            indexes.append(room_index(got))
            assert got == as_seen(broadcast_app.expected(indexes[-1])), f"socket {indexes[-1]}"
    assert sorted(indexes) == list(range(TABS))
    if deflate == "true":
        assert "permessage-deflate" in agreed, agreed
        assert "server_no_context_takeover" in agreed, agreed
    else:
        assert agreed == ""
