"""End to end with real parts: Redis, the demo in two processes, a real Prometheus server.

Prometheus scrapes both demo processes every second and loads ops/prometheus's rules. The load
generator runs against both processes in the same rooms (so group messages cross processes
through Redis). Then, through Prometheus's HTTP API:

1. every dashboard query (both boards) and every recording rule returns data — except the
   panels listed in EMPTY_WHEN_HEALTHY, which must only succeed and name a metric family the
   targets expose; no alert expression is true on the healthy system;
2. things are broken one at a time and the alert EXPRESSIONS (not their `for:`) become true:
   clients come back with positions of a lost epoch → FastChannelsRecoveriesIncomplete;
   SIGSTOP one process → `up == 0` for it, and the other process's group_send hits the stopped
   process's full channel → FastChannelsChannelFull; stop Redis → FastChannelsRedisErrors;
   restart Redis → reconnects counted; kill one process → `up == 0` for it (only it);
3. the empty-when-healthy panels that the breakage feeds now have data;
4. ops/render_overview.py renders the overview from this Prometheus to a PNG.

Loopback only; every wait is bounded; everything is torn down in `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml
from websockets.asyncio.client import ClientConnection, connect

from fast_channels.layers.redis import RedisChannelLayer
from ops import render_overview
from tests.demo.conftest import DemoServer
from tests.ops.rules import (
    DASHBOARDS_DIR,
    ROOT,
    RULES_FILE,
    alerts,
    load_rules,
    selectors,
)
from tests.ops.test_dashboards import BOARD_FILES, load, panels
from tests.support.redis_server import RedisServer, free_port
from tests.support.uvicorn_server import stop as stop_process

PROMETHEUS = shutil.which("prometheus")
JOB = "fast-channels"
WAIT = 25.0  # upper bound for any condition to show up in Prometheus

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="the prometheus server is not installed (apt-get install prometheus)"
)

# ---------------------------------------------------------------------------------------------
# Grafana variables → PromQL. "All" is `.*` for every label variable (it also matches a missing
# label: this Prometheus adds no namespace/pod labels); `$__rate_interval` must span at least a
# few scrapes (1 s here) and the whole load run, which ends a few seconds before the queries.
RATE = "$__rate_interval"
RATE_INTERVAL = "30s"
VARIABLES = {
    RATE: RATE_INTERVAL,
    "$__interval": "5s",
    "$namespace": ".*",
    "$pod": ".*",
    "$layer": ".*",
    "$consumer": ".*",
}

# Alert windows → 20 s. The alerts average over 5-15 minutes so that a few seconds of errors do
# not page anyone; this test's breakages last ~10 s, so over a 5 m window a rate of 2/s would
# read as 2*10/300 ≈ 0.07/s, under the 0.1/s thresholds. 20 s spans 20 scrapes and covers the
# breakage, so the bare expression is judged on the breakage alone. Thresholds stay as written.
SHORT_WINDOWS = {"[5m]": "[20s]", "[10m]": "[20s]", "[15m]": "[20s]"}

# Panels that are legitimately empty on a healthy system right after the load run, keyed by
# (board, panel title, refId) → (why, what the breakages below must make of it: "positive" =
# a value > 0, "present" = a series (drops happen only if a stalled socket still holds messages
# when it goes), None = nothing here feeds it). Their counters have labelled children that are
# created on their first increment, so until then the family is declared (# TYPE) but has no
# series and the panel is empty.
EMPTY_WHEN_HEALTHY: dict[tuple[str, str, str], tuple[str, str | None]] = {
    ("fast-channels-overview.json", "Dropped messages by reason", "A"): (
        "nothing expires or overflows under a light load", "present"),
    ("fast-channels-overview.json", "Refused: channel full", "A"): (
        "no channel is at capacity under a light load", "positive"),
    ("fast-channels-overview.json", "Redis errors", "A"): ("Redis is up", "positive"),
    ("fast-channels-layer.json", "Redis errors / s", "A"): ("Redis is up", "positive"),
    ("fast-channels-layer.json", "Dropped by reason", "A"): (
        "nothing expires or overflows under a light load", "present"),
    ("fast-channels-layer.json", "Refused: channel full", "A"): (
        "no channel is at capacity under a light load", "positive"),
    ("fast-channels-layer.json", "Redis errors by op", "A"): ("Redis is up", "positive"),
    ("fast-channels-layer.json", "Redis reconnects per pod (15 min)", "A"): (
        "the layer never lost Redis", "positive"),
    ("fast-channels-overview.json", "Recoveries by outcome", "A"): (
        "no client comes back with a position under the load", "positive"),
    ("fast-channels-overview.json", "Incomplete recoveries", "A"): (
        "no client comes back with a position under the load", "positive"),
    ("fast-channels-overview.json", "Reconnect to recovered", "A"): (
        "no client comes back with a position under the load", "positive"),
    ("fast-channels-overview.json", "Reconnect to recovered", "B"): (
        "no client comes back with a position under the load", "positive"),
}  # fmt: skip

# Alert expressions that are not judged on the healthy system: latency SLOs depend on how busy
# the test machine is, and a delivery slower than 0.25 s on a loaded CI box is not a bug.
LOAD_DEPENDENT_ALERTS = {
    "FastChannelsDeliveryLatencyFastBurn",
    "FastChannelsDeliveryLatencySlowBurn",
    "FastChannelsFanoutLatencyHigh",
}


def substitute(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, expr
    return expr


def shorten(expr: str) -> str:
    short = expr
    for window, replacement in SHORT_WINDOWS.items():
        short = short.replace(window, replacement)
    assert short != expr, f"no window to shorten in {expr}"
    return short


def alert_expr(name: str) -> str:
    (rule,) = [rule for rule in alerts() if rule["alert"] == name]
    expr: str = rule["expr"]
    return expr


@dataclass(frozen=True)
class Query:
    board: str
    panel: str
    ref: str
    expr: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.board, self.panel, self.ref)


def dashboard_queries() -> list[Query]:
    return [
        Query(name, panel["title"], target["refId"], target["expr"])
        for name in BOARD_FILES
        for panel in panels(load(name))
        for target in panel["targets"]
    ]


def families(expr: str) -> set[str]:
    """The metric families an expression reads (sample-name suffixes stripped)."""
    return {re.sub(r"_(total|bucket|sum|count)$", "", s.name or "") for s in selectors(expr)} - {
        "up"
    }


# -- the running parts ------------------------------------------------------------------------


class PrometheusServer:
    def __init__(self, directory: Path, targets: list[str]) -> None:
        assert PROMETHEUS is not None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {
                "scrape_interval": "1s",
                "evaluation_interval": "1s",
                "scrape_timeout": "1s",
            },
            "rule_files": [str(RULES_FILE)],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": targets}]}],
        }
        config_file = directory / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config))
        self.log = directory / "prometheus.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={directory / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.http = httpx.AsyncClient(base_url=self.url, timeout=5)

    async def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text(errors="replace")
            with contextlib.suppress(httpx.TransportError):
                if (await self.http.get("/-/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
        raise AssertionError(f"prometheus not ready in {timeout}s:\n{self.log.read_text()}")

    async def api(self, path: str, **params: str) -> Any:
        body = (await self.http.get(f"/api/v1/{path}", params=params)).json()
        assert body["status"] == "success", (path, params, body)
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        data = await self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def wait_for(
        self,
        expr: str,
        check: Callable[[list[dict[str, Any]]], bool] = bool,
        timeout: float = WAIT,
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            result = await self.query(expr)
            if check(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout}s: {expr}\nlast result: {result}")
            await asyncio.sleep(0.5)

    async def exposed_families(self) -> set[str]:
        """Families the targets declare (# TYPE), with or without samples."""
        data = await self.api("targets/metadata", match_target=f'{{job="{JOB}"}}')
        return {re.sub(r"_(total|bucket|sum|count)$", "", item["metric"]) for item in data}

    async def stop(self) -> None:
        await self.http.aclose()
        stop_process(self.process)


def values(result: list[dict[str, Any]]) -> list[float]:
    return [float(item["value"][1]) for item in result]


def has_finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(v) for v in values(result))


