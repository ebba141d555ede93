"""The demo page in a real headless Chromium: the page's JS runs and connects its socket."""

from __future__ import annotations

import shutil
import subprocess
import tempfile

import pytest

from tests.demo.conftest import DemoServer

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser", "google-chrome")
     if (path := shutil.which(name))),
    None,
)  # fmt: skip

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (apt-get install -y chromium)",
)


def dump_dom(url: str) -> str:
    """The DOM after the page's scripts ran for (virtual) 3 s, as Chromium serialises it."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="fc-chromium-") as profile:
        result = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=3000",
             "--dump-dom", url],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_page_connects_its_websocket(demo_server: DemoServer) -> None:
    dom = dump_dom(f"{demo_server.http}/rooms/browser-room")
    assert 'data-state="connected"' in dom, dom[:3000]
    assert "connected to room browser-room" in dom
    assert "Channel layer: in-memory" in dom  # /api/info was fetched and shown


def test_page_shows_a_refused_room_as_closed(demo_server: DemoServer) -> None:
    dom = dump_dom(f"{demo_server.http}/rooms/bad%20room")
    assert 'data-state="closed"' in dom, dom[:3000]
