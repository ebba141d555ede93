"""A headless Chromium driven over the DevTools protocol, for pages that must be watched live.

`--dump-dom` (tests/demo/test_browser.py) shows one moment; a page that reconnects after its
server restarts must be read while the test stops and starts the server, so this keeps the page
open and evaluates JavaScript in it. The protocol is spoken with the `websockets` client the
tests already use (playwright is not installed here and cannot download its browser).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect


class Page:
    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = count(1)

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = next(self._ids)
        self._socket.send(json.dumps({"id": request_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self._socket.recv(timeout=10))
            if reply.get("id") == request_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        params = {"expression": expression, "returnByValue": True}
        result = self.call("Runtime.evaluate", params)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def set_viewport(self, width: int, height: int) -> None:
        """A phone-sized viewport: headless Chromium's window is at least 500 px wide."""
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True}
        self.call("Emulation.setDeviceMetricsOverride", metrics)

    def wait_for(self, expression: str, check: Callable[[Any], bool], timeout: float) -> Any:
        """Poll `expression` until `check` accepts its value; return it. Every value seen is
        kept for the failure message; an exception (the page still loading) is one of them."""
        seen: list[Any] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except RuntimeError as error:
                value = f"raised {str(error)[-200:]}"
            if not seen or seen[-1] != value:
                seen.append(value)
            if check(value):
                return value
            time.sleep(0.05)
        raise AssertionError(f"{expression} never matched within {timeout}s; saw {seen}")


def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode}")
        if active.exists() and active.read_text().strip():
            return int(active.read_text().split()[0])
        time.sleep(0.05)
    raise RuntimeError("chromium did not open its DevTools port within 30 s")


@contextmanager
def open_page(chromium: str, url: str) -> Iterator[Page]:
    with open_tabs(chromium, [url]) as (page,):
        yield page


@contextmanager
def open_tabs(chromium: str, urls: list[str]) -> Iterator[list[Page]]:
    """One Chromium with a tab per URL (one browser, as a user with several tabs: cheaper than
    a browser per page on a 2-core machine)."""
    # Chromium's helper processes may still write the profile for a moment after it is killed.
    with tempfile.TemporaryDirectory(prefix="fc-chromium-", ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             # Tabs in the background keep their timers (the client's reconnect delays).
             "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
             "--disable-backgrounding-occluded-windows",
             "--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "--window-size=1280,900", urls[0]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            port = _devtools_port(Path(profile), process)
            targets = [_first_page(port)]
            for url in urls[1:]:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?{url}")
                request.method = "PUT"  # newer Chromium refuses GET here
                with urllib.request.urlopen(request, timeout=10) as r:
                    targets.append(json.load(r))
            with contextlib.ExitStack() as stack:
                sockets = [
                    stack.enter_context(connect(t["webSocketDebuggerUrl"], max_size=None))
                    for t in targets
                ]
                yield [Page(socket) for socket in sockets]
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # its renderer and GPU helpers too
            process.wait(timeout=10)


def _first_page(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
        targets = json.load(r)
    page: dict[str, Any] = next(t for t in targets if t["type"] == "page")
    return page
