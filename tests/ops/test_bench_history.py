"""Ours with recovery history on, in the benchmarks (issue 22: "a group with recovery history
on >= 0.6x bare Starlette"): the e2e server's clients get frames with "_pos" and the harness
counts every one; consumer_path --history measures that path; the report holds them to 0.6x."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ops.bench import harness, plan, report, report_servers
from tests.ops.test_bench_socketio import clients, serving, until
from tests.support.redis_server import RedisServer, free_port

REPO = Path(__file__).resolve().parents[2]
WORKER = plan.HERE / "worker"


@pytest.mark.parametrize("kind", ["memory", "queue", "pubsub"])
async def test_the_history_server_s_clients_get_their_answer_then_positioned_frames(
    kind: str, redis_server: RedisServer
) -> None:
    port = free_port()
    argv = [sys.executable, str(WORKER / "server.py"), "ours", kind, str(port), redis_server.url]
    async with serving(argv, port, {"BENCH_GROUP_HISTORY": "10:60", "PYTHONPATH": str(REPO)}):
        sockets, inboxes = await clients(port, "/ws", 3, engineio=False)
        await until(lambda: all(inboxes))
        assert [inbox[0]["type"] for inbox in inboxes] == ["fc.recovery"] * 3
        for seq in range(2):
            # 300 bytes: a 16-bit length on the wire, read by the client's fast path.
            sockets[0].send({"seq": seq, "pad": "x" * 300})
        await until(lambda: all(len(inbox) >= 3 for inbox in inboxes))
        for answer, *frames in inboxes:  # the group's history may hold earlier tests' sends
            assert [frame["seq"] for frame in frames] == [0, 1]
            positions = [(f["_pos"]["epoch"], f["_pos"]["offset"]) for f in frames]
            epoch, offset = answer["epoch"], answer["offset"]
            assert positions == [(epoch, offset + 1), (epoch, offset + 2)]
        for socket in sockets:
            await socket.close()


def test_the_harness_counts_every_positioned_frame() -> None:
    scenario = plan.Scenario(
        "e2e_history_tiny",
        "e2e",
        plan.OURS_HISTORY,
        {"clients": 20, "messages": 3, "timeout": 5.0, "repeat": 1},
        ["rate"],
    )
    redis = harness.RedisServer()
    try:
        rows = harness.run_interleaved(plan.OURS_HISTORY, scenario, redis)
    finally:
        redis.stop()
    for impl in plan.OURS_HISTORY:
        (run,) = rows[impl.name]["runs"]
        assert run["delivered"] == run["expected"] == 21 * 3, impl.name
        assert run["lost"] == run["duplicates"] == 0
        assert run["errors"] == {}


def test_consumer_path_with_history_prints_a_figure() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops.bench.consumer_path", "--history",
         "--consumers", "50", "--broadcasts", "20"],
        cwd=REPO, capture_output=True, text=True, timeout=100, check=True,
    )  # fmt: skip
    found = re.search(r"^memory: ([\d.]+) us of CPU per delivery.*history 100:600\)$", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) > 0


def test_the_full_plan_runs_the_history_variants_beside_bare() -> None:
    by_id = {scenario.id: scenario for scenario in plan.scenarios(quick=False)}
    names = [impl.name for impl in by_id["e2e_N1000"].impls]
    assert {"bare", "ours-memory-history", "ours-queue-history", "ours-pubsub-history"} <= set(
        names
    )
    assert all(impl.env["BENCH_GROUP_HISTORY"] == "100:600" for impl in plan.OURS_HISTORY)


def _runs(*rates: float) -> dict[str, Any]:
    return {
        "runs": [
            {"rate": rate, "p50_ms": 1.0, "p99_ms": 2.0, "lost": 0, "sent": 10, "expected": 10,
             "delivered": 10, "server_cpu_us": 10.0, "client_cpu_us": 4.0}
            for rate in rates
        ]
    }  # fmt: skip


def test_a_history_variant_is_held_to_0_6x_of_bare_round_by_round() -> None:
    results: dict[str, Any] = {
        "scenarios": {
            "e2e_N1000": {
                "params": {"clients": 1000, "repeat": 3},
                "impls": {
                    "bare": _runs(100, 50, 200),
                    "ours-memory": _runs(70, 35, 140),
                    "ours-memory-history": _runs(55, 30, 100),
                },
            }
        }
    }
    impls = [plan.BARE, plan.OURS_MEMORY, *plan.OURS_HISTORY]
    scenario = plan.Scenario("e2e_N1000", "e2e", impls, {}, ["rate"])
    rows = {row[1]: row for row in report.main_rows(results, [scenario])}
    cell = rows["memory-history"][8]
    # Rounds 0.55, 0.6, 0.5: the median 0.55 misses the 0.6x target.
    assert cell.startswith("e2e_bare_rate round by round >= 0.6x ❌ (0.55x"), cell
    assert "0.85x" not in cell  # the in-memory layer's goal is not the history variant's
    # Ours without history, 0.7x round by round: below the in-memory goal of 0.85x.
    assert rows["memory"][8].startswith("e2e_bare_rate round by round >= 0.85x ❌ (0.70x")
    text = "\n".join(report_servers.servers_section(results))
    assert "| fast-channels (this tree), in memory, recovery history on § | 55.0 | 0.55x" in text
