"""fast_channels/static/fast-channels.js in headless Chromium against a real WebSocket server that
plays the server side of protocol v1 by script: what the client sends on reconnect, what it
hands the app, its states, and its backoff delays."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.sync.server import Server, ServerConnection, serve

from tests.demo.cdp import Page, open_page
from tests.demo.conftest import DemoServer
from tests.demo.test_browser import CHROMIUM
from tests.docs.readme import blocks
from tests.support.redis_server import free_port

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (apt-get install -y chromium)",
)
CLIENT = Path(__file__).parents[2] / "fast_channels" / "static" / "fast-channels.js"
LOG = "JSON.stringify(window.log)"


def pos(offset: int, epoch: str = "e1") -> dict[str, Any]:
    return {"group": "room", "epoch": epoch, "offset": offset}


def answer(recovered: bool, replayed: int, offset: int, **extra: Any) -> str:
    frame = {"type": "fc.recovery", "group": "room", "recovered": recovered,
             "replayed": replayed, "epoch": "e1", "offset": offset, **extra}  # fmt: skip
    return json.dumps(frame)


class ScriptedServer:
    """Connection n runs scripts[n]; every request path is kept, in order."""

    def __init__(self, scripts: list[Callable[[ServerConnection], None]]) -> None:
        self.scripts = scripts
        self.paths: list[str] = []
        self.received: list[str] = []
        self.server: Server = serve(self._handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/ws/room"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        index = len(self.paths)
        self.paths.append(ws.request.path)
        if index < len(self.scripts):
            self.scripts[index](ws)
        for frame in ws:  # then keep it open, recording what the client sends
            self.received.append(str(frame))

    def recover_param(self, index: int) -> Any:
        values = parse_qs(urlsplit(self.paths[index]).query).get("recover")
        return json.loads(values[0]) if values else None

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


def start_client(page: Page, url: str, options: str = "{}") -> None:
    page.evaluate(CLIENT.read_text())
    page.evaluate(
        "window.log = {states: [], messages: [], recoveries: []};"
        f"window.socket = new FastChannelsSocket({json.dumps(url)}, Object.assign({{"
        "  onState: (state, detail) => log.states.push([state, detail]),"
        "  onMessage: (m) => log.messages.push(m),"
        "  onRecovery: (r) => log.recoveries.push(r),"
        f"}}, {options})); true"
    )


def read_log(page: Page) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(page.evaluate(LOG))
    return log


@pytest.fixture
def page() -> Iterator[Page]:
    assert CHROMIUM is not None
    with open_page(CHROMIUM, "about:blank") as opened:
        yield opened


def test_reconnects_after_1001_and_resumes_from_its_last_position(page: Page) -> None:
    def first(ws: ServerConnection) -> None:
        ws.send(answer(False, 0, 3, fresh=True))
        ws.send(json.dumps({"n": 4, "_pos": pos(4)}))
        ws.close(1001, "going away")

    def second(ws: ServerConnection) -> None:
        ws.send(answer(True, 1, 5))
        ws.send(json.dumps({"n": 5, "_pos": pos(5)}))

    server = ScriptedServer([first, second])
    try:
        start_client(page, server.url, "{baseDelayMs: 50}")
        page.wait_for("window.log.messages.length", lambda n: n == 2, timeout=10)
        log = read_log(page)
        assert [m["n"] for m in log["messages"]] == [4, 5]  # fc.recovery is not an app message
        outcomes = [(r["recovered"], r["replayed"]) for r in log["recoveries"]]
        assert outcomes == [(False, 0), (True, 1)]
        assert server.recover_param(0) is None  # a first connect sends none
        assert server.recover_param(1) == {"room": {"epoch": "e1", "offset": 4}}
        states = [state for state, _ in log["states"]]
        assert states == ["connecting", "open", "reconnecting", "open"]
        closed = log["states"][2][1]
        assert closed["code"] == 1001
        assert 0 <= closed["delayMs"] < 50
        assert page.evaluate("socket.send({hello: 'server'})") is True
        page.wait_for("socket.state", lambda s: s == "open", timeout=5)
    finally:
        server.close()
    assert server.received == ['{"hello":"server"}']


def test_failed_recovery_resumes_from_the_answer_and_replays_do_not_move_back(page: Page) -> None:
    def first(ws: ServerConnection) -> None:
        ws.send(json.dumps({"n": 7, "_pos": pos(7, epoch="old")}))
        ws.close(1011, "crash")

    def second(ws: ServerConnection) -> None:
        # Not recovered (new epoch): the answer's position replaces the old one, and what
        # history there is may follow with older offsets.
        ws.send(answer(False, 2, 9))
        ws.send(json.dumps({"n": 8, "_pos": pos(8)}))
        ws.send(json.dumps({"n": 9, "_pos": pos(9)}))
        ws.close(1001)

    server = ScriptedServer([first, second])
    try:
        start_client(page, server.url, "{baseDelayMs: 20}")
        opened = "log.states.filter(s => s[0] === 'open').length"
        page.wait_for(opened, lambda n: n == 3, timeout=10)
        assert server.recover_param(1) == {"room": {"epoch": "old", "offset": 7}}
        assert server.recover_param(2) == {"room": {"epoch": "e1", "offset": 9}}
        assert page.evaluate("socket.lastRecovery.room.recovered") is False
    finally:
        page.evaluate("socket.close(); true")
        server.close()


def test_backoff_doubles_with_full_jitter_up_to_its_cap(page: Page) -> None:
    refused = f"ws://127.0.0.1:{free_port()}/nobody"  # nothing listens: every attempt fails
    # random() just below 1: each delay is the top of its window, so the doubling shows.
    start_client(page, refused, "{baseDelayMs: 40, maxDelayMs: 200, random: () => 0.999}")
    delays = page.wait_for(
        "log.states.filter(s => s[1].delayMs !== undefined).map(s => s[1].delayMs)",
        lambda d: len(d) >= 5,
        timeout=20,
    )
    assert delays[:5] == [39, 79, 159, 199, 199]
    page.evaluate("socket.close(); true")
    assert page.evaluate("socket.state") == "closed"


def test_a_closed_client_stays_closed(page: Page) -> None:
    server = ScriptedServer([lambda ws: ws.send(json.dumps({"n": 1}))])
    try:
        start_client(page, server.url, "{baseDelayMs: 10}")
        page.wait_for("log.messages.length", lambda n: n == 1, timeout=10)
        page.evaluate("socket.close(); true")
        page.wait_for("socket.state", lambda s: s == "closed", timeout=5)
        # Nothing is scheduled: no reconnect can come (it would need a timer).
        assert page.evaluate("socket._timer") is None
        assert page.evaluate("socket.state") == "closed"
    finally:
        server.close()
    assert len(server.paths) == 1
    assert read_log(page)["states"][-1][0] == "closed"


def test_a_group_without_history_is_not_resumed(page: Page) -> None:
    def first(ws: ServerConnection) -> None:
        # epoch "": the group keeps no history (protocol v1): no position to send back.
        ws.send(json.dumps({"type": "fc.recovery", "group": "room", "recovered": False,
                            "replayed": 0, "epoch": "", "offset": 0, "fresh": True}))  # fmt: skip
        ws.close(1001)

    server = ScriptedServer([first, lambda ws: ws.send(json.dumps({"n": 1}))])
    try:
        start_client(page, server.url, "{baseDelayMs: 20}")
        page.wait_for("log.messages.length", lambda n: n == 1, timeout=10)
        assert server.recover_param(1) is None
        assert page.evaluate("JSON.stringify(socket.positions)") == "{}"
    finally:
        page.evaluate("socket.close(); true")
        server.close()


def test_the_readme_example_runs_against_the_demo(demo_server: DemoServer) -> None:
    """The README's browser client block, as written, in a page of the demo's origin."""
    (example,) = [block.body for block in blocks() if block.lang == "js"]
    assert CHROMIUM is not None
    with open_page(CHROMIUM, f"{demo_server.http}/api/info") as page:
        # Loaded first: a script evaluated into the blank document before it is lost with it.
        loaded = "location.pathname + ' ' + document.readyState"
        page.wait_for(loaded, lambda value: value == "/api/info complete", timeout=10)
        page.evaluate(CLIENT.read_text())
        page.evaluate(
            "window.shown = []; window.reloads = 0;"
            "window.showMessage = (m) => shown.push(m); window.reloadState = () => reloads++; true"
        )
        page.evaluate(example + "; true")
        page.wait_for("document.title", lambda title: title == "open", timeout=10)
        page.wait_for("socket.lastRecovery['chat.lobby'] !== undefined", bool, timeout=10)
        assert page.evaluate("say('hello from the readme')") is True
        texts = "shown.filter(m => m.type === 'chat.message').map(m => m.message)"
        page.wait_for(texts, lambda seen: "hello from the readme" in seen, timeout=10)
        assert page.evaluate("reloads") == 0
