"""The table's target checks: ratios to ceilings measured beside each run, round by round."""

from __future__ import annotations

from typing import Any

import pytest

from ops.bench import plan, report


def _runs(*rates: float, **extra: Any) -> dict[str, Any]:
    return {"runs": [{"rate": r, "lost": 0, "expected": 1, "delivered": 1, **extra} for r in rates]}


def _results(**impls: dict[str, Any]) -> dict[str, Any]:
    return {"scenarios": {"e2e_N1000": {"impls": impls}}}


def test_the_bare_ratio_is_the_median_of_the_rounds_own_ratios() -> None:
    # Round by round 0.6, 0.3 and 0.55: median 0.55. The medians of all rounds would give
    # 11/20 = 0.55 too, so the next test tells the two apart.
    results = _results(bare=_runs(10, 40, 20), **{"ours-memory": _runs(6, 12, 11)})
    assert report.paired_ratio(results, "e2e_N1000", "ours-memory", "bare") == 0.55


def test_a_drifting_machine_is_compared_round_by_round() -> None:
    # The machine halves its speed after round 1. Round by round, ours is at 0.525x, 0.55x
    # and 0.52x of bare: median 0.525x. The medians of all rounds (11 against 20) say 0.55x.
    results = _results(bare=_runs(40, 20, 20), **{"ours-pubsub": _runs(21, 11, 10.4)})
    assert report.paired_ratio(results, "e2e_N1000", "ours-pubsub", "bare") == 0.525
    ours = report.summarize(results["scenarios"]["e2e_N1000"]["impls"]["ours-pubsub"])
    assert ours is not None
    paired = report._paired(results, "e2e_N1000", "ours-pubsub", ours)
    cell = report.target(
        "e2e_N1000", "ours-pubsub", "rate", ours["rate"], {}, {"e2e_bare_rate": 20}, paired
    )
    assert cell == (
        "e2e_bare_rate round by round >= 0.7x ❌ (0.53x; 0.55x of the median bare rate)"
    )


def test_rounds_that_do_not_pair_up_fall_back_to_the_medians() -> None:
    # A server that failed a round has fewer runs: no pairs, the plain ratio is checked.
    results = _results(bare=_runs(40, 20, 20), **{"ours-queue": _runs(12, 11)})
    assert report.paired_ratio(results, "e2e_N1000", "ours-queue", "bare") is None
    cell = report.target(
        "e2e_N1000", "ours-queue", "rate", 9.0, {}, {"e2e_bare_rate": 20},
        report._paired(results, "e2e_N1000", "ours-queue", {"rate": 9.0}),
    )  # fmt: skip
    assert cell == "e2e_bare_rate >= 0.7x ❌"


def test_point_to_point_is_held_to_the_ceiling_measured_just_before_it() -> None:
    # The ceilings scenario measured 10,000/s minutes earlier; beside each run, 7,000-8,000.
    runs = _runs(6_400, 6_600, 6_000)
    for run, ceiling in zip(runs["runs"], (8_000, 7_500, 7_000), strict=True):
        run.update(
            ceiling="lpush_awaited", ceiling_rate=ceiling, ceiling_ratio=run["rate"] / ceiling
        )
    results = {"scenarios": {"p2p": {"impls": {"ours-queue": runs}}}}
    ours = report.summarize(runs)
    assert ours is not None
    cell = report.target(
        "p2p", "ours-queue", "rate", ours["rate"], {"fc": 7.0}, {"lpush_awaited": 10_000},
        report._paired(results, "p2p", "ours-queue", ours),
    )  # fmt: skip
    # Ratios 0.8, 0.88, 0.857: the median is 0.857, checked; 6,400/10,000 is shown beside it.
    assert "lpush_awaited beside each run >= 0.8x ✅ (0.86x; 0.64x of the ceilings table)" in cell
    assert "fc >= 5x ✅" in cell


def test_the_full_plan_pairs_five_end_to_end_rounds() -> None:
    by_id = {scenario.id: scenario for scenario in plan.scenarios(quick=False)}
    assert by_id["e2e_N1000"].params["repeat"] == 5
    assert plan.BARE in by_id["e2e_N1000"].impls


@pytest.mark.parametrize(
    ("ours", "shown"), [(62.0, "bare +2.0 KB <= +5 ✅"), (35.0, "bare -25.0 KB")]
)
def test_idle_memory_is_shown_as_a_signed_difference_to_bare(ours: float, shown: str) -> None:
    cell = report.target(
        "memory_idle", "ours-memory", "kb_per_connection", ours, {}, {"bare_kb_per_connection": 60}
    )
    assert shown in cell
