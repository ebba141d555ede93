"""The kit's WebSocket protocol read by a real browser: headless Chromium tabs, whose
WebSocket offers permessage-deflate and keeps its inflate context, read every frame of a
broadcast (shared texts framed once, texts of their own, binary frames; 7-, 16- and 64-bit
lengths) exactly as sent, with compression agreed and without."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fast_channels import wsprotocol
from tests.demo.cdp import Page, open_tabs
from tests.demo.test_browser import CHROMIUM
from tests.support import broadcast_app
from tests.support.uvicorn_server import uvicorn_server

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (apt-get install -y chromium)",
)
TABS = 2
# Each frame as ["t", text] or ["b", the binary frame's bytes decoded as UTF-8].
OPEN = """
window.got = []; window.opened = false;
window.ws = new WebSocket(`ws://${location.host}/ws`);
ws.binaryType = "arraybuffer";
ws.onopen = () => { window.opened = true; };
ws.onmessage = (e) => window.got.push(
  typeof e.data === "string" ? ["t", e.data] : ["b", new TextDecoder().decode(e.data)]);
"""


def as_seen(frames: list[str | bytes]) -> list[list[str]]:
    return [["t", f] if isinstance(f, str) else ["b", f.decode()] for f in frames]


def received(tab: Page, count: int) -> Any:
    tab.wait_for("window.got.length", lambda n: n is not None and n >= count, timeout=60)
    return json.loads(tab.evaluate("JSON.stringify(window.got)"))


@pytest.mark.parametrize("deflate", ["true", "false"])
@pytest.mark.timeout(120)
def test_chromium_reads_every_frame_as_sent(deflate: str) -> None:
    options = ["--ws", wsprotocol.PROTOCOL, "--ws-per-message-deflate", deflate]
    with (
        uvicorn_server("tests.support.broadcast_app:app", *options) as url,
        open_tabs(CHROMIUM or "", [f"{url}/"] * TABS) as tabs,
    ):
        for tab in tabs:  # one after the other: the room numbers sockets as they come
            tab.wait_for("document.readyState", lambda state: state == "complete", 30)
            tab.evaluate(OPEN)
            tab.wait_for("window.opened", lambda opened: opened is True, timeout=30)
        agreed = tabs[0].evaluate("window.ws.extensions")
        tabs[0].evaluate("window.ws.send('burst')")
        for index, tab in enumerate(tabs):
            want = as_seen(broadcast_app.expected(index))
            assert received(tab, len(want)) == want, f"tab {index}"
    if deflate == "true":
        assert "permessage-deflate" in agreed, agreed
        assert "server_no_context_takeover" in agreed, agreed
    else:
        assert agreed == ""