def by_instance(result: list[dict[str, Any]]) -> dict[str, float]:
    return {item["metric"]["instance"]: float(item["value"][1]) for item in result}


@contextlib.asynccontextmanager
async def member(server: DemoServer, room: str, name: str) -> AsyncIterator[ClientConnection]:
    async with connect(f"{server.ws}/ws/chat/{room}?name={name}", open_timeout=5) as ws:
        async with asyncio.timeout(5):
            assert json.loads(await ws.recv())["type"] == "welcome"
            # Then the room's join answer (recovery protocol v1): a fresh member.
            assert json.loads(await ws.recv())["type"] == "fc.recovery"
        yield ws


@contextlib.asynccontextmanager
async def recovery_traffic(server: DemoServer) -> AsyncIterator[None]:
    """A client coming back with a position of a lost epoch, twice a second: each is an
    incomplete recovery (counted and timed), so the recovery panels have data."""
    stale = quote(json.dumps({"chat.e2e-recover": {"epoch": "lost", "offset": 1}}))

    async def come_back() -> None:
        while True:
            url = f"{server.ws}/ws/chat/e2e-recover?recover={stale}"
            async with connect(url, open_timeout=5) as ws:
                assert json.loads(await ws.recv())["type"] == "welcome"
                answer = json.loads(await ws.recv())
                assert (answer["type"], answer["recovered"]) == ("fc.recovery", False)
            await asyncio.sleep(0.5)

    task = asyncio.create_task(come_back())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def event_stream_traffic(reader: DemoServer, writer: DemoServer) -> AsyncIterator[None]:
    """While it is open, a room's server-sent events stream from `reader` and a broadcast
    reaches it through `writer` every 0.5 s, so the HTTP consumer panels have fresh data."""
    received: list[str] = []

    async def follow() -> None:
        async with (
            httpx.AsyncClient(timeout=5) as client,
            client.stream("GET", f"{reader.http}/api/rooms/e2e-sse/events") as stream,
        ):
            lines = stream.aiter_lines()
            assert await anext(lines) == ": joined"
            for n in itertools.count():
                url = f"{writer.http}/api/rooms/e2e-sse/broadcast"
                assert (await client.post(url, json={"message": f"sse {n}"})).status_code == 202
                async for line in lines:
                    if line.startswith("data: "):
                        received.append(json.loads(line[len("data: ") :])["message"])
                        break
                await asyncio.sleep(0.5)

    task = asyncio.create_task(follow())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert received[:2] == ["sse 0", "sse 1"], received  # in order, across processes


