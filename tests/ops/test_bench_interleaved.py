"""Compared benchmark runs are interleaved: round r runs every implementation once, so ours,
the peers and the bare ceiling are measured side by side in time (real Redis, real uvicorn
servers and clients)."""

from __future__ import annotations

from typing import Any

import pytest

from ops.bench import harness, plan


def _two_rounds(
    scenario: plan.Scenario, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], list[str]]:
    """Run `scenario` (2 rounds) interleaved: each implementation's results and the order
    the harness ran them in, as it logged it."""
    assert scenario.interleaved
    redis = harness.RedisServer()
    try:
        results = harness.run_interleaved(scenario.impls, scenario, redis)
    finally:
        redis.stop()
    for impl in scenario.impls:
        assert len(results[impl.name]["runs"]) == 2, results[impl.name]
    logged = capsys.readouterr().err.splitlines()
    return results, [line.split("] ")[1] for line in logged if "round" in line]


def test_every_implementation_runs_once_per_round_and_keeps_all_its_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario = plan.Scenario(
        "e2e_tiny",
        "e2e",
        [plan.BARE, plan.OURS_MEMORY],
        {"clients": 20, "messages": 3, "timeout": 5.0, "repeat": 2},
        ["rate"],
    )
    results, order = _two_rounds(scenario, capsys)
    for name in ("bare", "ours-memory"):
        runs = results[name]["runs"]
        assert all(run["lost"] == 0 and run["delivered"] == 21 * 3 for run in runs)
        assert all(run["server_cpu_us"] >= 0 for run in runs)  # the server's CPU, measured
    assert order == [
        "bare (round 1 of 2)",
        "ours-memory (round 1 of 2)",
        "bare (round 2 of 2)",
        "ours-memory (round 2 of 2)",
    ]


def test_compared_scenarios_interleave_and_the_others_run_once_per_implementation() -> None:
    by_id = {scenario.id: scenario for scenario in plan.scenarios(quick=False)}
    for compared in ("e2e_N1000", "p2p", "pingpong", "fanout_G1000", "many_groups"):
        assert by_id[compared].interleaved, compared
    for once in ("ceilings", "commands_G1000_x1", "memory_idle"):
        assert not by_id[once].interleaved, once


def test_a_layer_scenario_interleaves_its_implementations_round_by_round(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario = plan.Scenario(
        "p2p_tiny",
        "p2p",
        [plan.OURS_QUEUE, plan.OURS_PUBSUB],
        {"messages": 200, "timeout": 5.0, "repeat": 2},
        ["rate"],
    )
    results, order = _two_rounds(scenario, capsys)
    for name in ("ours-queue", "ours-pubsub"):
        runs = results[name]["runs"]
        assert all(run["lost"] == 0 and run["delivered"] == 200 for run in runs)
        assert all(run["ceiling_rate"] > 0 for run in runs)  # measured around each run
    assert order == [
        "ours-queue (round 1 of 2)",
        "ours-pubsub (round 1 of 2)",
        "ours-queue (round 2 of 2)",
        "ours-pubsub (round 2 of 2)",
    ]
