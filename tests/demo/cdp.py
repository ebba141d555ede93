"""A headless Chromium driven over the DevTools protocol, for pages that must be watched live.

`--dump-dom` (tests/demo/test_browser.py) shows one moment; a page that reconnects after its
server restarts must be read while the test stops and starts the server, so this keeps the page
open and evaluates JavaScript in it. The protocol is spoken with the `websockets` client the
tests already use (playwright is not installed here and cannot download its browser).
"""

from __future__ import annotations

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
    # Chromium's helper processes may still write the profile for a moment after it is killed.
    with tempfile.TemporaryDirectory(prefix="fc-chromium-", ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "--window-size=1280,900", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            port = _devtools_port(Path(profile), process)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = json.load(r)
            page = next(t for t in targets if t["type"] == "page")
            with connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
                yield Page(socket)
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # its renderer and GPU helpers too
            process.wait(timeout=10)