async def run_loadgen(servers: list[DemoServer], directory: Path) -> list[dict[str, Any]]:
    """One load generator per process, same rooms: every room has members on both."""
    processes: list[asyncio.subprocess.Process] = []
    reports = [directory / f"loadgen-{index}.json" for index in range(len(servers))]
    try:
        for server, report in zip(servers, reports, strict=True):
            command = [
                "-m", "ops.loadgen", "--url", server.ws,
                "--clients", "12", "--rooms", "3", "--rate", "40", "--duration", "6",
                "--drain", "3", "--quiet", "--json", str(report),
            ]  # fmt: skip
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, *command, cwd=ROOT, stdout=asyncio.subprocess.PIPE
                )
            )
        async with asyncio.timeout(40):
            outputs = await asyncio.gather(*(p.communicate() for p in processes))
        for process, (stdout, _) in zip(processes, outputs, strict=True):
            assert process.returncode == 0, stdout.decode()
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    return [json.loads(report.read_text()) for report in reports]


# -- the test ---------------------------------------------------------------------------------


async def test_dashboards_and_rules_on_real_scraped_data(tmp_path: Path) -> None:
    events: list[tuple[float, str]] = []  # (unix time, label) marked on the picture
    redis = RedisServer()
    servers: list[DemoServer] = []
    prometheus: PrometheusServer | None = None
    try:
        redis.start()
        servers.append(DemoServer("--redis-url", redis.url))  # a: spawns the job worker
        servers.append(DemoServer("--redis-url", redis.url, "--no-worker"))  # b
        a, b = servers
        a_instance, b_instance = (f"127.0.0.1:{s.port}" for s in servers)
        prometheus = PrometheusServer(tmp_path, [a_instance, b_instance])
        await prometheus.wait_ready()
        started = time.time()
        await prometheus.wait_for(
            f'up{{job="{JOB}"}} == 1', lambda r: len(r) == 2
        )  # both targets scraped

        # A chat message crosses processes: sent on a, received on b.
        async with member(a, "e2e-cross", "amy") as amy, member(b, "e2e-cross", "bo") as bo:
            await amy.send(json.dumps({"action": "chat", "message": "across"}))
            async with asyncio.timeout(5):
                # The room's presence list and join events come first.
                while (message := json.loads(await bo.recv()))["type"] != "chat.message":
                    pass
                assert message["message"] == "across"

        events.append((time.time(), "load"))
        async with event_stream_traffic(b, a):
            reports = await run_loadgen(servers, tmp_path)
            for report in reports:
                assert report["connected"] == 12, report
                assert report["received"] > 0, report
                assert report["lost"] == 0, report
            await asyncio.sleep(2.5)  # the last samples of the run are scraped
            await check_cross_process_deliveries(prometheus, reports, [a_instance, b_instance])
            await check_healthy(prometheus)

        await check_incomplete_recoveries(prometheus, a, events)
        await check_stalled_process(prometheus, a, b, b_instance, events)
        await check_redis_down_and_back(prometheus, redis, events)
        await check_killed_process(prometheus, b, a_instance, b_instance, events)
        await check_empty_panels_filled_by_breakage(prometheus)

        await check_render_overview(prometheus, tmp_path, time.time() - started, events)
        await check_nothing_scraped(prometheus, a)
    finally:
        for server in servers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.process.pid, signal.SIGCONT)
            server.stop()
        if prometheus is not None:
            await prometheus.stop()
        redis.cleanup()


async def check_cross_process_deliveries(
    prometheus: PrometheusServer, reports: list[dict[str, Any]], instances: list[str]
) -> None:
    """Each process sent its own run's messages to its own members (what its load generator
    counts as expected) AND the other run's messages to them, which only Redis can bring: so
    every process sends clearly more frames than its own load generator expected."""
    out = by_instance(
        await prometheus.query(
            'sum by (instance) (fast_channels_websocket_messages_total{direction="out"})'
        )
    )
    for instance, report in zip(instances, reports, strict=True):
        assert out[instance] > 1.5 * report["expected"], (instance, out, report)


async def check_healthy(prometheus: PrometheusServer) -> None:
    exposed = await prometheus.exposed_families()
    no_data: list[Query] = []
    for query in dashboard_queries():
        result = await prometheus.query(substitute(query.expr))
        if query.key in EMPTY_WHEN_HEALTHY:
            # Empty is fine, but the query must read families the targets really expose.
            missing = families(substitute(query.expr)) - exposed
            assert not missing, (query, missing)
        elif not has_finite(result):
            no_data.append(query)
    assert not no_data, "panels without data:\n" + "\n".join(map(str, no_data))
    unused = set(EMPTY_WHEN_HEALTHY) - {q.key for q in dashboard_queries()}
    assert not unused, f"EMPTY_WHEN_HEALTHY names panels that do not exist: {unused}"

    for rule in load_rules():
        if "record" not in rule:
            continue
        assert has_finite(await prometheus.query(rule["expr"])), rule["record"]
        # Prometheus itself evaluated and stored the rule.
        await prometheus.wait_for(rule["record"], has_finite, timeout=5)

    for rule in alerts():
        if rule["alert"] in LOAD_DEPENDENT_ALERTS:
            continue
        for expr in {rule["expr"], shorten_if_windowed(rule["expr"])}:
            assert await prometheus.query(expr) == [], (rule["alert"], expr)


def shorten_if_windowed(expr: str) -> str:
    return shorten(expr) if any(window in expr for window in SHORT_WINDOWS) else expr


async def check_stalled_process(
    prometheus: PrometheusServer,
    a: DemoServer,
    b: DemoServer,
    b_instance: str,
    events: list[tuple[float, str]],
) -> None:
    """SIGSTOP b: it is not scraped (target down), and the group_sends a makes into a room with
    a member on b fill that member's channel in Redis (capacity 100), which a counts."""
    channel_full = shorten(alert_expr("FastChannelsChannelFull"))
    assert await prometheus.query(channel_full) == []
    async with member(b, "e2e-stall", "stuck"), member(a, "e2e-stall", "flood") as flood:
        os.kill(b.process.pid, signal.SIGSTOP)
        events.append((time.time(), "b stopped, room flooded"))
        try:
            # A chatty room: 50 messages/s until the alert expression is true. (A single burst
            # would not do: the channel_full counter is born at its first burst's value, and
            # rate() only sees increases between scrapes.)
            tasks = [asyncio.create_task(_read_forever(flood)), asyncio.create_task(_flood(flood))]
            try:
                down = await prometheus.wait_for(alert_expr("FastChannelsTargetDown"))
                assert [item["metric"]["instance"] for item in down] == [b_instance]
                full = await prometheus.wait_for(channel_full)
                assert full[0]["metric"]["op"] == "group_send", full
                assert values(full)[0] > 0.1, full
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            os.kill(b.process.pid, signal.SIGCONT)
            events.append((time.time(), "b continued"))
    await prometheus.wait_for(f'up{{instance="{b_instance}"}} == 1')
    assert await prometheus.query(alert_expr("FastChannelsTargetDown")) == []


async def _flood(ws: ClientConnection) -> None:
    for n in range(5000):
        await ws.send(json.dumps({"action": "chat", "message": f"flood {n}"}))
        await asyncio.sleep(0.02)


async def _read_forever(ws: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        async for _ in ws:
            pass


async def check_redis_down_and_back(
    prometheus: PrometheusServer, redis: RedisServer, events: list[tuple[float, str]]
) -> None:
    """Redis gone: the receive loops of both processes fail, back off, retry and count it."""
    redis_errors = shorten(alert_expr("FastChannelsRedisErrors"))
    assert await prometheus.query(redis_errors) == []
    redis.stop()
    events.append((time.time(), "Redis down"))
    firing = await prometheus.wait_for(redis_errors)
    assert values(firing)[0] > 0.1, firing
    await asyncio.sleep(3)  # a few more scrapes, so the outage is visible in the picture
    # Both processes' receive loops count their failures; where the layer reads its Redis
    # backlog on every /metrics scrape, each failed read counts as op="backlog" too.
    ops = await prometheus.query("sum by (instance, op) (fast_channels_layer_redis_errors_total)")
    if "refresh_backlog" in vars(RedisChannelLayer):
        assert {"backlog", "receive"} <= {item["metric"]["op"] for item in ops}, ops
    assert (
        len({item["metric"]["instance"] for item in ops if item["metric"]["op"] == "receive"}) == 2
    ), ops
    # Back: both receive loops reconnect (and count it).
    redis.start()
    events.append((time.time(), "Redis back"))
    await prometheus.wait_for(
        'sum by (instance) (fast_channels_layer_reconnects_total{op="receive"}) >= 1',
        lambda r: len(r) == 2,
    )


async def check_incomplete_recoveries(
    prometheus: PrometheusServer, a: DemoServer, events: list[tuple[float, str]]
) -> None:
    """Clients come back with positions of a lost epoch (as after Redis restarted empty):
    every recovery is incomplete, and the alert's expression (windows shortened) holds."""
    events.append((time.time(), "recoveries incomplete"))
    async with recovery_traffic(a):
        rising = await prometheus.wait_for(shorten(alert_expr("FastChannelsRecoveriesIncomplete")))
    assert values(rising) == [1.0], rising  # all of them incomplete


async def check_killed_process(
    prometheus: PrometheusServer,
    b: DemoServer,
    a_instance: str,
    b_instance: str,
    events: list[tuple[float, str]],
) -> None:
    b.process.kill()
    events.append((time.time(), "b killed"))
    b.process.wait(timeout=10)
    down = await prometheus.wait_for(alert_expr("FastChannelsTargetDown"))
    assert [item["metric"]["instance"] for item in down] == [b_instance]
    assert by_instance(await prometheus.query(f'up{{job="{JOB}"}}')) == {
        a_instance: 1.0,
        b_instance: 0.0,
    }
    # a is still up, so "no metrics at all" must stay quiet.
    assert await prometheus.query(alert_expr("FastChannelsMetricsAbsent")) == []


async def check_nothing_scraped(prometheus: PrometheusServer, a: DemoServer) -> None:
    """The last process gone too: "no fast_channels metrics at all" becomes true."""
    a.process.kill()
    a.process.wait(timeout=10)
    absent = await prometheus.wait_for(alert_expr("FastChannelsMetricsAbsent"))
    assert values(absent) == [1.0], absent


async def check_empty_panels_filled_by_breakage(prometheus: PrometheusServer) -> None:
    """The panels that were empty when healthy and that the breakages feed now show data
    (over a window long enough to hold the whole breakage sequence)."""
    still_empty = []
    for query in dashboard_queries():
        _, expected = EMPTY_WHEN_HEALTHY.get(query.key, ("", None))
        if expected is None:
            continue
        found = values(await prometheus.query(substitute(query.expr.replace(RATE, "3m"))))
        if not any(math.isfinite(v) and (v > 0 or expected == "present") for v in found):
            still_empty.append((query, expected, found))
    assert not still_empty, "\n".join(map(str, still_empty))


async def check_render_overview(
    prometheus: PrometheusServer, tmp: Path, elapsed: float, events: list[tuple[float, str]]
) -> None:
    if os.environ.get("FAST_CHANNELS_WRITE_OVERVIEW_PNG") == "1":
        out = ROOT / "docs" / "overview.png"
    else:
        out = tmp / "overview.png"
    out.unlink(missing_ok=True)
    # The whole run; layer "default" is the demo's layer (as the board's layer variable would).
    minutes = f"{(elapsed + 1) / 60:.2f}"
    argv = ["--prometheus", prometheus.url, "--minutes", minutes, "--rate-interval", "5s"]
    argv += ["--layer", "default"]
    argv += [f"--event={at}={label}" for at, label in events]
    argv += ["--out", str(out), "--title", "fast_channels overview (2 processes, Redis layer)"]
    rc = await asyncio.to_thread(render_overview.main, argv)
    assert rc == 0
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert 30_000 < len(data) < 300_000, len(data)


def test_the_test_covers_both_boards() -> None:
    assert {q.board for q in dashboard_queries()} == set(BOARD_FILES)
    assert (DASHBOARDS_DIR / "fast-channels-overview.json").exists()
    # Every panel of the rendered picture is a panel of the overview board.
    titles = {p["title"] for p in panels(load("fast-channels-overview.json"))}
    assert set(render_overview.KEY_PANELS) <= titles
